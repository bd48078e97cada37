/**
 * LS3 of RELIABILITY.md, scaled down to fit `npm test`: 1% of 2 000 jobs
 * kill their thread while producers wait for room most of the time.
 * Respawn rate limiting is not checked here (pending: the respawn backoff
 * work); the full-size soak is `npm run soak` (LS2).
 */
import { describe, expect, it } from '@jest/globals';
import { WorkerCrashedError, type JobHandle } from 'baozi';
import { useRunners } from '../helpers/e2e.js';

const runners = useRunners();

const PRODUCERS = 8;
const JOBS_EACH = 250;
const CRASH_EVERY = 100;

describe('Runner', () => {
  describe('in a crash storm', () => {
    it('LS3: settles every job, admits waiting producers in arrival order within a bound, and never has more threads than maxThreads', async () => {
      const runner = runners.runner({ capacity: 16, minThreads: 2, maxThreads: 2 });
      let mostThreads = 0;
      let mostBlocked = 0;
      const sample = (): void => {
        const { threads, blocked } = runner.stats();
        mostThreads = Math.max(mostThreads, threads);
        mostBlocked = Math.max(mostBlocked, blocked);
      };
      runner.on('failed', sample);
      runner.on('running', ({ job }) => job.name === 'exit' && sample());

      let tickets = 0;
      const admittedTickets: number[] = [];
      let longestWait = 0;
      const jobs: { job: JobHandle<unknown>; isCrash: boolean; n: number }[] = [];
      const produce = async (producer: number): Promise<void> => {
        for (let i = 0; i < JOBS_EACH; i++) {
          const n = producer * JOBS_EACH + i;
          const isCrash = n % CRASH_EVERY === CRASH_EVERY - 1;
          const ticket = tickets++;
          const calledAt = Date.now();
          const job = isCrash ? await runner.submit('exit', [1]) : await runner.submit('add', [n, 1]);
          admittedTickets.push(ticket);
          longestWait = Math.max(longestWait, Date.now() - calledAt);
          jobs.push({ job, isCrash, n });
        }
      };
      await Promise.all(Array.from({ length: PRODUCERS }, (_, producer) => produce(producer)));
      const outcomes = await Promise.allSettled(jobs.map(({ job }) => job.result));

      expect(jobs).toHaveLength(PRODUCERS * JOBS_EACH);
      let crashes = 0;
      outcomes.forEach((outcome, i) => {
        const { isCrash, n } = jobs[i]!;
        if (isCrash) {
          crashes++;
          expect(outcome.status).toBe('rejected');
          expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(WorkerCrashedError);
        } else {
          expect(outcome).toEqual({ status: 'fulfilled', value: n + 1 });
        }
      });
      expect(crashes).toBe((PRODUCERS * JOBS_EACH) / CRASH_EVERY);
      // Producers really waited for room, and were let in first come, first served.
      expect(mostBlocked).toBeGreaterThan(0);
      expect(admittedTickets).toEqual([...admittedTickets].sort((a, b) => a - b));
      expect(longestWait).toBeLessThan(10_000);
      expect(mostThreads).toBeLessThanOrEqual(2);
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ running: 0, queued: 0, blocked: 0, failed: crashes, succeeded: PRODUCERS * JOBS_EACH - crashes });
      expect(await runner.run('add', 1, 1)).toBe(2);
      await runner.close();
    });
  });
});
