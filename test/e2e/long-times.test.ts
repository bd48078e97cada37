/**
 * Times past 2^31−1 ms (about 24.8 days), which Node's timers would fire
 * after 1 ms (issue 16 B): every time option is waited out in full.
 */
import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from 'baozi';
import { holdThread, untilRetrying, useRunners } from '../helpers/e2e.js';
import { testRunner } from '../helpers/runner.js';

const runners = useRunners();

const DAY = 24 * 60 * 60 * 1000;
const LONG = 25 * DAY;

describe('Runner', () => {
  describe('given times longer than a Node timer can wait', () => {
    it('runs a job to its end under a 25-day timeout and soft timeout', async () => {
      const runner = runners.runner();
      const job = await runner.submit('sleepThenReportAborted', [100], { timeout: LONG + DAY, softTimeout: LONG });
      expect(await job.result).toBe(false);
      await runner.close();
    });

    it.each([
      ['expiresIn', () => ({ expiresIn: LONG })],
      ['expiresAt', () => ({ expiresAt: new Date(Date.now() + 30 * DAY) })],
    ])('keeps a queued job with %s 25 to 30 days ahead until it runs', async (_, options) => {
      const runner = runners.runner({ maxThreads: 1 });
      const held = await holdThread(runner);
      const job = await runner.submit('add', [1, 2], options());
      expect(job.state).toBe('queued');
      // Behind the held job, long enough for an overflowing timer to have fired.
      await runner.submit('sleep', [50]);
      held.open();
      expect(await job.result).toBe(3);
      await runner.close();
    });

    it.each([
      ['delay', { max: 1, delay: 3e9, maxDelay: 4e9, backoff: 'fixed', jitter: 'none' }],
      ['maxDelay', { max: 1, delay: 4e9, maxDelay: 3e9, jitter: 'none' }],
    ] as const)('waits a retry %s of 3e9 ms out: the job is still retrying after later jobs ran', async (_, retries) => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('throwError', ['once'], { retries });
      await untilRetrying(runner, job);
      expect(await runner.run('sleep', 50)).toBe(50);
      expect(job.state).toBe('retrying');
      expect(job.attempt).toBe(2);
      expect(await runner.close()).toMatchObject({ cancelled: 1, failed: 0 });
      expect(job.state).toBe('cancelled');
    });

    it('lets a running job finish under a close deadline of 25 days', async () => {
      const runner = runners.runner();
      const job = await runner.submit('sleep', [150]);
      expect(await runner.close({ deadlineMs: LONG })).toMatchObject({ succeeded: 1, cancelled: 0 });
      expect(job.state).toBe('succeeded');
    });

    it('gives a cancelled running job a cancelGraceMs of 3e9 ms: its thread finishes it and is not terminated', async () => {
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 3e9 });
      const before = await runner.run('threadId');
      const controller = runners.abortController();
      const job = await runner.submit('sleep', [150], { signal: controller.signal });
      expect(job.state).toBe('running');
      controller.abort('enough');
      expect(job.state).toBe('cancelled');
      // Runs once the cancelled run's thread is free: the same thread, not a replacement.
      expect(await runner.run('threadId')).toBe(before);
      await runner.close();
    });

    it('schedules a job with a delay of 3e9 ms (it waits; close cancels it)', async () => {
      const runner = runners.runner();
      const job = await runner.submit('add', [1, 1], { delay: 3e9 });
      expect(job.state).toBe('scheduled');
      expect(await runner.run('sleep', 20)).toBe(20);
      expect(job.state).toBe('scheduled');
      expect(await runner.close()).toMatchObject({ cancelled: 1 });
    });

    it('refuses an idleTimeout past 2^31-1 ms, which the pool cannot wait', () => {
      expect(() => testRunner({ idleTimeout: 2 ** 31 })).toThrow(InvalidOptionError);
    });
  });
});

