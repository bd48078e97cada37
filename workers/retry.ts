/**
 * A task asking to run again (Celery's `self.retry`). Throw it with
 * `retry()`; it is not a failure.
 */
export class RetryRequest extends Error {
  constructor(
    /** Milliseconds to wait before the next run; the job's backoff when undefined. */
    readonly delay: number | undefined,
    reason: unknown,
  ) {
    super('The task asked to be retried.', reason === undefined ? undefined : { cause: reason });
    this.name = 'RetryRequest';
  }
}

/**
 * Ends the running task and asks for its job to run again, after `delay`
 * milliseconds or the job's `retries` backoff. Allowed up to the job's
 * `retries.max` (3 when the job has no retry policy); past that the job
 * fails with `BAOZI_RETRIES_EXHAUSTED`. `reason` is kept as the attempt's
 * error.
 *
 * ```ts
 * export async function fetchRates() {
 *   const response = await fetch(url);
 *   if (response.status === 503) retry({ delay: 5_000, reason: 'rates service busy' });
 *   return response.json();
 * }
 * ```
 */
export function retry(options: { delay?: number; reason?: unknown } = {}): never {
  const { delay, reason } = options;
  if (delay !== undefined && (!Number.isInteger(delay) || delay < 0)) {
    throw new RangeError(`retry({ delay }) takes an integer number of milliseconds, 0 or more; got ${String(delay)}.`);
  }
  throw new RetryRequest(delay, reason);
}
