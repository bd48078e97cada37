import type { MessagePort } from 'node:worker_threads';
import type { JobInfo } from './errors.js';

/**
 * Where a job is in its life. `queued` and `running` are live; the others
 * are terminal: a job reaches exactly one of them, once.
 *
 * ```
 * queued ──▶ running ──▶ succeeded | failed | cancelled
 *    └──────────────────▶ failed | cancelled
 * ```
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What a producer holds for a job it submitted. */
export interface JobHandle<Result = unknown> {
  /** Unique within the runner. */
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
  /** 1 for the first run. */
  readonly attempt: number;
  /** When the job was put on the table (epoch ms, fractional). */
  readonly queuedAt: number;
  /** When it started running, once it has. */
  readonly startedAt: number | undefined;
  /** When it settled, once it has. */
  readonly finishedAt: number | undefined;
  /**
   * Cancels the job: a queued job leaves the table, a running one is
   * stopped. Returns `false` when the job had already settled (its result
   * stands), `true` when this call cancelled it.
   */
  cancel(reason?: unknown): boolean;
}

const TERMINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);

export function isTerminal(state: JobState): boolean {
  return TERMINAL.has(state);
}

/** Who can cancel a job: the runner, which knows where the job is. */
export interface JobOwner {
  cancelJob(job: Job, reason: unknown): boolean;
}

const ignoreRejection = (): void => {};

/** Epoch milliseconds with sub-millisecond precision, from one clock call. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The job's record. Handed out as `JobHandle`; the other fields are the runner's. */
export class Job<Result = unknown> implements JobHandle<Result> {
  state: JobState = 'queued';
  attempt = 1;
  queuedAt = 0;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  readonly result: Promise<Result>;
  /** Stops the job's thread; present while it runs. */
  abortController: AbortController | undefined;
  /** Cooperative stop channel; present while it runs, for jobs that have one. */
  control: MessagePort | undefined;
  /** Terminates the thread of a cancelled job that did not stop in time. */
  graceTimer: NodeJS.Timeout | undefined;
  /** Removes this job's listener from the producer's signal. */
  releaseSignal: (() => void) | undefined;
  private resolveResult!: (value: unknown) => void;
  private rejectResult!: (error: unknown) => void;

  constructor(
    private readonly owner: JobOwner,
    readonly id: string,
    readonly name: string,
    /** Arguments as they travel: as given, or v8-serialized bytes. */
    readonly args: unknown[] | Uint8Array,
    readonly isEncoded: boolean,
    readonly priority: number,
    readonly signal: AbortSignal | undefined,
    readonly transferList: (ArrayBuffer | MessagePort)[] | undefined,
  ) {
    this.result = new Promise<Result>((resolve, reject) => {
      this.resolveResult = resolve as (value: unknown) => void;
      this.rejectResult = reject;
    });
    this.result.catch(ignoreRejection);
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

  start(at: number): void {
    this.state = 'running';
    this.startedAt = at;
  }

  /** Settles the job. Returns `false`, changing nothing, when it was already settled. */
  succeed(value: Result, at: number): boolean {
    if (!this.finish('succeeded', at)) return false;
    this.resolveResult(value);
    return true;
  }

  /** Settles the job as `failed` or `cancelled`. Returns `false` when it was already settled. */
  reject(state: 'failed' | 'cancelled', error: unknown, at: number): boolean {
    if (!this.finish(state, at)) return false;
    this.rejectResult(error);
    return true;
  }

  private finish(state: JobState, at: number): boolean {
    if (this.isSettled) return false;
    this.state = state;
    this.finishedAt = at;
    this.releaseSignal?.();
    this.releaseSignal = undefined;
    return true;
  }
}
