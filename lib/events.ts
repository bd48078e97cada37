import type { FailedJobError, RunError } from './errors.js';
import type { JobHandle } from './job/job.js';

/**
 * Every event a runner emits (eventemitter3: `runner.on(name, listener)`).
 * Job events are named by the state the job enters and carry one payload
 * object, so fields can be added later. A failure always reaches the job's
 * promise too: events only report it.
 */
export interface RunnerEvents {
  /** A job with a `delay`/`runAt` was accepted; it enters the table at `runAt`. */
  scheduled: (event: { job: JobHandle; runAt: Date }) => void;
  /** A job was put on the table (also again, after a delay or a retry backoff). */
  queued: (event: { job: JobHandle }) => void;
  /** A job left the table and started on a thread. */
  running: (event: { job: JobHandle }) => void;
  /** A running job reported progress (only sent while someone listens, or for jobs with `onProgress`). */
  progress: (event: { job: JobHandle; value: unknown }) => void;
  /** A run failed and the job will run again after `delay` ms (its `attempt` already counts the next run). */
  retrying: (event: { job: JobHandle; error: RunError; delay: number }) => void;
  /** A job's task returned. */
  succeeded: (event: { job: JobHandle; result: unknown }) => void;
  /** A job failed: its task threw, its thread died, or its data could not be copied. */
  failed: (event: { job: JobHandle; error: FailedJobError }) => void;
  /** A job was cancelled (by its signal, `cancel()` or `close()`). */
  cancelled: (event: { job: JobHandle; reason: unknown }) => void;
  /** A job reached its `expiresAt` before it could start; it did not run. */
  expired: (event: { job: JobHandle }) => void;
  /** The table just became full: producers now wait. */
  full: () => void;
  /** The table has room again after being full. */
  drained: () => void;
  /** No job is live and nothing waits for room. */
  idle: () => void;
  /**
   * The runner opened a journal that a dead process left with `count` jobs
   * unsettled: they are queued again (each with its id, attempt, priority,
   * remaining delay and expiry) as room frees on the table, and run at
   * least once more. Emitted once, a tick after `createRunner()`.
   */
  recovered: (event: { count: number }) => void;
  /** `close()` finished: every thread is stopped. */
  closed: () => void;
  /**
   * A thread failed outside any job (for example while starting: then the
   * error is a `TaskLoadError`, and `health()` counts it). Reported
   * here instead of as an `'error'` event, which would crash a process that
   * does not listen for it.
   */
  workerError: (event: { error: unknown }) => void;
  /**
   * A connection to a shared broker (Redis, under BullMQ) failed: it is
   * down or restarting, and BullMQ reconnects by itself. Reported here,
   * never as `'error'`; a job it costs rejects on its own promise.
   */
  brokerError: (event: { error: unknown }) => void;
  /**
   * A thread that reached `maxJobsPerWorker` (`reason: 'jobs'`) or
   * `maxHeapPerWorkerMb` (`'heap'`) finished its run and exited; a fresh one
   * takes its place.
   */
  workerRecycled: (event: { threadId: number; reason: 'jobs' | 'heap' }) => void;
}
