import { resolveSubmitOptions, type ResolvedSubmitOptions } from '../admission/validate.js';
import type { StoredJob, StoredOptions, StoredOutcome } from '../broker/contract.js';
import type { JournalCodec } from '../broker/journal/broker.js';
import type { RunError } from '../errors.js';
import type { TaskDefaults } from '../options.js';
import { Job, type JobHandle, type JobOwner, type JobState } from './job.js';

/**
 * Jobs to and from what a durable broker keeps: a live job written down,
 * a stored one made live again in a new process, and a settled one read
 * back by id.
 */

/** How the journal reads a runner's jobs. */
export const JOB_CODEC: JournalCodec<Job> = {
  describe: (job) => ({
    id: job.id,
    name: job.name,
    args: job.args,
    isEncoded: job.isEncoded,
    priority: job.options.priority,
    attempt: job.attempt,
    submittedAt: job.submittedAt,
    runAt: undefined,
    expiresAt: job.options.expiresAt,
    chunkSize: job.chunkSize,
    options: storedOptions(job.options),
  }),
  attemptOf: (job) => job.attempt,
};

function storedOptions(options: ResolvedSubmitOptions): StoredOptions | undefined {
  const { timeout, softTimeout, retry } = options;
  if (timeout === undefined && softTimeout === undefined && retry === undefined) return undefined;
  const stored: { -readonly [Key in keyof StoredOptions]: StoredOptions[Key] } = {};
  if (timeout !== undefined) stored.timeout = timeout;
  if (softTimeout !== undefined) stored.softTimeout = softTimeout;
  if (retry) stored.retry = { max: retry.max, backoff: retry.backoff, delay: retry.delay, maxDelay: retry.maxDelay, jitter: retry.jitter };
  return stored;
}

/**
 * A stored job as a live job of this runner, at the attempt it had reached.
 * What could not be written down (a `signal`, `onProgress`, a `retryOn`
 * function) comes from its task's `defaults`, if they have it.
 */
export function reviveJob(owner: JobOwner, stored: StoredJob, defaults: TaskDefaults | undefined): Job {
  const base = resolveSubmitOptions(undefined, defaults);
  const own = stored.options;
  const options: ResolvedSubmitOptions = {
    ...base,
    priority: stored.priority,
    jobId: stored.id,
    runAt: stored.runAt,
    expiresAt: stored.expiresAt,
    timeout: own?.timeout ?? base.timeout,
    softTimeout: own?.softTimeout ?? base.softTimeout,
    retry: own?.retry ? { ...own.retry, retryOn: base.retry?.retryOn } : base.retry,
    signal: undefined,
    transferList: undefined,
  };
  const job = new Job(owner, stored.id, stored.name, stored.args, stored.isEncoded, options, stored.submittedAt);
  job.attempt = stored.attempt;
  job.chunkSize = stored.chunkSize;
  return job;
}

const ignoreRejection = (): void => {};

/** A job that settled in an earlier process, read back from the journal by id. */
export class StoredJobHandle implements JobHandle {
  readonly id: string;
  readonly name: string;
  readonly state: JobState;
  readonly result: Promise<unknown>;
  readonly attempt: number;
  readonly errors: readonly RunError[];
  readonly progress: unknown = undefined;
  readonly submittedAt: number;
  readonly queuedAt: number | undefined = undefined;
  readonly startedAt: number | undefined = undefined;
  readonly finishedAt: number;

  constructor(stored: StoredOutcome) {
    const { outcome } = stored;
    this.id = stored.id;
    this.name = stored.name;
    this.state = outcome.state;
    this.attempt = stored.attempt;
    this.submittedAt = stored.submittedAt;
    this.finishedAt = stored.finishedAt;
    if (outcome.state === 'succeeded') {
      this.result = Promise.resolve(outcome.result);
      this.errors = [];
    } else {
      this.result = Promise.reject(outcome.error);
      this.result.catch(ignoreRejection);
      this.errors = outcome.state === 'failed' ? [outcome.error as RunError] : [];
    }
  }

  /** It settled long ago: there is nothing to cancel. */
  cancel(): boolean {
    return false;
  }
}
