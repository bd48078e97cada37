import { describe, expect, it } from '@jest/globals';
import { computeBackoff, RETRY_DEFAULTS, type RetryPolicy } from '../lib/semantics/retry.js';

const policy = (overrides: Partial<RetryPolicy>): RetryPolicy => ({ ...RETRY_DEFAULTS, ...overrides });

describe('computeBackoff', () => {
  it('waits the same delay before every retry when backoff is fixed', () => {
    const fixed = policy({ backoff: 'fixed', delay: 250, jitter: 'none' });
    expect([1, 2, 3, 4].map((attempt) => computeBackoff(fixed, attempt))).toEqual([250, 250, 250, 250]);
  });

  it('doubles the delay after each failure and caps it at maxDelay when exponential', () => {
    const exponential = policy({ backoff: 'exponential', delay: 100, maxDelay: 500, jitter: 'none' });
    expect([1, 2, 3, 4, 5].map((attempt) => computeBackoff(exponential, attempt))).toEqual([100, 200, 400, 500, 500]);
  });

  it('draws a full-jitter delay between 0 and the computed delay', () => {
    const jittered = policy({ backoff: 'exponential', delay: 100, maxDelay: 10_000, jitter: 'full' });
    expect(computeBackoff(jittered, 3, () => 0)).toBe(0);
    expect(computeBackoff(jittered, 3, () => 0.5)).toBe(200);
    expect(computeBackoff(jittered, 3, () => 0.999_999)).toBe(400);
  });
});
