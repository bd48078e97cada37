import { describe, expect, it } from '@jest/globals';
import { idsOf, recordJobEvents, useRunners } from '../helpers/e2e.js';
import { nextEvent } from '../helpers/events.js';

const runners = useRunners();

describe('Runner', () => {
  describe('when a job succeeds', () => {
    it('resolves run() with the return value of a sync task', async () => {
      const runner = runners.runner();
      expect(await runner.run('add', 2, 40)).toBe(42);
      await runner.close();
    });

    it('resolves run() with the awaited value of an async task', async () => {
      const runner = runners.runner();
      expect(await runner.run('sleep', 5)).toBe(5);
      await runner.close();
    });

    it('resolves the handle of submit() with the result', async () => {
      const runner = runners.runner();
      const job = await runner.submit('add', [1, 2]);
      expect(await job.result).toBe(3);
      await runner.close();
    });

    it('carries object arguments and results there and back intact', async () => {
      const runner = runners.runner();
      const value = {
        text: 'baozi',
        list: [1, 'two', null, { three: 3 }],
        when: new Date(0),
        map: new Map([['k', new Set([1, 2])]]),
        big: 10n ** 20n,
        bytes: new Uint8Array([1, 2, 3]),
        nothing: undefined,
      };
      const copy = await runner.run('echo', value);
      expect(copy).toEqual(value);
      expect(copy).not.toBe(value);
      await runner.close();
    });

    it('runs many jobs at once and gives each its own result', async () => {
      const runner = runners.runner();
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => runner.run('add', i, i)));
      expect(results).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
      await runner.close();
    });
  });

  describe('JobHandle', () => {
    it('has a unique id and the task name', async () => {
      const runner = runners.runner();
      const jobs = await Promise.all(Array.from({ length: 10 }, () => runner.submit('add', [1, 1])));
      expect(new Set(jobs.map((job) => job.id)).size).toBe(10);
      for (const job of jobs) {
        expect(typeof job.id).toBe('string');
        expect(job.name).toBe('add');
      }
      await Promise.all(jobs.map((job) => job.result));
      await runner.close();
    });

    it('moves from queued to running to succeeded', async () => {
      const runner = runners.runner();
      const records = recordJobEvents(runner);
      const job = await runner.submit('sleep', [20]);
      expect(job.state).toBe('running');
      await job.result;
      expect(job.state).toBe('succeeded');
      expect(records.map(({ event, state }) => [event, state])).toEqual([
        ['queued', 'queued'],
        ['running', 'running'],
        ['succeeded', 'succeeded'],
      ]);
      await runner.close();
    });

    it('records queuedAt <= startedAt <= finishedAt and attempt 1', async () => {
      const runner = runners.runner();
      const job = await runner.submit('sleep', [10]);
      await job.result;
      expect(job.attempt).toBe(1);
      expect(typeof job.queuedAt).toBe('number');
      expect(job.queuedAt).toBeGreaterThanOrEqual(job.submittedAt);
      expect(job.startedAt).toBeGreaterThanOrEqual(job.queuedAt!);
      expect(job.finishedAt).toBeGreaterThanOrEqual(job.startedAt!);
      // The task slept 10 ms between start and finish.
      expect(job.finishedAt! - job.startedAt!).toBeGreaterThanOrEqual(5);
      await runner.close();
    });
  });

  describe('events', () => {
    it('emits queued, running and succeeded for one job, in that order, each with { job }', async () => {
      const runner = runners.runner();
      const order: string[] = [];
      const payloads: Record<string, { job: unknown; result?: unknown }> = {};
      for (const name of ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const) {
        runner.on(name, (payload: { job: unknown }) => {
          order.push(name);
          payloads[name] = payload;
        });
      }
      const succeeded = nextEvent(runner, 'succeeded');
      const job = await runner.submit('add', [2, 3]);
      await succeeded;
      expect(order).toEqual(['queued', 'running', 'succeeded']);
      expect(payloads.queued!.job).toBe(job);
      expect(payloads.running!.job).toBe(job);
      expect(payloads.succeeded!.job).toBe(job);
      expect(payloads.succeeded!.result).toBe(5);
      await runner.close();
    });

    it('emits failed with the job and the error its result rejects with', async () => {
      const runner = runners.runner();
      const failed = nextEvent<{ job: unknown; error: unknown }>(runner, 'failed');
      const job = await runner.submit('throwError', ['nope']);
      const error = await job.result.catch((e: unknown) => e);
      const event = await failed;
      expect(event.job).toBe(job);
      expect(event.error).toBe(error);
      await runner.close();
    });

    it('keeps each job’s events in order when many run at once', async () => {
      const runner = runners.runner();
      const records = recordJobEvents(runner);
      const jobs = await Promise.all(Array.from({ length: 8 }, (_, i) => runner.submit('sleep', [i % 3])));
      await Promise.all(jobs.map((job) => job.result));
      for (const job of jobs) {
        expect(records.filter((record) => record.jobId === job.id).map((record) => record.event)).toEqual(['queued', 'running', 'succeeded']);
      }
      expect(idsOf(records, 'succeeded')).toHaveLength(8);
      await runner.close();
    });
  });

  describe('jobContext() inside a task', () => {
    it('gives the job id of the handle, the task name and attempt 1', async () => {
      const runner = runners.runner();
      const job = await runner.submit('context', []);
      expect(await job.result).toEqual({ jobId: job.id, task: 'context', attempt: 1, isAborted: false });
      await runner.close();
    });

    it('still gives the job id after an await', async () => {
      const runner = runners.runner();
      const jobs = await Promise.all(Array.from({ length: 6 }, () => runner.submit('contextAfterAwait', [])));
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual(jobs.map((job) => job.id));
      await runner.close();
    });
  });

  describe('thread setup', () => {
    it('passes workerData through to the threads', async () => {
      const workerData = { region: 'eu', limits: [1, 2, 3] };
      const runner = runners.runner({ workerData });
      expect(await runner.run('readWorkerData')).toEqual(workerData);
      await runner.close();
    });

    it('uses env as the whole process.env of the threads', async () => {
      const runner = runners.runner({ env: { BAOZI_FLAVOUR: 'pork' } });
      expect(await runner.run('readEnv', 'BAOZI_FLAVOUR')).toBe('pork');
      expect(await runner.run('readEnv', 'PATH')).toBeUndefined();
      await runner.close();
    });

    it('gives the threads a copy of process.env by default', async () => {
      const runner = runners.runner();
      expect(await runner.run('readEnv', 'PATH')).toBe(process.env.PATH);
      await runner.close();
    });
  });

  describe('stats()', () => {
    it('counts succeeded, failed and cancelled jobs, and summarizes wait and run times of jobs that ran', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const good = await Promise.all([runner.submit('sleep', [20]), runner.submit('add', [1, 2]), runner.submit('add', [3, 4])]);
      const bad = await Promise.all([runner.submit('throwError', ['x']), runner.submit('rejectAsync', ['y'])]);
      const dropped = await runner.submit('add', [5, 6]);
      // One thread, busy with the sleep: the last job is still on the table.
      expect(dropped.state).toBe('queued');
      expect(dropped.cancel('not needed')).toBe(true);
      await Promise.all(good.map((job) => job.result));
      await Promise.all(bad.map((job) => job.result.catch(() => undefined)));
      await runner.onIdle();

      const stats = runner.stats();
      expect(stats).toMatchObject({ succeeded: 3, failed: 2, cancelled: 1, queued: 0, running: 0, blocked: 0 });
      expect(stats.waitTime.count).toBe(5);
      expect(stats.runTime.count).toBe(5);
      expect(stats.runTime.min).toBeGreaterThanOrEqual(0);
      expect(stats.runTime.max).toBeGreaterThanOrEqual(15);
      expect(stats.runTime.min).toBeLessThanOrEqual(stats.runTime.p50);
      expect(stats.runTime.p50).toBeLessThanOrEqual(stats.runTime.max);
      // Jobs behind the sleep waited on the table for it.
      expect(stats.waitTime.max).toBeGreaterThanOrEqual(15);
      expect(stats.threads).toBeGreaterThanOrEqual(1);
      await runner.close();
    });

    it('starts at zero', async () => {
      const runner = runners.runner();
      expect(runner.stats()).toMatchObject({
        queued: 0,
        running: 0,
        blocked: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 0,
        waitTime: { count: 0 },
        runTime: { count: 0 },
      });
      await runner.close();
    });
  });
});
