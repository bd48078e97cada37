import { describe, expect, it } from '@jest/globals';
import type { JobHandle, JobState, Runner } from 'baozi';
import { holdThread, rejectionOf, untilRetrying, useRunners } from '../helpers/e2e.js';
import type { TestTasks } from '../helpers/runner.js';

const runners = useRunners();


const JOB_EVENTS = ['scheduled', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
const TERMINAL: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'expired']);
/** The state machine of `JobState`: which event may follow which. */
const NEXT: Readonly<Record<string, readonly string[]>> = {
  start: ['scheduled', 'queued'],
  scheduled: ['queued', 'cancelled', 'expired'],
  queued: ['running', 'cancelled', 'expired'],
  running: ['succeeded', 'failed', 'retrying', 'cancelled'],
  retrying: ['queued', 'cancelled', 'expired'],
};

interface Transition {
  job: JobHandle;
  event: string;
  /** The job's state and attempt as the listener saw them. */
  state: JobState;
  attempt: number;
}

/** Records every job event of `runner`; `lifeOf(job)` gives that job's events and attempts, in order. */
function recordLives(runner: Runner<TestTasks>): { transitions: Transition[]; lifeOf(job: JobHandle): [string, number][] } {
  const transitions: Transition[] = [];
  for (const event of JOB_EVENTS) {
    runner.on(event, ({ job }: { job: JobHandle }) => transitions.push({ job, event, state: job.state, attempt: job.attempt }));
  }
  return {
    transitions,
    lifeOf: (job) => transitions.filter((transition) => transition.job === job).map(({ event, attempt }) => [event, attempt]),
  };
}

/**
 * Expects each job's events to walk the state machine: one event per
 * transition, naming the state the job is in, its attempt never going down,
 * and exactly one terminal event, the last.
 */
function expectValidLives(transitions: readonly Transition[]): void {
  const jobs = new Set(transitions.map(({ job }) => job));
  for (const job of jobs) {
    const life = transitions.filter((transition) => transition.job === job);
    let previous = 'start';
    let attempt = 0;
    for (const transition of life) {
      expect({ after: previous, event: transition.event, allowed: NEXT[previous]?.includes(transition.event) ?? false }).toEqual({
        after: previous,
        event: transition.event,
        allowed: true,
      });
      expect(transition.state).toBe(transition.event);
      expect(transition.attempt).toBeGreaterThanOrEqual(attempt);
      previous = transition.event;
      attempt = transition.attempt;
    }
    expect(TERMINAL.has(previous)).toBe(true);
    expect(job.state).toBe(previous);
  }
}

describe('JobHandle', () => {
  describe('on each path through its states, one event per transition', () => {
    it('succeeds: queued, running, succeeded', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('add', [1, 2]);
      await job.result;
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['succeeded', 1],
      ]);
      expectValidLives(transitions);
    });

    it('fails: queued, running, failed', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('throwError', ['bad']);
      await rejectionOf(job.result);
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['failed', 1],
      ]);
      expectValidLives(transitions);
    });

    it('is retried, then succeeds: queued, running, retrying, queued, running, succeeded', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('failTimes', ['retry-then-succeed', 1], { retries: { max: 2, backoff: 'fixed', delay: 10 } });
      expect(await job.result).toBe(2);
      await runner.close();
      // `retrying` already counts the run to come.
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['retrying', 2],
        ['queued', 2],
        ['running', 2],
        ['succeeded', 2],
      ]);
      expectValidLives(transitions);
    });

    it('asks for a retry itself, then succeeds: the same path as a policy retry', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('askRetry', [0, 2]);
      expect(await job.result).toBe(2);
      await runner.close();
      expect(lifeOf(job).map(([event]) => event)).toEqual(['queued', 'running', 'retrying', 'queued', 'running', 'succeeded']);
      expectValidLives(transitions);
    });

    it('runs out of retries: queued, running, retrying, queued, running, failed', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('failTimes', ['retry-then-fail', 9], { retries: { max: 1, delay: 0 } });
      expect((await rejectionOf(job.result)).code).toBe('BAOZI_RETRIES_EXHAUSTED');
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['retrying', 2],
        ['queued', 2],
        ['running', 2],
        ['failed', 2],
      ]);
      expectValidLives(transitions);
    });

    it('is scheduled: scheduled, queued, running, succeeded', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('add', [2, 2], { delay: 20 });
      await job.result;
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['scheduled', 1],
        ['queued', 1],
        ['running', 1],
        ['succeeded', 1],
      ]);
      expectValidLives(transitions);
    });

    it('expires while queued: queued, expired', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const hold = await holdThread(runner);
      const job = await runner.submit('add', [1, 1], { expiresIn: 30 });
      expect((await rejectionOf(job.result)).code).toBe('BAOZI_EXPIRED');
      hold.open();
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['expired', 1],
      ]);
      expectValidLives(transitions);
    });

    it('expires while scheduled: scheduled, expired', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('add', [1, 1], { delay: 60_000, expiresIn: 30 });
      expect((await rejectionOf(job.result)).code).toBe('BAOZI_EXPIRED');
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['scheduled', 1],
        ['expired', 1],
      ]);
      expectValidLives(transitions);
    });

    it('expires while waiting for its retry: queued, running, retrying, expired', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('failTimes', ['expire-retrying', 9], { expiresIn: 200, retries: { max: 3, backoff: 'fixed', delay: 60_000, jitter: 'none' } });
      expect((await rejectionOf(job.result)).code).toBe('BAOZI_EXPIRED');
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['retrying', 2],
        ['expired', 2],
      ]);
      expectValidLives(transitions);
    });

    it('is cancelled while scheduled: scheduled, cancelled', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('add', [1, 1], { delay: 60_000 });
      job.cancel();
      await rejectionOf(job.result);
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['scheduled', 1],
        ['cancelled', 1],
      ]);
      expectValidLives(transitions);
    });

    it('is cancelled while queued: queued, cancelled', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const hold = await holdThread(runner);
      const job = await runner.submit('add', [1, 1]);
      job.cancel();
      await rejectionOf(job.result);
      hold.open();
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['cancelled', 1],
      ]);
      expectValidLives(transitions);
    });

    it('is cancelled while running: queued, running, cancelled', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('spin', []);
      expect(job.state).toBe('running');
      job.cancel();
      await rejectionOf(job.result);
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['cancelled', 1],
      ]);
      expectValidLives(transitions);
    });

    it('is cancelled while waiting for its retry: queued, running, retrying, cancelled', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('failTimes', ['cancel-retrying', 9], { retries: { max: 3, backoff: 'fixed', delay: 60_000, jitter: 'none' } });
      await untilRetrying(runner, job);
      job.cancel();
      await rejectionOf(job.result);
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['retrying', 2],
        ['cancelled', 2],
      ]);
      expectValidLives(transitions);
    });

    it('passes its hard timeout: queued, running, failed, and nothing after', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { transitions, lifeOf } = recordLives(runner);
      const job = await runner.submit('spin', [], { timeout: 100 });
      expect((await rejectionOf(job.result)).code).toBe('BAOZI_TIMEOUT');
      // The terminated thread's run ends after the job settled: it must report nothing.
      expect(await runner.run('add', 1, 1)).toBe(2);
      await runner.close();
      expect(lifeOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['failed', 1],
      ]);
      expectValidLives(transitions);
    });
  });

  describe('when many jobs take every path at once', () => {
    it('gives every job a valid life: allowed transitions, attempts never going down, one terminal event, last', async () => {
      const runner = runners.runner({ maxThreads: 2, capacity: 4, cancelGraceMs: 50 });
      const { transitions } = recordLives(runner);
      const jobs: JobHandle[] = [];
      for (let i = 0; i < 36; i++) {
        const key = `mixed-${i}`;
        const retries = { max: 2, backoff: 'fixed', delay: 5 } as const;
        switch (i % 9) {
          case 0:
            jobs.push(await runner.submit('add', [i, 1]));
            break;
          case 1:
            jobs.push(await runner.submit('throwError', [key]));
            break;
          case 2:
            jobs.push(await runner.submit('failTimes', [key, 1], { retries }));
            break;
          case 3:
            jobs.push(await runner.submit('failTimes', [key, 9], { retries }));
            break;
          case 4:
            jobs.push(await runner.submit('sleep', [5], { delay: 10 }));
            break;
          case 5:
            jobs.push(await runner.submit('sleep', [5], { expiresIn: 15 }));
            break;
          case 6: {
            const job = await runner.submit('sleep', [20]);
            jobs.push(job);
            setTimeout(() => job.cancel('mixed'), 10);
            break;
          }
          case 7:
            jobs.push(await runner.submit('askRetry', [2, 2]));
            break;
          case 8:
            jobs.push(await runner.submit('spin', [], { timeout: 30 }));
            break;
        }
      }
      await Promise.allSettled(jobs.map((job) => job.result));
      await runner.close();
      expect(jobs.every((job) => TERMINAL.has(job.state))).toBe(true);
      expect(new Set(transitions.map(({ job }) => job))).toEqual(new Set(jobs));
      expectValidLives(transitions);
      const { succeeded, failed, cancelled, expired } = runner.stats();
      expect(succeeded + failed + cancelled + expired).toBe(jobs.length);
    });
  });
});
