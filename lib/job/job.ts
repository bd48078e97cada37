import type { Attempt } from '../dispatch/attempt.js';
import type { JobInfo, RunError } from '../errors.js';
import type { ResolvedSubmitOptions } from '../admission/validate.js';
import type { BrokerEntry, Sharing } from '../broker/contract.js';
import { isTerminal, transition, type JobState } from './states.js';

export { isTerminal, type JobState };
import { clearLongTimeout, type Timer } from '../../workers/long-timer.js';


/** What a producer holds for a job it submitted. */
export interface JobHandle<Result = unknown> {
  /** Unique within the runner: generated, or the `jobId` the producer gave. */
  readonly id: string;
  /** The task the job runs. */
  readonly name: string;
  readonly state: JobState;
  /**
   * Settles exactly once: the task's result, or a `BaoziError` (`TaskError`
   * with the task's own error as `cause`, `CancelledError`, ...). Not
   * awaiting it is safe: a rejection nobody awaits is not "unhandled".
   */
  readonly result: Promise<Result>;
  /** 1 for the first run; counts up with each retry. */
  readonly attempt: number;
  /** Each failed run's error, first to last (retries keep them all). */
  readonly errors: readonly RunError[];
  /** The last progress value the task reported, if any. */
  readonly progress: unknown;
  /** When the job was submitted (epoch ms, fractional). */
  readonly submittedAt: number;
  /** When it last entered the table (epoch ms), once it has. */
  readonly queuedAt: number | undefined;
  /** When its latest run started, once it has. */
  readonly startedAt: number | undefined;
  /** When it settled, once it has. */
  readonly finishedAt: number | undefined;
  /**
   * Cancels the job wherever it is: scheduled, queued, waiting to retry or
   * running (its thread is stopped). Returns `false` when the job had
   * already settled (its result stands), `true` when this call cancelled it.
   */
  cancel(reason?: unknown): boolean;
}


/** Who can cancel a job: the runner, which knows where the job is. */
export interface JobOwner {
  cancelJob(job: Job, reason: unknown): boolean;
}

const ignoreRejection = (): void => {};
const NO_ERRORS: readonly RunError[] = Object.freeze([]);
// What a settled job's `args` become: nothing reads them once it settled.
const RELEASED_ARGS = Object.freeze([]) as unknown as unknown[];


/** The job's record. Handed out as `JobHandle`; the other fields are the runner's. */
export class Job<Result = unknown> implements JobHandle<Result>, BrokerEntry {
  state: JobState = 'queued';
  attempt = 1;
  #errors: RunError[] | undefined;
  progress: unknown;
  readonly submittedAt: number;
  queuedAt: number | undefined;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  readonly result: Promise<Result>;
  /** The current run, while it runs. */
  run: Attempt | undefined;
  /** Inputs of the `map` chunk this job runs (see lib/workflows/map-chunks.ts); 0 for an ordinary job. */
  chunkSize = 0;
  /** Fires when a scheduled job is due or a retrying one's backoff ends. */
  waitTimer: Timer | undefined;
  /** Fires at `expiresAt` while the job has not started. */
  expiryTimer: Timer | undefined;
  /** Removes this job's listener from the producer's signal. */
  releaseSignal: (() => void) | undefined;
  /**
   * Arguments as they travel: as given, or v8-serialized bytes. Kept while
   * the job may run (again, for a retry), let go of once it settles: a
   * finished job kept for `getJob()` holds only its result.
   */
  args: unknown[] | Uint8Array;
  private resolveResult!: (value: unknown) => void;
  private rejectResult!: (error: unknown) => void;

  constructor(
    private readonly owner: JobOwner,
    readonly id: string,
    readonly name: string,
    args: unknown[] | Uint8Array,
    readonly isEncoded: boolean,
    readonly options: ResolvedSubmitOptions,
    at: number,
  ) {
    this.args = args;
    this.submittedAt = at;
    this.result = new Promise<Result>((resolve, reject) => {
      this.resolveResult = resolve as (value: unknown) => void;
      this.rejectResult = reject;
    });
  }

  get errors(): readonly RunError[] {
    return this.#errors ?? NO_ERRORS;
  }

  /** Keeps a failed run's error (see `errors`). */
  addError(error: RunError): void {
    (this.#errors ??= []).push(error);
  }

  get priority(): number {
    return this.options.priority;
  }

  get sharing(): Sharing {
    const { options } = this;
    if (this.chunkSize > 0 || options.timeout || options.softTimeout || options.onProgress || options.transferList) return 'alone';
    return options.signal ? 'batch' : 'any';
  }

  get info(): JobInfo {
    return { jobId: this.id, task: this.name, attempt: this.attempt };
  }

  get isSettled(): boolean {
    return isTerminal(this.state);
  }

  cancel(reason?: unknown): boolean {
    return this.owner.cancelJob(this, reason);
  }

  /** Settles the job. Returns `false`, changing nothing, when it was already settled. */
  succeed(value: Result, at: number): boolean {
    if (!this.finish('succeeded', at)) return false;
    this.resolveResult(value);
    return true;
  }

  /** Settles the job as failed, cancelled or expired. Returns `false` when it was already settled. */
  reject(state: 'failed' | 'cancelled' | 'expired', error: unknown, at: number): boolean {
    if (!this.finish(state, at)) return false;
    // Marked handled as it rejects, not at creation: a result nobody awaits
    // raises no unhandled rejection, and jobs that succeed pay for nothing.
    this.result.catch(ignoreRejection);
    this.rejectResult(error);
    return true;
  }

  private finish(state: JobState, at: number): boolean {
    if (this.isSettled) return false;
    transition(this, state);
    this.finishedAt = at;
    clearLongTimeout(this.waitTimer);
    clearLongTimeout(this.expiryTimer);
    this.waitTimer = this.expiryTimer = undefined;
    this.releaseSignal?.();
    this.releaseSignal = undefined;
    this.args = RELEASED_ARGS;
    return true;
  }
}
