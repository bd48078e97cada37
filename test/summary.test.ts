import { describe, expect, it } from '@jest/globals';
import { DurationRecorder } from '../lib/observe/summary.js';

/** 1..n in a scrambled but fixed order, so sorting is the recorder's job. */
function scrambled(n: number): number[] {
  const values = Array.from({ length: n }, (_, i) => i + 1);
  for (let i = values.length - 1; i > 0; i--) {
    const j = (i * 7919) % (i + 1);
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

function recorded(values: number[]): DurationRecorder {
  const recorder = new DurationRecorder();
  for (const value of values) recorder.record(value);
  return recorder;
}

describe('DurationRecorder', () => {
  describe('when empty', () => {
    it('summarizes as all zeros', () => {
      expect(new DurationRecorder().summary()).toEqual({ count: 0, mean: 0, min: 0, max: 0, p50: 0, p99: 0 });
    });
  });

  describe('with one sample', () => {
    it('reports that sample everywhere', () => {
      expect(recorded([12.5]).summary()).toEqual({ count: 1, mean: 12.5, min: 12.5, max: 12.5, p50: 12.5, p99: 12.5 });
    });
  });

  describe('with a few samples', () => {
    it('counts them and reports mean, min and max', () => {
      const summary = recorded([4, 1, 10, 5]).summary();
      expect(summary).toMatchObject({ count: 4, mean: 5, min: 1, max: 10 });
    });

    it('sorts numerically, not as text', () => {
      // As text, 100 would sort between 10 and 9.
      expect(recorded([10, 9, 100]).summary().p50).toBe(10);
    });

    it('keeps fractional milliseconds', () => {
      expect(recorded([0.25, 0.75]).summary()).toMatchObject({ mean: 0.5, min: 0.25, max: 0.75 });
    });

    it('keeps the total of every sample', () => {
      expect(recorded([4, 1, 10, 5.5]).totalMs).toBe(20.5);
      expect(new DurationRecorder().totalMs).toBe(0);
    });

    it('reports a minimum of zero when a sample is zero', () => {
      expect(recorded([3, 0, 2]).summary().min).toBe(0);
    });
  });

  describe('with 101 samples 1..101', () => {
    const summary = recorded(scrambled(101)).summary();

    it('reports the median as p50', () => {
      expect(summary.p50).toBe(51);
    });

    it('reports the 100th smallest as p99', () => {
      expect(summary.p99).toBe(100);
    });

    it('reports exact count, mean, min and max', () => {
      expect(summary).toMatchObject({ count: 101, mean: 51, min: 1, max: 101 });
    });
  });

  describe('past 1024 samples', () => {
    it('takes percentiles over the last 1024 only', () => {
      const recorder = recorded([...Array<number>(1024).fill(1000), ...Array<number>(1024).fill(1)]);
      expect(recorder.summary()).toEqual({ count: 2048, mean: 500.5, min: 1, max: 1000, p50: 1, p99: 1 });
    });

    it('drops the oldest samples first', () => {
      const recorder = recorded([...Array<number>(20).fill(1000), ...Array<number>(1004).fill(5)]);
      expect(recorder.summary().p99).toBe(1000);
      for (let i = 0; i < 20; i++) recorder.record(5);
      expect(recorder.summary()).toMatchObject({ count: 1044, max: 1000, p50: 5, p99: 5 });
    });

    it('mixes old and new samples while the window turns over', () => {
      const recorder = recorded([...Array<number>(1024).fill(1), ...Array<number>(768).fill(9)]);
      // 256 ones and 768 nines are left in the window.
      expect(recorder.summary()).toMatchObject({ count: 1792, p50: 9, p99: 9, min: 1, max: 9 });
      expect(recorder.summary().mean).toBeCloseTo((1024 + 768 * 9) / 1792, 10);
    });

    it('keeps count, mean, min and max over every sample', () => {
      const values = scrambled(5000);
      const summary = recorded(values).summary();
      expect(summary).toMatchObject({ count: 5000, min: 1, max: 5000 });
      expect(summary.mean).toBeCloseTo(2500.5, 10);
      expect(recorded(values).totalMs).toBe(5000 * 5001 / 2);
    });
  });
});
