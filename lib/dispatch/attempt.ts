import type { MessagePort, Worker } from 'node:worker_threads';
import { type Job } from '../job/job.js';
import type { Placement } from '../pool/pool.js';
import { clearLongTimeout, type Timer } from '../../workers/long-timer.js';

/**
 * One run on a thread (see `RunMessage`: one job, a transparent batch, or
 * a `map` chunk, which is one job): its stop switch and the timers and
 * channel that belong to that run only. Also the `signal` handed to
 * Piscina (which accepts any object with `aborted`, `once` and
 * `removeListener`): cheaper than an AbortController per job, and aborting
 * it makes Piscina terminate the run's thread.
 */
export class Attempt implements Placement {
  aborted = false;
  reason: unknown;
  /** Cooperative stop and progress channel; only for jobs that need one. */
  control: MessagePort | undefined;
  hardTimer: Timer | undefined;
  softTimer: Timer | undefined;
  /** Terminates the thread of a cancelled run that did not stop in time. */
  graceTimer: Timer | undefined;
  /** Sent with itself as its stop signal (aborting it terminates its thread), or its thread is being terminated. Otherwise aborting does nothing. */
  isStoppable = false;
  /** Sent past the slots, to wait in a busy thread (a prefetch). */
  mayWait = false;
  /** The thread the pool placed it on. */
  thread: Worker | undefined;
  /** The soft time limit passed: an error thrown after it is a soft timeout. */
  isPastSoftLimit = false;
  private listener: (() => void) | undefined;

  /** The first of `jobs`: a run's jobs share its task. */
  readonly job: Job;

  /** The run's jobs, in order: one, or several tiny ones of one task (a transparent batch). */
  constructor(readonly jobs: readonly Job[]) {
    this.job = jobs[0]!;
  }

  once(_event: 'abort', listener: () => void): void {
    this.listener = listener;
  }

  removeListener(_event: 'abort', _listener: () => void): void {
    this.listener = undefined;
  }

  /** Terminates the run's thread (through Piscina). Idempotent. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listener = this.listener;
    this.listener = undefined;
    listener?.();
  }

  /** Releases the timers and the channel once the run is over. */
  dispose(): void {
    clearLongTimeout(this.hardTimer);
    clearLongTimeout(this.softTimer);
    clearLongTimeout(this.graceTimer);
    this.control?.close();
    this.control = undefined;
    this.thread = undefined;
  }
}
