/**
 * Retry policy and backoff: pure functions, no timers.
 */
import type { RunError } from '../errors.js';

/** How the wait between runs grows. */
export type Backoff = 'fixed' | 'exponential';

/** Whether the wait is drawn at random below the computed delay. */
export type Jitter = 'full' | 'none';

/** When and how often a failed job runs again. Per job or per task in `defaults`. */
export interface RetryOptions {
  /**
   * Most retries after the first run: a job runs at most `max + 1` times.
   * Integer from 0 to 100.
   * @default 0 (no retries)
   */
  max?: number;
  /**
   * `fixed`: wait `delay` before every retry. `exponential`: `delay`, then
   * twice that, four times… capped at `maxDelay`.
   * @default 'exponential'
   */
  backoff?: Backoff;
  /**
   * Milliseconds before the first retry. Integer, 0 or more, of any length
   * (past 24.8 days it is waited out in steps).
   * @default 1000
   */
  delay?: number;
  /**
   * Longest wait between two runs, in milliseconds. Integer, 0 or more, of
   * any length.
   * @default 60000
   */
  maxDelay?: number;
  /**
   * `full`: wait a random time between 0 and the computed delay, so that
   * jobs failing together do not retry together. `none`: the exact delay.
   * The default depends on `backoff`: a `fixed` delay is exact, as
   * Celery's countdown and BullMQ's fixed backoff are; an `exponential`
   * one is spread, as Celery's `retry_jitter` does.
   * @default 'none' with backoff 'fixed', 'full' with backoff 'exponential'
   */
  jitter?: Jitter;
  /**
   * Decides whether a failure is retried. `attempt` is the run that just
   * failed (1 for the first). By default only a task's own errors
   * (`BAOZI_TASK_FAILED`) are retried: not crashes, time limits,
   * cancellations or bad input.
   */
  retryOn?: (error: RunError, attempt: number) => boolean;
}

export type RetryPolicy = Required<Omit<RetryOptions, 'retryOn'>> & Pick<RetryOptions, 'retryOn'>;


/**
 * Retries a task may ask for itself (`retry()` in `baozi/worker`) when its
 * job has no `retries.max`: Celery's default `max_retries`.
 */
export const REQUESTED_RETRY_MAX = 3;

/** Milliseconds to wait before the run after `attempt` failed. */
export function computeBackoff(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = policy.backoff === 'fixed' ? policy.delay : policy.delay * 2 ** (attempt - 1);
  const capped = Math.min(base, policy.maxDelay);
  return policy.jitter === 'full' ? Math.round(random() * capped) : capped;
}
