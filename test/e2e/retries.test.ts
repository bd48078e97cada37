import { describe, expect, it } from '@jest/globals';
import { CancelledError, RetriesExhaustedError, RunnerClosedError, TaskError, TimeoutError, WorkerCrashedError, type JobHandle, type Runner, type RunError } from 'baozi';
import { gate, rejectionOf, untilRetrying, useRunners } from '../helpers/e2e.js';
import { nextEvent } from '../helpers/events.js';
import type { TestTasks } from '../helpers/runner.js';

const runners = useRunners();


interface Retrying {
  job: JobHandle;
  error: unknown;
  delay: number;
  /** When the event fired (epoch ms, same clock as the job's timestamps). */
  at: number;
}

function recordRetrying(runner: Runner<TestTasks>): Retrying[] {
  const records: Retrying[] = [];
  runner.on('retrying', ({ job, error, delay }) => records.push({ job, error, delay, at: performance.timeOrigin + performance.now() }));
  return records;
}

/** Each job event of `job` as `[event, attempt]`, in order. */
function recordEventsOf(runner: Runner<TestTasks>): (job: JobHandle) => [string, number][] {
  const records: { job: JobHandle; event: string; attempt: number }[] = [];
  for (const event of ['scheduled', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'expired'] as const) {
    runner.on(event, ({ job }: { job: JobHandle }) => records.push({ job, event, attempt: job.attempt }));
  }
  return (job) => records.filter((record) => record.job === job).map(({ event, attempt }) => [event, attempt]);
}

function expectFlakyFailure(error: unknown, job: JobHandle, attempt: number): void {
  expect(error).toBeInstanceOf(TaskError);
  const failure = error as TaskError & { cause: { code: string; call: number } };
  expect(failure.code).toBe('BAOZI_TASK_FAILED');
  expect(failure.jobId).toBe(job.id);
  expect(failure.attempt).toBe(attempt);
  expect(failure.cause.code).toBe('FLAKY');
  expect(failure.cause.call).toBe(attempt);
}

describe('Runner', () => {
  describe('when a job with a retry policy fails', () => {
    it('CR9: runs it again through the table with the same handle until it succeeds, its attempt counting up', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const eventsOf = recordEventsOf(runner);
      const retrying = recordRetrying(runner);
      const job = await runner.submit('failTimes', ['twice', 2], { retries: { max: 3, backoff: 'fixed', delay: 10, jitter: 'none' } });

      expect(await job.result).toBe(3);
      expect(job.state).toBe('succeeded');
      expect(job.attempt).toBe(3);
      expect(job.errors).toHaveLength(2);
      job.errors.forEach((error, i) => expectFlakyFailure(error, job, i + 1));
      expect(retrying.map(({ job, error, delay }) => ({ job, error, delay }))).toEqual([
        { job, error: job.errors[0], delay: 10 },
        { job, error: job.errors[1], delay: 10 },
      ]);
      expect(retrying[0]!.job).toBe(job);
      expect(eventsOf(job)).toEqual([
        ['queued', 1],
        ['running', 1],
        ['retrying', 2],
        ['queued', 2],
        ['running', 2],
        ['retrying', 3],
        ['queued', 3],
        ['running', 3],
        ['succeeded', 3],
      ]);
      expect(runner.getJob(job.id)).toBe(job);
      expect(runner.stats()).toMatchObject({ succeeded: 1, failed: 0, retried: 2, scheduled: 0, queued: 0, running: 0 });
      await runner.close();
    });

    it('waits exactly the fixed delay (no jitter unless asked for) before putting the job back on the table', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retrying = recordRetrying(runner);
      const requeuedAt: number[] = [];
      runner.on('queued', ({ job }) => requeuedAt.push(job.queuedAt!));
      const job = await runner.submit('failTimes', ['fixed', 2], { retries: { max: 2, backoff: 'fixed', delay: 50 } });
      expect(await job.result).toBe(3);
      expect(retrying.map(({ delay }) => delay)).toEqual([50, 50]);
      // The backoff timer starts just before the retrying event: allow for a busy machine in between.
      expect(requeuedAt[1]! - retrying[0]!.at).toBeGreaterThanOrEqual(40);
      expect(requeuedAt[2]! - retrying[1]!.at).toBeGreaterThanOrEqual(40);
      await runner.close();
    });

    it('CR9: doubles an exponential delay after each failure and caps it at maxDelay', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retrying = recordRetrying(runner);
      const job = await runner.submit('failTimes', ['exponential', 4], {
        retries: { max: 4, backoff: 'exponential', delay: 10, maxDelay: 25, jitter: 'none' },
      });
      expect(await job.result).toBe(5);
      expect(retrying.map(({ delay }) => delay)).toEqual([10, 20, 25, 25]);
      await runner.close();
    });

    it('CR9: draws each delay between 0 and the computed backoff with full jitter (the default)', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retrying = recordRetrying(runner);
      const job = await runner.submit('failTimes', ['jitter', 3], { retries: { max: 3, delay: 20 } });
      expect(await job.result).toBe(4);
      const delays = retrying.map(({ delay }) => delay);
      expect(delays).toHaveLength(3);
      [20, 40, 80].forEach((bound, i) => {
        expect(Number.isInteger(delays[i])).toBe(true);
        expect(delays[i]).toBeGreaterThanOrEqual(0);
        expect(delays[i]).toBeLessThanOrEqual(bound);
      });
      await runner.close();
    });

    it('CR9: rejects with RetriesExhaustedError keeping every attempt’s error once max retries have failed', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const failed = nextEvent<{ job: JobHandle; error: unknown }>(runner, 'failed');
      const job = await runner.submit('failTimes', ['always', 99], { retries: { max: 2, backoff: 'fixed', delay: 0 } });
      const error = await rejectionOf(job.result);

      expect(error).toBeInstanceOf(RetriesExhaustedError);
      expect(error.code).toBe('BAOZI_RETRIES_EXHAUSTED');
      expect(error.attempts).toBe(3);
      expect(error.jobId).toBe(job.id);
      expect(error.task).toBe('failTimes');
      expect(error.attempt).toBe(3);
      expect(error.errors).toHaveLength(3);
      error.errors.forEach((attemptError: unknown, i: number) => {
        expectFlakyFailure(attemptError, job, i + 1);
        expect(attemptError).toBe(job.errors[i]);
      });
      expect(error.cause).toBe(error.errors[2]);
      expect(job.state).toBe('failed');
      expect(job.attempt).toBe(3);
      expect((await failed).error).toBe(error);
      expect(runner.stats()).toMatchObject({ failed: 1, retried: 2, succeeded: 0 });
      await runner.close();
    });

    it('does not retry with max 0: it rejects with the task’s own error', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retrying = recordRetrying(runner);
      const job = await runner.submit('failTimes', ['no-retries', 1], { retries: { max: 0, delay: 0 } });
      expectFlakyFailure(await rejectionOf(job.result), job, 1);
      expect(job.attempt).toBe(1);
      expect(job.errors).toHaveLength(1);
      expect(retrying).toEqual([]);
      await runner.close();
    });

    it('CR10: asks retryOn with the error and the attempt that failed, and stops with that error once it says no', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const asked: [string, number][] = [];
      const retryOn = (error: RunError, attempt: number): boolean => {
        asked.push([error.code, attempt]);
        return attempt < 2;
      };
      const job = await runner.submit('failTimes', ['retry-on', 5], { retries: { max: 5, delay: 0, retryOn } });
      const error = await rejectionOf(job.result);
      expectFlakyFailure(error, job, 2);
      expect(error).not.toBeInstanceOf(RetriesExhaustedError);
      expect(asked).toEqual([
        ['BAOZI_TASK_FAILED', 1],
        ['BAOZI_TASK_FAILED', 2],
      ]);
      expect(job.errors).toHaveLength(2);
      await runner.close();
    });

    it('CR7: does not retry a crashed thread by default', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retrying = recordRetrying(runner);
      const job = await runner.submit('exit', [1], { retries: { max: 3, delay: 0 } });
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.code).toBe('BAOZI_WORKER_CRASHED');
      expect(job.attempt).toBe(1);
      expect(retrying).toEqual([]);
      await runner.close();
    });

    it('does not retry a hard timeout by default', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      await runner.run('add', 0, 0);
      const retrying = recordRetrying(runner);
      const job = await runner.submit('spin', [], { timeout: 100, retries: { max: 3, delay: 0 } });
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.code).toBe('BAOZI_TIMEOUT');
      expect(job.attempt).toBe(1);
      expect(retrying).toEqual([]);
      expect(await runner.run('add', 1, 1)).toBe(2);
      await runner.close();
    });

    it('CR10: retries crashes that retryOn accepts, on fresh threads, until the retries run out', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retryOn = (error: RunError): boolean => error.code === 'BAOZI_WORKER_CRASHED';
      const job = await runner.submit('exit', [3], { retries: { max: 2, delay: 0, retryOn } });
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(RetriesExhaustedError);
      expect(error.attempts).toBe(3);
      expect(error.cause).toBeInstanceOf(WorkerCrashedError);
      expect(error.cause.exitCode).toBe(3);
      for (const attemptError of error.errors) expect(attemptError).toBeInstanceOf(WorkerCrashedError);
      // The pool goes on.
      expect(await runner.run('add', 2, 3)).toBe(5);
      await runner.close();
    });
  });

  describe('when retries are set per task in defaults', () => {
    it('applies them to jobs that set none', async () => {
      const runner = runners.runner({ maxThreads: 1, defaults: { failTimes: { retries: { max: 2, delay: 0 } } } });
      expect(await runner.run('failTimes', 'from-defaults', 2)).toBe(3);
      await runner.close();
    });

    it('lets a job’s own retries win over them', async () => {
      const runner = runners.runner({ maxThreads: 1, defaults: { failTimes: { retries: { max: 1, delay: 0 } } } });
      const own = await runner.submit('failTimes', ['own', 3], { retries: { max: 3, delay: 0 } });
      expect(await own.result).toBe(4);

      const defaulted = await runner.submit('failTimes', ['defaulted', 3]);
      const error = await rejectionOf(defaulted.result);
      expect(error).toBeInstanceOf(RetriesExhaustedError);
      expect(error.attempts).toBe(2);
      await runner.close();
    });

    it('leaves other tasks without retries', async () => {
      const runner = runners.runner({ maxThreads: 1, defaults: { failTimes: { retries: { max: 2, delay: 0 } } } });
      const job = await runner.submit('throwError', ['once only']);
      expect(await rejectionOf(job.result)).toBeInstanceOf(TaskError);
      expect(job.attempt).toBe(1);
      await runner.close();
    });
  });

  describe('when a task asks for a retry itself', () => {
    it('runs it again after the delay it asked for, keeping each reason as that attempt’s error', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retrying = recordRetrying(runner);
      const job = await runner.submit('askRetry', [10]);
      expect(await job.result).toBe(3);
      expect(job.attempt).toBe(3);
      expect(retrying.map(({ delay }) => delay)).toEqual([10, 10]);
      expect(job.errors).toHaveLength(2);
      job.errors.forEach((error, i) => {
        expect(error).toBeInstanceOf(TaskError);
        expect((error as TaskError).attempt).toBe(i + 1);
        expect((error as TaskError).cause).toBe(`asked at attempt ${i + 1}`);
      });
      expect(runner.stats()).toMatchObject({ succeeded: 1, retried: 2 });
      await runner.close();
    });

    it('uses the job’s backoff when it gives no delay', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const retrying = recordRetrying(runner);
      const job = await runner.submit('askRetry', [undefined], { retries: { max: 5, backoff: 'fixed', delay: 15, jitter: 'none' } });
      expect(await job.result).toBe(3);
      expect(retrying.map(({ delay }) => delay)).toEqual([15, 15]);
      await runner.close();
    });

    it('is allowed 3 retries without a policy, then rejects with RetriesExhaustedError', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('askRetry', [0, 100]);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(RetriesExhaustedError);
      expect(error.code).toBe('BAOZI_RETRIES_EXHAUSTED');
      expect(error.attempts).toBe(4);
      expect(error.errors).toHaveLength(4);
      expect(error.cause).toBe(error.errors[3]);
      expect(error.cause.cause).toBe('asked at attempt 4');
      expect(job.errors).toEqual(error.errors);
      await runner.close();
    });

    it('is limited by retries.max when the job has a policy', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('askRetry', [0, 100], { retries: { max: 1 } });
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(RetriesExhaustedError);
      expect(error.attempts).toBe(2);
      await runner.close();
    });
  });

  describe('when a job waiting for its retry is cancelled', () => {
    it('CA5: rejects it with CancelledError at once and starts no further attempt', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const eventsOf = recordEventsOf(runner);
      const job = await runner.submit('failTimes', ['cancel-me', 5], { retries: { max: 5, backoff: 'fixed', delay: 60_000, jitter: 'none' } });
      await untilRetrying(runner, job);
      expect(job.state).toBe('retrying');
      expect(runner.stats().scheduled).toBe(1);

      expect(job.cancel('no more')).toBe(true);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe('no more');
      expect(job.state).toBe('cancelled');
      // Its backoff timer is gone with it.
      expect(runner.stats()).toMatchObject({ scheduled: 0, cancelled: 1 });
      await runner.onIdle();
      expect(eventsOf(job).map(([event]) => event)).toEqual(['queued', 'running', 'retrying', 'cancelled']);
      await runner.close();
    });
  });

  describe('when the runner closes', () => {
    it('cancels a job waiting for its retry, with RunnerClosedError as the cause', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('failTimes', ['closing', 5], { retries: { max: 5, backoff: 'fixed', delay: 60_000, jitter: 'none' } });
      await untilRetrying(runner, job);
      await runner.close();
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBeInstanceOf(RunnerClosedError);
      expect(job.attempt).toBe(2);
    });

    it('does not retry a job that fails while it drains', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { port, open } = gate();
      // The job fails only once the runner is already closing.
      const job = await runner.submit('waitForMessage', [port], { transferList: [port] });
      const flaky = await runner.submit('failTimes', ['drain', 5], { retries: { max: 5, delay: 0 } });
      const closing = runner.close();
      open();
      await closing;
      expect(await job.result).toBe('opened');
      expectFlakyFailure(await rejectionOf(flaky.result), flaky, 1);
      expect(flaky.attempt).toBe(1);
    });

    it('does not grant a retry a task asks for while it drains, so close() does not wait for its delay', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const { port, open } = gate();
      const job = await runner.submit('waitForMessage', [port], { transferList: [port] });
      const asking = await runner.submit('askRetry', [60_000]);
      const closing = runner.close();
      open();
      const closedAt = Date.now();
      await closing;
      expect(Date.now() - closedAt).toBeLessThan(10_000);
      expect(await job.result).toBe('opened');
      const error = await rejectionOf(asking.result);
      expect(error).toBeInstanceOf(TaskError);
      expect(error.cause).toBe('asked at attempt 1');
      expect(asking.attempt).toBe(1);
      expect(asking.state).toBe('failed');
    });
  });

  describe('when a retried job goes back on the table', () => {
    it('BP5: keeps its priority: it starts before lower-priority jobs that waited longer', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const started: string[] = [];
      runner.on('running', ({ job }) => started.push(job.id));
      const first = gate();
      const holder = await runner.submit('waitForMessage', [first.port], { transferList: [first.port], jobId: 'holder' });
      const urgent = await runner.submit('failTimes', ['urgent', 1], { priority: 5, jobId: 'urgent', retries: { max: 1, backoff: 'fixed', delay: 10 } });
      const second = gate();
      const blocker = await runner.submit('waitForMessage', [second.port], { transferList: [second.port], jobId: 'blocker' });
      const low = await runner.submit('add', [1, 1], { jobId: 'low' });

      // urgent runs and fails; blocker takes the thread while urgent waits for its retry.
      const requeued = new Promise<void>((resolve) => runner.on('queued', ({ job }) => job === urgent && job.attempt === 2 && resolve()));
      first.open();
      await requeued;
      expect(blocker.state).toBe('running');
      expect(low.state).toBe('queued');

      second.open();
      expect(await urgent.result).toBe(2);
      expect(await low.result).toBe(2);
      expect(await holder.result).toBe('opened');
      expect(started).toEqual(['holder', 'urgent', 'blocker', 'urgent', 'low']);
      await runner.close();
    });
  });
});
