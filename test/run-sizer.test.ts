/**
 * The one sizer of runs (lib/dispatch/run-sizer.ts): transparent batches
 * and `map` chunks take their size from it, and prefetch its "quick".
 */
import { describe, expect, it } from '@jest/globals';
import { RUN_TARGET_MS, RunSizer } from '../lib/dispatch/run-sizer.js';

/** A sizer that has seen `runs` one-job runs of `task` taking `ms` each. */
function measured(task: string, ms: number, runs: number): RunSizer {
  const sizer = new RunSizer();
  for (let i = 0; i < runs; i++) sizer.record(task, 1, ms);
  return sizer;
}

describe('RunSizer', () => {
  it('sends one job at a time, and calls no task quick, before a run of it was measured', () => {
    const sizer = new RunSizer();
    expect(sizer.size('add', 256)).toBe(1);
    expect(sizer.isQuick('add')).toBe(false);
    expect(sizer.estimate('add')).toBeUndefined();
  });

  it("sizes a run at the target's thread time per input, within the caller's cap", () => {
    const sizer = new RunSizer();
    // 1,000 inputs in 10 ms: 0.01 ms each, 200 to a 2 ms run.
    sizer.record('add', 1_000, 10);
    expect(sizer.estimate('add')).toBeCloseTo(0.01);
    expect(sizer.size('add', 10_000)).toBe(RUN_TARGET_MS / 0.01);
    expect(sizer.size('add', 64)).toBe(64);
    expect(sizer.isQuick('add')).toBe(true);
  });

  it('grows a run at most fourfold over the largest run measured, so that one lucky run cannot send a huge run of a slow task', () => {
    const sizer = new RunSizer();
    sizer.record('add', 1, 0.001);
    expect(sizer.size('add', 10_000)).toBe(4);
    sizer.record('add', 4, 0.004);
    expect(sizer.size('add', 10_000)).toBe(16);
  });

  it('sends a task slower than the target one job at a time and does not call it quick', () => {
    const sizer = measured('slow', 5, 3);
    expect(sizer.size('slow', 256)).toBe(1);
    expect(sizer.isQuick('slow')).toBe(false);
  });

  it('keeps the tasks apart', () => {
    const sizer = measured('slow', 5, 3);
    sizer.record('tiny', 100, 1);
    expect([sizer.isQuick('slow'), sizer.isQuick('tiny')]).toEqual([false, true]);
    // What a BullMQ consumer budgets its held jobs by: the estimate, for quick tasks only.
    expect([sizer.quickEstimate('slow'), sizer.quickEstimate('tiny'), sizer.quickEstimate('unmeasured')]).toEqual([undefined, sizer.estimate('tiny'), undefined]);
    expect(sizer.estimate('tiny')).toBeLessThan(2);
  });

  it('ignores a sample that is not a time (NaN, negative) or has no inputs', () => {
    const sizer = measured('add', 0.01, 3);
    sizer.record('add', 1, Number.NaN);
    sizer.record('add', 1, -1);
    sizer.record('add', 0, 50);
    expect(sizer.estimate('add')).toBeCloseTo(0.01);
  });

  describe('when one run is late (a garbage collection, a cold thread)', () => {
    it('still calls a tiny task quick, and counts the late run only up to 4 × its estimate + 0.1 ms', () => {
      const sizer = measured('tiny', 0.05, 11);
      sizer.record('tiny', 1, 50);
      expect(sizer.isQuick('tiny')).toBe(true);
      // Half way from 0.05 to 4 × 0.05 + 0.1 = 0.3 ms.
      expect(sizer.estimate('tiny')).toBeCloseTo(0.175);
    });

    it('forgives a late run again once 16 ordinary runs came between', () => {
      const sizer = measured('tiny', 0.05, 11);
      for (let round = 0; round < 5; round++) {
        sizer.record('tiny', 1, 50);
        for (let i = 0; i < 16; i++) sizer.record('tiny', 1, 0.05);
      }
      expect(sizer.isQuick('tiny')).toBe(true);
    });
  });

  // Review of 41ac750 (branch review, f6938f8): one-job samples were clamped
  // to 4 × previous + 0.1 ms each, always, so a task slow every third run
  // kept an estimate near its fast runs and stayed quick (prefetched behind
  // other runs, sent without a stop signal) however slow its slow runs were.
  describe('when runs are slow now and then', () => {
    it('does not call a task quick after any slow run past its first when every third run takes 50 ms, and its estimate stays above the target', () => {
      const sizer = measured('bimodal', 0.05, 11);
      expect(sizer.isQuick('bimodal')).toBe(true);
      const quickAfterSlowRun: number[] = [];
      for (let i = 0; i < 30; i++) {
        sizer.record('bimodal', 1, i % 3 === 0 ? 50 : 0.05);
        if (i % 3 === 0 && sizer.isQuick('bimodal')) quickAfterSlowRun.push(i);
      }
      // The first slow run is forgiven as one late run; none after it is.
      expect(quickAfterSlowRun).toEqual([0]);
      // Mean run ~16.7 ms; the estimate stays well above the 2 ms target between slow runs.
      expect(sizer.estimate('bimodal')).toBeGreaterThan(RUN_TARGET_MS);
      expect(sizer.size('bimodal', 256)).toBe(1);
    });

    it.each([0.001, 0.05, 0.5])('takes exactly two 50 ms runs to stop calling a task of %s ms quick', (tiny) => {
      const sizer = measured('t', tiny, 20);
      let slowRuns = 0;
      while (sizer.isQuick('t') && slowRuns < 100) {
        sizer.record('t', 1, 50);
        slowRuns++;
      }
      expect(slowRuns).toBe(2);
    });

    it('calls a task quick again once its slow runs stop', () => {
      const sizer = measured('t', 0.05, 11);
      sizer.record('t', 1, 50);
      sizer.record('t', 1, 50);
      expect(sizer.isQuick('t')).toBe(false);
      for (let i = 0; i < 10; i++) sizer.record('t', 1, 0.05);
      expect(sizer.isQuick('t')).toBe(true);
    });
  });

  it('reads a batch of late-ridden runs by its time per input: a collection in a batch of 200 barely moves it', () => {
    const sizer = measured('add', 0.01, 5);
    // 200 inputs of 0.01 ms plus a 1 ms pause: 0.015 ms each, no outlier.
    sizer.record('add', 200, 3);
    expect(sizer.isQuick('add')).toBe(true);
    expect(sizer.estimate('add')!).toBeLessThan(0.02);
  });
});
