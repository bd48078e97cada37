import { describe, expect, it } from '@jest/globals';
import { resolveSubmitOptions } from '../lib/admission/validate.js';
import { computeBackoff, type RetryOptions, type RetryPolicy } from '../lib/semantics/retry.js';
import { RETRY_DEFAULTS } from '../lib/admission/validate.js';

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

describe('a job\'s retry policy', () => {
  const resolved = (retries: RetryOptions): RetryPolicy => resolveSubmitOptions({ retries }).retry!;
  const lowest = (): number => 0;
  const highest = (): number => 0.999_999;

  it('waits exactly the fixed delay when backoff is fixed and jitter is not asked for', () => {
    const fixed = resolved({ max: 3, backoff: 'fixed', delay: 60 });
    expect(fixed.jitter).toBe('none');
    for (const random of [lowest, highest]) {
      expect([1, 2, 3].map((attempt) => computeBackoff(fixed, attempt, random))).toEqual([60, 60, 60]);
    }
  });

  it('spreads a fixed delay only when jitter is asked for', () => {
    const jittered = resolved({ backoff: 'fixed', delay: 60, jitter: 'full' });
    expect(computeBackoff(jittered, 1, lowest)).toBe(0);
    expect(computeBackoff(jittered, 1, highest)).toBe(60);
  });

  it('spreads an exponential delay with full jitter unless jitter is none', () => {
    expect(resolved({ delay: 100 }).jitter).toBe('full');
    expect(computeBackoff(resolved({ delay: 100 }), 2, lowest)).toBe(0);
    const exact = resolved({ delay: 100, jitter: 'none' });
    expect([1, 2, 3].map((attempt) => computeBackoff(exact, attempt, lowest))).toEqual([100, 200, 400]);
  });
});
