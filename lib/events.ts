import type { JobHandle } from './job.js';

/**
 * Every event a runner emits (eventemitter3: `runner.on(name, listener)`).
 * Job events are named by the state the job enters and carry one payload
 * object, so fields can be added later. A failure always reaches the job's
 * promise too: events only report it.
 */
export interface RunnerEvents {
  /** A job was put on the table. */
  queued: (event: { job: JobHandle }) => void;
  /** A job left the table and started on a thread. */
  running: (event: { job: JobHandle }) => void;
  /** A job's task returned. */
  succeeded: (event: { job: JobHandle; result: unknown }) => void;
  /** A job failed: its task threw, its thread died, or its data could not be copied. */
  failed: (event: { job: JobHandle; error: unknown }) => void;
  /** A job was cancelled (by its signal, `cancel()` or `close({ drain: false })`). */
  cancelled: (event: { job: JobHandle; reason: unknown }) => void;
  /** The table just became full: producers now wait. */
  full: () => void;
  /** The table has room again after being full. */
  drained: () => void;
  /** Nothing is queued, running or waiting for room. */
  idle: () => void;
  /** `close()` finished: every thread is stopped. */
  closed: () => void;
  /**
   * A thread failed outside any job (for example while starting). Reported
   * here instead of as an `'error'` event, which would crash a process that
   * does not listen for it.
   */
  workerError: (event: { error: unknown }) => void;
}
