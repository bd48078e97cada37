import { describe, expect, it } from '@jest/globals';
import { CancelledError, InvalidOptionError, TaskError, TimeoutError, type JobHandle, type RunnerStats } from 'baozi';
import { holdThread, rejectionOf, useRunners } from '../helpers/e2e.js';
import { nextEvent } from '../helpers/events.js';

const runners = useRunners();

/** Milliseconds the job's last run took, from start to settle. */
function runTimeOf(job: JobHandle): number {
  return job.finishedAt! - job.startedAt!;
}

describe('Runner', () => {
  describe('when a job has a hard timeout', () => {
    it('TO1: fails a CPU-bound job with TimeoutError kind hard, terminates its thread, and the pool goes on', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const submittedAt = Date.now();
      const job = await runner.submit('spin', [], { timeout: 100 });
      const error = await rejectionOf(job.result);

      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.code).toBe('BAOZI_TIMEOUT');
      expect(error.kind).toBe('hard');
      expect(error.limitMs).toBe(100);
      expect(error.jobId).toBe(job.id);
      expect(error.attempt).toBe(1);
      expect(job.state).toBe('failed');
      expect(runTimeOf(job)).toBeGreaterThanOrEqual(95);
      expect(Date.now() - submittedAt).toBeLessThan(2000);

      // A new thread replaced the one that spun.
      const after = await runner.run('threadId');
      expect(after).not.toBe(before);
      expect(await runner.run('add', 20, 22)).toBe(42);
      expect(runner.stats()).toMatchObject({ failed: 1, running: 0 });
      await runner.close();
    });

    it('counts the job out of running by the time its rejection and its failed event are heard, while its thread is still being terminated', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      await runner.run('add', 0, 0);
      const atFailed: RunnerStats[] = [];
      runner.on('failed', () => atFailed.push(runner.stats()));
      const job = await runner.submit('spin', [], { timeout: 100 });
      const atRejection = await job.result.then(
        () => undefined,
        () => runner.stats(),
      );

      expect(atFailed).toEqual([expect.objectContaining({ running: 0, failed: 1, queued: 0 })]);
      expect(atRejection).toMatchObject({ running: 0, failed: 1, queued: 0 });
      await runner.close();
    });

    it('leaves the job on the other thread alone', async () => {
      const runner = runners.runner({ maxThreads: 2 });
      const other = await holdThread(runner);
      const job = await runner.submit('spin', [], { timeout: 100 });
      expect(await rejectionOf(job.result)).toBeInstanceOf(TimeoutError);
      expect(other.job.state).toBe('running');
      other.open();
      expect(await other.job.result).toBe('released');
      await runner.close();
    });

    it('TO3: does not count the time the job waited on the table', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      await runner.run('add', 0, 0);
      // The only thread is busy for longer than the limit.
      const busy = await runner.submit('busyFor', [400]);
      const job = await runner.submit('sleep', [20], { timeout: 250 });
      expect(job.state).toBe('queued');
      expect(await job.result).toBe(20);
      expect(await busy.result).toBeGreaterThan(0);
      expect(job.startedAt! - job.queuedAt!).toBeGreaterThan(250);
      expect(job.state).toBe('succeeded');
      await runner.close();
    });

    it('applies a timeout set per task in defaults', async () => {
      const runner = runners.runner({ maxThreads: 1, defaults: { spin: { timeout: 100 } } });
      const error = await rejectionOf(runner.run('spin'));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.kind).toBe('hard');
      expect(error.limitMs).toBe(100);
      await runner.close();
    });

    it('lets a job that finishes in time succeed', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('sleep', [10], { timeout: 5000 });
      expect(await job.result).toBe(10);
      expect(job.state).toBe('succeeded');
      await runner.close();
    });
  });

  describe('when a result and the hard timeout come at about the same moment', () => {
    it('TO5: settles each job once, succeeded or timed out, and the pool goes on', async () => {
      const runner = runners.runner({ minThreads: 2, maxThreads: 2 });
      await Promise.all([runner.run('sleep', 1), runner.run('sleep', 1)]);
      // Each job's work ends right at its limit: whichever is seen first wins, and the other is dropped.
      const jobs = await Promise.all(Array.from({ length: 8 }, () => runner.submit('busyFor', [60], { timeout: 60 })));
      const outcomes = await Promise.allSettled(jobs.map((job) => job.result));
      outcomes.forEach((outcome, i) => {
        if (outcome.status === 'fulfilled') expect(jobs[i]!.state).toBe('succeeded');
        else {
          expect(outcome.reason).toBeInstanceOf(TimeoutError);
          expect(outcome.reason.kind).toBe('hard');
          expect(jobs[i]!.state).toBe('failed');
        }
      });
      await runner.onIdle();
      const stats = runner.stats();
      expect(stats.succeeded - 2 + stats.failed).toBe(8);
      expect(await runner.run('add', 1, 1)).toBe(2);
      await runner.close();
    });
  });

  describe('when a result arrives after its job has settled', () => {
    it('TO5: drops it and counts it in stats().lateResults', async () => {
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 30_000 });
      const controller = runners.abortController();
      const job = await runner.submit('cooperativeSleep', [30_000, 'return'], { signal: controller.signal });
      // A free slot starts the job as it is submitted.
      expect(job.state).toBe('running');
      controller.abort('enough');
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(CancelledError);
      // The task returns once told to stop; its thread is the only one, so
      // the next job runs after that late result came back.
      expect(await runner.run('add', 1, 2)).toBe(3);
      expect(job.state).toBe('cancelled');
      expect(runner.stats()).toMatchObject({ lateResults: 1, cancelled: 1, succeeded: 1 });
      await runner.close();
    });
  });

  describe('when a job has a soft timeout', () => {
    it('TO2: fires the task’s signal so it can clean up; a throw then fails the job with TimeoutError kind soft, the task error as cause', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const thread = await runner.run('threadId');
      const job = await runner.submit('cooperativeSleep', [30_000, 'throw'], { softTimeout: 100 });
      const error = await rejectionOf(job.result);

      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.code).toBe('BAOZI_TIMEOUT');
      expect(error.kind).toBe('soft');
      expect(error.limitMs).toBe(100);
      expect(error.jobId).toBe(job.id);
      expect(error.cause).toBeInstanceOf(TaskError);
      expect(error.cause.cause.code).toBe('STOPPED');
      expect(job.state).toBe('failed');
      expect(runTimeOf(job)).toBeGreaterThanOrEqual(95);
      expect(runTimeOf(job)).toBeLessThan(2000);

      // It cleaned up, on the same thread: nothing was terminated.
      expect(await runner.run('readCleanedUp')).toEqual([job.id]);
      expect(await runner.run('threadId')).toBe(thread);
      await runner.close();
    });

    it('lets a task that returns after its signal fired succeed', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('cooperativeSleep', [30_000, 'return'], { softTimeout: 100 });
      expect(await job.result).toBe('stopped early');
      expect(job.state).toBe('succeeded');
      expect(runTimeOf(job)).toBeGreaterThanOrEqual(95);
      expect(await runner.run('readCleanedUp')).toEqual([job.id]);
      await runner.close();
    });

    it('does not fire the signal of a task that finishes in time', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('cooperativeSleep', [10], { softTimeout: 5000 });
      expect(await job.result).toBe('slept');
      expect(await runner.run('readCleanedUp')).toEqual([]);
      await runner.close();
    });

    it('TO3: does not count the time the job waited on the table', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      await runner.run('add', 0, 0);
      const busy = await runner.submit('busyFor', [400]);
      const job = await runner.submit('cooperativeSleep', [20], { softTimeout: 250 });
      expect(await job.result).toBe('slept');
      await busy.result;
      expect(job.startedAt! - job.queuedAt!).toBeGreaterThan(250);
      expect(await runner.run('readCleanedUp')).toEqual([]);
      await runner.close();
    });
  });

  describe('when a job has both a soft and a hard timeout', () => {
    it('TO2: stops a cooperative task at the soft one and kills one that ignores its signal at the hard one', async () => {
      const runner = runners.runner({ maxThreads: 2, minThreads: 2 });
      await Promise.all([runner.run('add', 0, 0), runner.run('add', 0, 0)]);
      const limits = { softTimeout: 100, timeout: 400 };
      const cooperative = await runner.submit('cooperativeSleep', [30_000, 'throw'], limits);
      const ignoring = await runner.submit('sleep', [30_000], limits);

      const soft = await rejectionOf(cooperative.result);
      expect(soft).toBeInstanceOf(TimeoutError);
      expect(soft.kind).toBe('soft');
      expect(soft.limitMs).toBe(100);

      const hard = await rejectionOf(ignoring.result);
      expect(hard).toBeInstanceOf(TimeoutError);
      expect(hard.kind).toBe('hard');
      expect(hard.limitMs).toBe(400);
      expect(runTimeOf(ignoring)).toBeGreaterThanOrEqual(395);
      expect(runTimeOf(ignoring)).toBeLessThan(3000);
      expect(runTimeOf(cooperative)).toBeLessThan(runTimeOf(ignoring));

      expect(await runner.run('add', 1, 2)).toBe(3);
      expect(runner.stats()).toMatchObject({ failed: 2, running: 0 });
      await runner.close();
    });

    it('BI8: rejects a soft timeout that is not below the hard one with InvalidOptionError before queueing', async () => {
      const runner = runners.runner();
      const queued = nextEvent(runner, 'queued');
      let isQueued = false;
      void queued.then(() => (isQueued = true));
      const error = await rejectionOf(runner.submit('sleep', [1], { softTimeout: 200, timeout: 200 }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
      expect(error.option).toBe('softTimeout');
      expect(isQueued).toBe(false);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0 });
      await runner.close();
    });
  });
});
