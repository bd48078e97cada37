/**
 * How each contender is built. Both pools get the same thread counts and
 * the same `atomics` mode baozi uses internally (lib/pool.ts), so the only
 * difference left is what baozi does around each job.
 */
import { createRunner, type Runner, type RunnerOptions } from 'baozi';
import { Piscina } from 'piscina';
import { DEFAULTS } from '../lib/options.js';
import type { PiscinaJob } from './piscina-entry.js';

/** baozi's task module: the plain tasks and the progress tasks. */
export type BenchTasks = typeof import('./tasks.js');
/** What bare piscina runs. */
export type PlainTasks = typeof import('./plain-tasks.js');

export const THREADS = 2;
/** What lib/pool.ts passes to Piscina. Keep in step with it. */
export const BAOZI_ATOMICS = 'async' as const;
export type AtomicsMode = 'sync' | 'async' | 'disabled';

export const TASKS_URL = new URL('./tasks.js', import.meta.url);
export const PISCINA_ENTRY_URL = new URL('./piscina-entry.js', import.meta.url);

export type Batching = NonNullable<RunnerOptions['batching']>;
/** The runner's default `batching`, read from lib/options.ts: what `createBaozi()` without `batching` gets. */
export const BAOZI_BATCHING: Batching = DEFAULTS.batching;

export type Prefetch = NonNullable<RunnerOptions['prefetch']>;

/** A runner on the bench's task module. `batching` and `prefetch` default to the runner's own defaults, `'auto'`. */
export function createBaozi(capacity = 1024, batching?: Batching, prefetch?: Prefetch): Runner<BenchTasks> {
  return createRunner<BenchTasks>({ tasks: TASKS_URL, minThreads: THREADS, maxThreads: THREADS, capacity, ...(batching && { batching }), ...(prefetch && { prefetch }) });
}

export function createPiscina(atomics: AtomicsMode = BAOZI_ATOMICS): Piscina {
  return new Piscina({ filename: PISCINA_ENTRY_URL.href, minThreads: THREADS, maxThreads: THREADS, atomics });
}

/** Runs one job on bare piscina, in the `{ name, args }` shape its entry expects. */
export function runOnPiscina<Name extends PiscinaJob['name']>(
  pool: Piscina,
  name: Name,
  args: Parameters<PlainTasks[Name]>,
): Promise<ReturnType<PlainTasks[Name]>> {
  return pool.run({ name, args } satisfies PiscinaJob) as Promise<ReturnType<PlainTasks[Name]>>;
}

/** The main-thread contender: the same function, called directly, behind a promise like the others. */
export async function runOnMain<Args extends unknown[], Result>(task: (...args: Args) => Result, ...args: Args): Promise<Result> {
  return task(...args);
}
