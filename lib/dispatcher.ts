import type { JobControl, JobMessage, JobReply } from '../workers/protocol.js';
import { decodeReply } from './codec.js';
import { CancelledError, describeValue, SerializationError, WorkerCrashedError } from './errors.js';
import { now, type Job } from './job.js';
import { classifyCrash, type Pool } from './pool.js';
import { failureToError, isJobFailure } from './remote-error.js';
import type { Table } from './table.js';

/** What the dispatcher tells the runner. */
export interface DispatcherHooks {
  /** The job left the table and runs. */
  started(job: Job): void;
  /** The job settled (it is in a terminal state). */
  settled(job: Job, outcome: unknown): void;
  /** A pool slot freed: nothing runs there any more. */
  slotFreed(): void;
}

/**
 * Moves jobs from the table to the pool while a pool slot is free, and
 * turns what the pool answers into a settled job. Owns the running count:
 * it never exceeds `slots`, so Piscina's own queue stays empty.
 */
export class Dispatcher {
  private readonly running = new Set<Job>();
  private isPumping = false;

  constructor(
    private readonly table: Table<Job>,
    private readonly pool: Pool,
    private readonly slots: number,
    private readonly cancelGraceMs: number,
    private readonly hooks: DispatcherHooks,
  ) {}

  /** Jobs holding a pool slot, including cancelled ones whose thread is still being stopped. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Starts queued jobs while slots are free. Safe to call from any event listener. */
  pump(): void {
    if (this.isPumping) return;
    this.isPumping = true;
    try {
      while (this.running.size < this.slots) {
        const job = this.table.shift();
        if (!job) break;
        this.start(job);
      }
    } finally {
      this.isPumping = false;
    }
  }

  /**
   * Cancels a running job: it settles now; its thread is told to stop and,
   * after the grace period (or at once when `graceful` is false or the job
   * has no stop channel), terminated. The slot frees when the thread is gone.
   */
  cancelRunning(job: Job, error: CancelledError, graceful: boolean): boolean {
    if (!job.reject('cancelled', error, now())) {
      // Already cancelled and in its grace period: a forced stop ends the wait.
      if (!graceful) job.abortController?.abort(error);
      return false;
    }
    this.hooks.settled(job, error);
    const controller = job.abortController!;
    if (graceful && job.control && this.cancelGraceMs > 0) {
      job.control.postMessage({ type: 'abort', reason: reasonText(error.cause) } satisfies JobControl);
      // Cleared when the job's pool promise settles: the thread stopped on its own.
      job.graceTimer = setTimeout(() => controller.abort(error), this.cancelGraceMs);
    } else {
      controller.abort(error);
    }
    return true;
  }

  /** Every job that holds a slot now. */
  runningJobs(): Job[] {
    return [...this.running];
  }

  private start(job: Job): void {
    const controller = new AbortController();
    job.abortController = controller;
    job.start(now());
    this.running.add(job);
    const message: JobMessage = { type: 'job', id: job.id, task: job.name, attempt: job.attempt, args: job.args, isEncoded: job.isEncoded };
    let transferList = job.transferList;
    if (job.signal) {
      // A stop channel only for jobs that can be cancelled while they run.
      const channel = new MessageChannel();
      job.control = channel.port1;
      message.control = channel.port2;
      transferList = [...(transferList ?? []), channel.port2];
    }
    this.hooks.started(job);
    let reply: Promise<JobReply>;
    try {
      reply = this.pool.run(message, controller.signal, transferList);
    } catch (error) {
      reply = Promise.reject(error);
    }
    reply.then(
      (value) => this.finish(job, () => this.succeed(job, value)),
      (error: unknown) => this.finish(job, () => this.fail(job, error)),
    );
  }

  // Settle before freeing the slot: a listener that submits on `succeeded`
  // must find the job already settled and the counts already right.
  private finish(job: Job, settle: () => void): void {
    if (!job.isSettled) settle();
    if (job.graceTimer) clearTimeout(job.graceTimer);
    job.graceTimer = undefined;
    job.abortController = undefined;
    job.control?.close();
    job.control = undefined;
    this.running.delete(job);
    this.hooks.slotFreed();
    this.pump();
  }

  private succeed(job: Job, reply: JobReply): void {
    let result: unknown;
    try {
      result = decodeReply(reply);
    } catch (error) {
      this.fail(job, error);
      return;
    }
    if (job.succeed(result, now())) this.hooks.settled(job, result);
  }

  private fail(job: Job, error: unknown): void {
    const settledWith = isJobFailure(error) ? failureToError(error, job.info) : this.crashError(job, error);
    if (job.reject('failed', settledWith, now())) this.hooks.settled(job, settledWith);
  }

  private crashError(job: Job, error: unknown): Error {
    // Piscina throws DataCloneError synchronously when arguments sent with a
    // transferList cannot be cloned.
    if ((error as { name?: unknown } | null)?.name === 'DataCloneError') {
      return new SerializationError('argument', undefined, (error as Error).message, { cause: error, job: job.info });
    }
    const { reason, exitCode } = classifyCrash(error);
    return new WorkerCrashedError(reason, exitCode, { cause: error, job: job.info });
  }
}

// Any value can be an abort reason, and String() throws for some (a
// null-prototype object): that must not stop the thread from being stopped.
function reasonText(reason: unknown): string {
  if (reason === undefined || reason === null) return 'cancelled';
  try {
    return String(reason);
  } catch {
    return describeValue(reason);
  }
}
