import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError, type RunnerMetrics } from 'baozi';
import { holdThread, rejectionOf, thrownBy, useRunners } from './helpers/e2e.js';
import { nextEvent } from './helpers/events.js';

const runners = useRunners();

const NO_JOBS = { submitted: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 0, expired: 0 };

/** The counters of one task (or the total), without the durations. */
function countsOf(metrics: RunnerMetrics, task?: string): Record<keyof typeof NO_JOBS, number> | undefined {
  const source = task === undefined ? metrics.total : metrics.tasks[task];
  if (!source) return undefined;
  const { submitted, succeeded, failed, retried, cancelled, expired } = source;
  return { submitted, succeeded, failed, retried, cancelled, expired };
}

describe('Runner metrics', () => {
  describe('before any job', () => {
    it('counts nothing and lists no task', async () => {
      const runner = runners.runner();
      const metrics = runner.metrics();
      expect(countsOf(metrics)).toEqual(NO_JOBS);
      expect(metrics.tasks).toEqual({});
      expect(metrics.total.waitTime).toMatchObject({ count: 0, sum: 0, p50: 0, p99: 0 });
      expect(metrics.gauges).toMatchObject({ queued: 0, running: 0, blocked: 0, scheduled: 0, utilization: 0 });
      expect(metrics.since).toBeLessThanOrEqual(metrics.at);
      await runner.close();
    });
  });

  describe('counters', () => {
    it('count successes and failures per task name and in total', async () => {
      const runner = runners.runner();
      await Promise.all(Array.from({ length: 5 }, (_, i) => runner.run('add', i, 1)));
      await Promise.all(Array.from({ length: 2 }, () => rejectionOf(runner.run('throwError', 'no'))));
      const metrics = runner.metrics();
      expect(countsOf(metrics, 'add')).toEqual({ ...NO_JOBS, submitted: 5, succeeded: 5 });
      expect(countsOf(metrics, 'throwError')).toEqual({ ...NO_JOBS, submitted: 2, failed: 2 });
      expect(countsOf(metrics)).toEqual({ ...NO_JOBS, submitted: 7, succeeded: 5, failed: 2 });
      expect(Object.keys(metrics.tasks).sort()).toEqual(['add', 'throwError']);
      await runner.close();
    });

    it('count each retried run, and the job once when it finally succeeds', async () => {
      const runner = runners.runner();
      const job = await runner.submit('askRetry', [0, 3]);
      expect(await job.result).toBe(3);
      expect(countsOf(runner.metrics(), 'askRetry')).toEqual({ ...NO_JOBS, submitted: 1, retried: 2, succeeded: 1 });
      await runner.close();
    });

    it('count cancelled and expired jobs', async () => {
      const runner = runners.runner({ maxThreads: 1, minThreads: 1 });
      const hold = await holdThread(runner);
      const cancelled = await runner.submit('add', [1, 1]);
      const expiring = await runner.submit('add', [2, 2], { expiresIn: 1 });
      cancelled.cancel('not hungry');
      await rejectionOf(expiring.result);
      hold.open();
      await hold.job.result;
      const metrics = runner.metrics();
      expect(countsOf(metrics, 'add')).toEqual({ ...NO_JOBS, submitted: 2, cancelled: 1, expired: 1 });
      expect(countsOf(metrics, 'waitForMessage')).toEqual({ ...NO_JOBS, submitted: 1, succeeded: 1 });
      await runner.close();
    });

    it('count a job submitted again under a known jobId only once', async () => {
      const runner = runners.runner();
      const first = await runner.submit('add', [1, 2], { jobId: 'once' });
      await first.result;
      const again = await runner.submit('add', [1, 2], { jobId: 'once' });
      expect(again).toBe(first);
      expect(countsOf(runner.metrics(), 'add')).toEqual({ ...NO_JOBS, submitted: 1, succeeded: 1 });
      await runner.close();
    });

    it('are already counted when the job event reaches listeners', async () => {
      const runner = runners.runner();
      const seen = new Promise<number>((resolve) => runner.once('succeeded', () => resolve(runner.metrics().total.succeeded)));
      await runner.run('add', 1, 1);
      expect(await seen).toBe(1);
      await runner.close();
    });
  });

  describe('durations', () => {
    it('record wait and run time for each run, with percentiles and cumulative buckets', async () => {
      const runner = runners.runner({ maxThreads: 1, minThreads: 1 });
      await Promise.all(Array.from({ length: 4 }, () => runner.run('sleep', 30)));
      const { runTime, waitTime } = runner.metrics().tasks.sleep!;
      expect(runTime.count).toBe(4);
      expect(runTime.min).toBeGreaterThanOrEqual(25);
      expect(runTime.p50).toBeGreaterThanOrEqual(runTime.min);
      expect(runTime.p99).toBeLessThanOrEqual(runTime.max);
      expect(runTime.sum).toBeCloseTo(runTime.mean * 4, 6);
      // One thread: the last of the four waited for the three before it.
      expect(waitTime.count).toBe(4);
      expect(waitTime.max).toBeGreaterThanOrEqual(75);
      const counts = runTime.buckets.map((bucket) => bucket.count);
      expect(counts).toEqual([...counts].sort((a, b) => a - b));
      expect(runTime.buckets.at(-1)).toEqual({ le: Infinity, count: 4 });
      expect(runTime.buckets.find((bucket) => bucket.le === 10)!.count).toBe(0);
      await runner.close();
    });

    it('keep the time of a run that failed and was retried', async () => {
      const runner = runners.runner();
      await runner.run('askRetry', 0, 2);
      const { runTime, waitTime } = runner.metrics().tasks.askRetry!;
      expect(runTime.count).toBe(2);
      expect(waitTime.count).toBe(2);
      await runner.close();
    });

    it('leave out the run of a job cancelled while it ran', async () => {
      const runner = runners.runner();
      const hold = await holdThread(runner);
      hold.job.cancel('stop');
      await rejectionOf(hold.job.result);
      const { runTime, waitTime, cancelled } = runner.metrics().tasks.waitForMessage!;
      expect({ cancelled, runs: runTime.count, starts: waitTime.count }).toEqual({ cancelled: 1, runs: 0, starts: 1 });
      await runner.close();
    });
  });

  describe('gauges', () => {
    it('show queued, running, blocked and scheduled jobs, threads and busy slots', async () => {
      const runner = runners.runner({ maxThreads: 1, minThreads: 1, capacity: 1 });
      const hold = await holdThread(runner);
      const queued = await runner.submit('add', [1, 1]);
      const blocked = runner.submit('add', [2, 2]);
      const scheduled = await runner.submit('add', [3, 3], { delay: 60_000 });
      expect(runner.metrics().gauges).toEqual({ queued: 1, running: 1, blocked: 1, scheduled: 1, threads: 1, utilization: 1 });
      scheduled.cancel();
      hold.open();
      await Promise.all([queued.result, (await blocked).result, hold.job.result]);
      expect(runner.metrics().gauges).toMatchObject({ queued: 0, running: 0, blocked: 0, scheduled: 0, utilization: 0 });
      await runner.close();
    });
  });

  describe('with reset', () => {
    it('returns the ending period and starts the next from zero', async () => {
      const runner = runners.runner();
      await runner.run('add', 1, 1);
      const first = runner.metrics({ reset: true });
      expect(countsOf(first, 'add')).toEqual({ ...NO_JOBS, submitted: 1, succeeded: 1 });
      const second = runner.metrics();
      expect(countsOf(second)).toEqual(NO_JOBS);
      expect(second.tasks).toEqual({});
      expect(second.total.runTime.count).toBe(0);
      expect(second.since).toBe(first.at);
      await runner.run('add', 2, 2);
      expect(countsOf(runner.metrics(), 'add')).toEqual({ ...NO_JOBS, submitted: 1, succeeded: 1 });
      await runner.close();
    });

    it('leaves the gauges as they are', async () => {
      const runner = runners.runner({ maxThreads: 1, minThreads: 1 });
      const hold = await holdThread(runner);
      const before = runner.metrics({ reset: true }).gauges;
      expect(runner.metrics().gauges).toEqual(before);
      expect(before.running).toBe(1);
      hold.open();
      await hold.job.result;
      await runner.close();
    });

    it('counts a job that settles after the reset in the new period', async () => {
      const runner = runners.runner();
      const hold = await holdThread(runner);
      runner.metrics({ reset: true });
      const settled = nextEvent(runner, 'succeeded');
      hold.open();
      await settled;
      expect(countsOf(runner.metrics(), 'waitForMessage')).toEqual({ ...NO_JOBS, succeeded: 1 });
      await runner.close();
    });
  });

  describe('options', () => {
    it('rejects an unknown key or a reset that is not a boolean', async () => {
      const runner = runners.runner();
      for (const options of [{ rest: true }, { reset: 'yes' }, null]) {
        const error = thrownBy(() => runner.metrics(options as never));
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error.code).toBe('BAOZI_INVALID_OPTION');
      }
      await runner.close();
    });
  });
});
