/**
 * How each contender is built. Both pools get the same thread counts and
 * the same `atomics` mode baozi uses internally (lib/pool.ts), so the only
 * difference left is what baozi does around each job.
 */
import { createRunner, type Runner } from 'baozi';
import { Piscina } from 'piscina';
import type { PiscinaJob } from './piscina-entry.js';

export type BenchTasks = typeof import('./tasks.js');

export const THREADS = 2;
/** What lib/pool.ts passes to Piscina. Keep in step with it. */
export const BAOZI_ATOMICS = 'async' as const;
export type AtomicsMode = 'sync' | 'async' | 'disabled';

export const TASKS_URL = new URL('./tasks.js', import.meta.url);
export const PISCINA_ENTRY_URL = new URL('./piscina-entry.js', import.meta.url);

export function createBaozi(capacity = 1024): Runner<BenchTasks> {
  return createRunner<BenchTasks>({ tasks: TASKS_URL, minThreads: THREADS, maxThreads: THREADS, capacity });
}

export function createPiscina(atomics: AtomicsMode = BAOZI_ATOMICS): Piscina {
  return new Piscina({ filename: PISCINA_ENTRY_URL.href, minThreads: THREADS, maxThreads: THREADS, atomics });
}

/** Runs one job on bare piscina, in the `{ name, args }` shape its entry expects. */
export function runOnPiscina<Name extends PiscinaJob['name']>(
  pool: Piscina,
  name: Name,
  args: Parameters<BenchTasks[Name]>,
): Promise<ReturnType<BenchTasks[Name]>> {
  return pool.run({ name, args } satisfies PiscinaJob) as Promise<ReturnType<BenchTasks[Name]>>;
}

/** The main-thread contender: the same function, called directly, behind a promise like the others. */
export async function runOnMain<Args extends unknown[], Result>(task: (...args: Args) => Result, ...args: Args): Promise<Result> {
  return task(...args);
}
