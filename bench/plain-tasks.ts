/**
 * The plain tasks every contender runs: baozi through `tasks.ts` (which
 * re-exports them), bare piscina through `piscina-entry.ts`, and the
 * main-thread contender directly. Plain functions, nothing baozi-specific,
 * so bare piscina's threads load nothing of baozi.
 */

/** The tiny job: almost no work, so what is measured is the cost of a job. */
export function add(a: number, b: number): number {
  return a + b;
}

/**
 * Holds its thread for `ms` of wall-clock time without yielding, then
 * returns how long it really ran (ms), measured inside the thread. Both
 * contenders measure their in-thread task time with this same clock.
 */
export function cpu(ms: number): number {
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) elapsed = performance.now() - started;
  return elapsed;
}

/**
 * A fixed amount of work (not of time): `rounds` of integer mixing. Unlike
 * `cpu(ms)`, it takes longer when its thread shares a core, so a pool with
 * more threads than cores gains nothing by it.
 */
export function work(rounds: number): number {
  let x = 1;
  for (let i = 0; i < rounds; i++) x = (Math.imul(x, 1_103_515_245) + 12_345) | 0;
  return x;
}
