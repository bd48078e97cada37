import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { JobHandle } from 'baozi';
import { useRunners } from '../helpers/e2e.js';

const runners = useRunners();

// Counts the channels the runner opens to its jobs (the global MessageChannel;
// the test helpers and the pool use node:worker_threads' own).
const OriginalMessageChannel = globalThis.MessageChannel;
let channelsMade = 0;

beforeEach(() => {
  channelsMade = 0;
  globalThis.MessageChannel = class extends OriginalMessageChannel {
    constructor() {
      super();
      channelsMade++;
    }
  };
});

afterEach(() => {
  globalThis.MessageChannel = OriginalMessageChannel;
});

describe('Runner', () => {
  describe('when a task reports progress', () => {
    it('passes every value, in order, to onProgress, the progress event and handle.progress', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const events: { job: JobHandle; value: unknown }[] = [];
      runner.on('progress', (event) => events.push(event));
      const seen: unknown[] = [];
      const job = await runner.submit('progressSteps', [5], { onProgress: (value) => seen.push(value) });

      expect(await job.result).toBe(5);
      expect(seen).toEqual([1, 2, 3, 4, 5]);
      expect(events.map(({ value }) => value)).toEqual([1, 2, 3, 4, 5]);
      expect(events.every((event) => event.job === job)).toBe(true);
      expect(job.progress).toBe(5);
      await runner.close();
    });

    it('reaches onProgress without any progress listener on the runner', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const seen: unknown[] = [];
      const job = await runner.submit('progressSteps', [3], { onProgress: (value) => seen.push(value) });
      expect(await job.result).toBe(3);
      expect(seen).toEqual([1, 2, 3]);
      expect(job.progress).toBe(3);
      await runner.close();
    });

    it('reaches the progress event and handle.progress of a job without onProgress', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const values: unknown[] = [];
      runner.on('progress', ({ value }) => values.push(value));
      const job = await runner.submit('progressSteps', [4]);
      expect(await job.result).toBe(4);
      expect(values).toEqual([1, 2, 3, 4]);
      expect(job.progress).toBe(4);
      await runner.close();
    });

    it('keeps each job’s values to that job when several run at once', async () => {
      const runner = runners.runner({ maxThreads: 2 });
      const byJob = new Map<string, unknown[]>();
      runner.on('progress', ({ job, value }) => byJob.set(job.id, [...(byJob.get(job.id) ?? []), value]));
      const jobs = await Promise.all([2, 5, 3, 4].map((n) => runner.submit('progressSteps', [n])));
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual([2, 5, 3, 4]);
      for (const job of jobs) {
        const n = (await job.result) as number;
        expect(byJob.get(job.id)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
        expect(job.progress).toBe(n);
      }
      await runner.close();
    });

    it('opens a channel for a job whose progress someone wants', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      await runner.run('add', 0, 0);
      channelsMade = 0;
      const job = await runner.submit('progressSteps', [2], { onProgress: () => {} });
      await job.result;
      expect(channelsMade).toBe(1);
      await runner.close();
    });
  });

  describe('when nobody listens for progress', () => {
    it('opens no channel, drops the values, and the task still succeeds', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('progressSteps', [5]);
      expect(await job.result).toBe(5);
      expect(job.progress).toBeUndefined();
      expect(job.state).toBe('succeeded');
      expect(channelsMade).toBe(0);
      await runner.close();
    });

    it('starts sending progress for jobs started after a listener is added', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.submit('progressSteps', [2]);
      await before.result;
      const values: unknown[] = [];
      runner.on('progress', ({ value }) => values.push(value));
      const after = await runner.submit('progressSteps', [2]);
      await after.result;
      expect(before.progress).toBeUndefined();
      expect(after.progress).toBe(2);
      expect(values).toEqual([1, 2]);
      await runner.close();
    });

    it('keeps tiny jobs batched under a runner-level listener: each job’s values arrive with it, before its result', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const seen = new Map<string, unknown[]>();
      const order: string[] = [];
      runner.on('progress', ({ job, value }) => {
        seen.set(job.id, [...(seen.get(job.id) ?? []), value]);
        order.push(`progress ${job.id}`);
      });
      runner.on('succeeded', ({ job }) => order.push(`succeeded ${job.id}`));
      const jobs = await Promise.all(Array.from({ length: 200 }, () => runner.submit('progressSteps', [3])));
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual(Array(200).fill(3));

      for (const job of jobs) {
        expect(seen.get(job.id)).toEqual([1, 2, 3]);
        expect(job.progress).toBe(3);
        expect(order.lastIndexOf(`progress ${job.id}`)).toBeLessThan(order.indexOf(`succeeded ${job.id}`));
      }
      // Jobs that travelled in a batch needed no channel of their own.
      expect(channelsMade).toBeLessThan(100);
      await runner.close();
    });
  });
});
