import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from '../lib/errors.js';
import { parseRateLimit, StartWindow } from '../lib/semantics/rate-limit.js';

describe('parseRateLimit', () => {
  it.each([
    ['100/s', { max: 100, per: 1000 }],
    ['10/m', { max: 10, per: 60_000 }],
    ['5/h', { max: 5, per: 3_600_000 }],
  ])('reads %s', (text, expected) => {
    expect(parseRateLimit('rateLimits.resize', text)).toEqual(expected);
  });

  it('accepts { max, per }', () => {
    expect(parseRateLimit('rateLimits.resize', { max: 3, per: 250 })).toEqual({ max: 3, per: 250 });
  });

  it.each([['100/d'], ['fast'], [{ max: 0, per: 1000 }], [{ max: 1.5, per: 1000 }], [{ max: 1, per: Number.NaN }], [{ max: 1, per: 10, burst: 2 }], [null]])(
    'rejects %p with BAOZI_INVALID_OPTION',
    (value) => {
      let thrown: unknown;
      try {
        parseRateLimit('rateLimits.resize', value);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).code).toBe('BAOZI_INVALID_OPTION');
      expect((thrown as InvalidOptionError).option).toMatch(/^rateLimits\.resize/);
    },
  );
});

describe('StartWindow', () => {
  it('allows max starts at once, then waits until the oldest leaves the window', () => {
    const window = new StartWindow({ max: 2, per: 1000 });
    expect(window.waitTime(0)).toBe(0);
    window.record(0);
    window.record(100);
    expect(window.waitTime(100)).toBe(900);
    expect(window.waitTime(999)).toBe(1);
    expect(window.waitTime(1000)).toBe(0);
    window.record(1000);
    // Now the starts are 100 and 1000: the next one may come at 1100.
    expect(window.waitTime(1000)).toBe(100);
  });

  it('never lets more than max starts into any window of per milliseconds', () => {
    const limit = { max: 3, per: 100 };
    const window = new StartWindow(limit);
    const starts: number[] = [];
    for (let at = 0; at < 1000; at++) {
      if (window.waitTime(at) === 0) {
        window.record(at);
        starts.push(at);
      }
    }
    for (const start of starts) {
      expect(starts.filter((other) => other >= start && other < start + limit.per).length).toBeLessThanOrEqual(limit.max);
    }
    expect(starts.length).toBe(30);
  });
});
