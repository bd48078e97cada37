import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from 'baozi';
import { thrownBy, useRunners } from '../helpers/e2e.js';

const runners = useRunners();

/** Expects that no window of `per` ms holds more than `max` of the start times. */
function expectAtMostPerWindow(startedAt: number[], max: number, per: number): void {
  const starts = [...startedAt].sort((a, b) => a - b);
  // Any window of `per` ms that held max + 1 starts would hold some start i and start i + max.
  for (let i = 0; i + max < starts.length; i++) expect(starts[i + max]! - starts[i]!).toBeGreaterThanOrEqual(per);
}

describe('Runner', () => {
  describe('with a rate limit on a task', () => {
    it('starts no more than max jobs of it in any window of per milliseconds', async () => {
      const runner = runners.runner({ maxThreads: 2, rateLimits: { add: { max: 3, per: 150 } } });
      const started: string[] = [];
      runner.on('running', ({ job }) => started.push(job.id));
      const jobs = await Promise.all(Array.from({ length: 10 }, (_, i) => runner.submit('add', [i, 1])));
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));

      const startedAt = jobs.map((job) => job.startedAt!);
      expectAtMostPerWindow(startedAt, 3, 150);
      // Ten starts at three per window need at least three more windows after the first.
      expect(Math.max(...startedAt) - Math.min(...startedAt)).toBeGreaterThanOrEqual(450);
      // Held-back jobs keep their order.
      expect(started).toEqual(jobs.map((job) => job.id));
      await runner.close();
    });

    it("reads '5/s' as five starts per second", async () => {
      const runner = runners.runner({ maxThreads: 2, rateLimits: { add: '5/s' } });
      const jobs = await Promise.all(Array.from({ length: 6 }, (_, i) => runner.submit('add', [i, 0])));
      await Promise.all(jobs.map((job) => job.result));
      const startedAt = jobs.map((job) => job.startedAt!);
      expectAtMostPerWindow(startedAt, 5, 1000);
      // The sixth waited for the first to leave the window.
      expect(startedAt[5]! - startedAt[0]!).toBeGreaterThanOrEqual(1000);
      expect(startedAt[5]! - startedAt[0]!).toBeLessThan(5000);
      await runner.close();
    });

    it('lets jobs of other tasks pass the ones it holds back', async () => {
      const runner = runners.runner({ maxThreads: 2, rateLimits: { sleep: { max: 1, per: 60_000 } } });
      const limited = await Promise.all([runner.submit('sleep', [1]), runner.submit('sleep', [2]), runner.submit('sleep', [3])]);
      const others = await Promise.all([runner.submit('add', [1, 1]), runner.submit('add', [2, 2]), runner.submit('add', [3, 3])]);

      expect(await Promise.all(others.map((job) => job.result))).toEqual([2, 4, 6]);
      expect(await limited[0]!.result).toBe(1);
      // The others are held back on the table, in their order, not failed.
      expect(limited.slice(1).map((job) => job.state)).toEqual(['queued', 'queued']);
      expect(runner.stats()).toMatchObject({ queued: 2, running: 0, succeeded: 4 });

      await runner.close({ drain: 'none' });
      for (const job of limited.slice(1)) expect(job.state).toBe('cancelled');
    });

    it('counts a retry as a new start', async () => {
      const runner = runners.runner({ maxThreads: 1, rateLimits: { failTimes: { max: 1, per: 150 } } });
      const job = await runner.submit('failTimes', ['rate-limited', 1], { retries: { max: 1, backoff: 'fixed', delay: 0 } });
      const startedAt: number[] = [];
      runner.on('running', ({ job: started }) => started === job && startedAt.push(started.startedAt!));
      const firstStart = job.startedAt!;
      expect(await job.result).toBe(2);
      expect(startedAt).toHaveLength(1);
      expect(startedAt[0]! - firstStart).toBeGreaterThanOrEqual(150);
      await runner.close();
    });
  });

  describe('with a bad rate limit', () => {
    it.each([['5/x'], ['five per second'], [{ max: 0, per: 1000 }], [{ max: 5 }], [{ max: 5, per: 1000, burst: 2 }]])(
      'throws InvalidOptionError for %j and starts no thread',
      (limit) => {
        const error = thrownBy(() => runners.runner({ rateLimits: { add: limit as never } }));
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error.code).toBe('BAOZI_INVALID_OPTION');
        expect(error.option).toMatch(/^rateLimits\.add/);
      },
    );
  });
});
