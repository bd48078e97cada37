import { isTerminal, type JobHandle, type JobState } from '../../job/job.js';
import type { JobInfo, RunError } from '../../errors.js';

const ignoreRejection = (): void => {};

/**
 * A producer's handle of a job on a BullMQ queue: its state, attempts and
 * progress follow the queue's events, and its result settles once, from
 * the `completed` or `failed` event (or from Redis, for a job looked up by
 * id that had already finished).
 */
export class RemoteJob<Result = unknown> implements JobHandle<Result> {
  state: JobState;
  attempt = 1;
  readonly errors: RunError[] = [];
  progress: unknown;
  readonly submittedAt: number;
  queuedAt: number | undefined;
  startedAt: number | undefined;
  finishedAt: number | undefined;
  readonly result: Promise<Result>;
  /** Called with each progress value (the job's `onProgress`). */
  onProgress: ((value: unknown) => void) | undefined;
  /** Removes this job's listener from the producer's signal. */
  releaseSignal: (() => void) | undefined;
  /** Runs BullMQ may make: retries plus one. */
  maxAttempts = 1;
  #id: string;
  #resolve!: (value: Result) => void;
  #reject!: (error: unknown) => void;
  readonly #cancel: (job: RemoteJob, reason: unknown) => boolean;

  constructor(
    id: string,
    readonly name: string,
    options: { state: JobState; submittedAt: number; cancel: (job: RemoteJob, reason: unknown) => boolean },
  ) {
    this.#id = id;
    this.state = options.state;
    this.submittedAt = options.submittedAt;
    this.#cancel = options.cancel;
    this.result = new Promise<Result>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result.catch(ignoreRejection);
  }

  /** The job's id on the queue: the submitter's `jobId`, or one its producer chose (`b<random>-<n>`). */
  get id(): string {
    return this.#id;
  }

  /** Names the job (a chord names its steps after the handle is made). */
  setId(id: string): void {
    this.#id = id;
  }

  get info(): JobInfo {
    return { jobId: this.id, task: this.name, attempt: this.attempt };
  }

  get isSettled(): boolean {
    return isTerminal(this.state);
  }

  /**
   * Removes the job from the queue if it has not started; a running one is
   * stopped on the consumer that runs it (its thread is stopped), and
   * `result` rejects with `CancelledError` once the consumer reports it.
   * `false` once settled.
   */
  cancel(reason?: unknown): boolean {
    if (this.isSettled) return false;
    return this.#cancel(this as RemoteJob, reason);
  }

  /** Settles the job; `false`, changing nothing, when it had settled already. */
  succeed(value: Result, at = Date.now()): boolean {
    if (!this.#finish('succeeded', at)) return false;
    this.#resolve(value);
    return true;
  }

  reject(state: 'failed' | 'cancelled' | 'expired', error: unknown, at = Date.now()): boolean {
    if (!this.#finish(state, at)) return false;
    // The run's failure as the consumer reported it (a cancel or an expiry is no run's error).
    if (state === 'failed') this.errors.push(error as RunError);
    this.#reject(error);
    return true;
  }

  #finish(state: JobState, at: number): boolean {
    if (this.isSettled) return false;
    this.state = state;
    this.finishedAt = at;
    this.releaseSignal?.();
    this.releaseSignal = undefined;
    return true;
  }
}
