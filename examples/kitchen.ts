/**
 * The task module of the examples: CPU-heavy work that runs on the pool's
 * threads. Plain functions, testable without baozi.
 */
import { createHash } from 'node:crypto';
import { reportProgress } from 'baozi/worker';

/** Eats one bun: `rounds` rounds of SHA-256, a few milliseconds of real CPU work. */
export function eat(bun: number, rounds: number): string {
  if (rounds < 0) throw new RangeError(`bun ${bun} is burnt`);
  let digest = Buffer.from(`bun ${bun}`);
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest();
  return digest.toString('hex').slice(0, 12);
}

/** The n-th Fibonacci number, computed the slow way on purpose. */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/**
 * Steams a basket of `buns` buns, reporting progress after each one
 * (`reportProgress` from `baozi/worker`), and says which process steamed
 * it: over a shared broker, any consumer may.
 */
export function steamBasket(basket: number, buns: number, rounds: number): { basket: number; pid: number } {
  for (let bun = 1; bun <= buns; bun++) {
    eat(basket * 1000 + bun, rounds);
    reportProgress(Math.round((bun / buns) * 100));
  }
  return { basket, pid: process.pid };
}
