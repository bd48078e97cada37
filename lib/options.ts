import { availableParallelism } from 'node:os';
import type { MessagePort, ResourceLimits } from 'node:worker_threads';

/** Options of `createRunner()`. Unknown keys are rejected (they are usually typos). */
export interface RunnerOptions {
  /**
   * The task module: a `file:` URL or a path (relative paths resolve from
   * the current working directory). Its exported functions are the tasks.
   * It must be JavaScript that Node can import in a worker thread.
   */
  tasks: URL | string;
  /**
   * Threads kept alive even when idle. Integer from 0 to `maxThreads`.
   * @default max(1, floor(availableParallelism() / 2)), capped at `maxThreads`
   */
  minThreads?: number;
  /**
   * Most threads running jobs at once. Integer, at least 1.
   * @default os.availableParallelism()
   */
  maxThreads?: number;
  /**
   * Milliseconds an idle thread above `minThreads` lives before it is
   * stopped. Integer, 0 or more.
   * @default 0
   */
  idleTimeout?: number;
  /**
   * Most jobs that may wait on the table. A full table makes `submit()`
   * wait for room and makes `trySubmit()` throw `BAOZI_TABLE_FULL`.
   * Running jobs are not on the table: they are bounded by
   * `maxThreads × concurrentTasksPerWorker`. Integer, at least 1.
   * @default 1024
   */
  capacity?: number;
  /**
   * Jobs one thread runs at once. Above 1 only helps tasks that await I/O;
   * CPU-bound tasks want 1. Integer, at least 1.
   * @default 1
   */
  concurrentTasksPerWorker?: number;
  /**
   * Heap and stack limits of each thread (Node's `ResourceLimits`, in MB).
   * A job that exceeds them fails with `BAOZI_WORKER_CRASHED` (reason
   * `oom`) and its thread is replaced.
   * @default Node's defaults
   */
  resourceLimits?: ResourceLimits;
  /**
   * `process.env` inside the threads.
   * @default a copy of the main thread's `process.env`
   */
  env?: Record<string, string>;
  /**
   * Any structured-cloneable value, readable in tasks as `workerData` from
   * `node:worker_threads`.
   * @default undefined
   */
  workerData?: unknown;
  /**
   * Milliseconds a cancelled running job gets to stop on its own after its
   * in-thread `signal` fires, before its thread is terminated. Applies to
   * jobs submitted with a `signal`; others are terminated at once.
   * Integer, 0 or more.
   * @default 1000
   */
  cancelGraceMs?: number;
}

/** Options of one job: `submit(name, args, options)`. */
export interface SubmitOptions {
  /**
   * Cancels the job: withdraws a producer still waiting for room, removes
   * a queued job, or stops a running one (its in-thread signal fires, then
   * its thread is terminated after `cancelGraceMs`). The job settles as
   * `cancelled` with `BAOZI_CANCELLED`, the abort reason as `cause`.
   */
  signal?: AbortSignal;
  /**
   * ArrayBuffers (or MessagePorts) in the arguments to move to the thread
   * instead of copying. They are detached in the caller once the job starts.
   */
  transferList?: readonly (ArrayBuffer | MessagePort)[];
  /**
   * Higher runs first; equal priorities run first in, first out. Integer
   * from -1000 to 1000.
   * @default 0
   */
  priority?: number;
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * `true`: stop accepting, let every queued and running job finish, then
   * stop the threads. `false`: cancel queued jobs and stop running ones now.
   * Either way, producers still waiting for room get `BAOZI_RUNNER_CLOSED`.
   * @default true
   */
  drain?: boolean;
}

export const PRIORITY_RANGE = { min: -1000, max: 1000 } as const;

const parallelism = availableParallelism();

/** Every default, in one place. */
export const DEFAULTS = Object.freeze({
  minThreads: Math.max(1, Math.floor(parallelism / 2)),
  maxThreads: parallelism,
  idleTimeout: 0,
  capacity: 1024,
  concurrentTasksPerWorker: 1,
  cancelGraceMs: 1000,
  priority: 0,
  drain: true,
});
