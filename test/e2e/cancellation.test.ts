import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { CancelledError, type RunnerStats } from 'baozi';
import { flush, holdThread, hostProcess, idsOf, recordJobEvents, rejectionOf, track, useRunners } from '../helpers/e2e.js';
import { nextEvent } from '../helpers/events.js';

const runners = useRunners();

describe('JobHandle', () => {
  describe('when a queued job is cancelled', () => {
    it.each(['cancel(reason)', 'its signal'] as const)('CA1: through %s, rejects it with CancelledError, never runs it, and keeps the others in order', async (how) => {
      const runner = runners.runner({ capacity: 3, maxThreads: 1 });
      const records = recordJobEvents(runner);
      const cancelledEvent = nextEvent<{ job: unknown; reason: unknown }>(runner, 'cancelled');
      const hold = await holdThread(runner);
      const controller = runners.abortController();
      const before = await runner.submit('add', [1, 0]);
      const target = await runner.submit('add', [2, 0], { signal: controller.signal });
      const after = await runner.submit('add', [3, 0]);
      // The table is full: this producer waits for the room the cancel frees.
      const blocked = runner.submit('add', [4, 0]);
      await flush();
      expect(runner.stats()).toMatchObject({ queued: 3, blocked: 1 });

      const reason = { why: 'changed my mind' };
      if (how === 'cancel(reason)') {
        expect(target.cancel(reason)).toBe(true);
      } else {
        controller.abort(reason);
      }
      const error = await rejectionOf(target.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe(reason);
      expect(error.jobId).toBe(target.id);
      expect(target.state).toBe('cancelled');
      expect(target.startedAt).toBeUndefined();
      const event = await cancelledEvent;
      expect(event.job).toBe(target);
      expect(event.reason).toBe(reason);

      const admitted = await blocked;
      expect(runner.stats()).toMatchObject({ queued: 3, blocked: 0, cancelled: 1 });

      hold.open();
      expect(await Promise.all([before.result, after.result, admitted.result])).toEqual([1, 3, 4]);
      expect(idsOf(records, 'running')).toEqual([hold.job.id, before.id, after.id, admitted.id]);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await runner.close();
    });

    it('CA3: returns false on a second cancel and keeps the first reason', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const hold = await holdThread(runner);
      const job = await runner.submit('add', [1, 1]);
      expect(job.cancel('first')).toBe(true);
      expect(job.cancel('second')).toBe(false);
      expect((await rejectionOf(job.result)).cause).toBe('first');
      expect(runner.stats().cancelled).toBe(1);
      hold.open();
      await runner.close();
    });
  });

  describe('when a running CPU-bound job is cancelled', () => {
    it('CA2: without a signal, terminates its thread at once; the job on the other thread is unaffected', async () => {
      // A long grace proves the job without a signal does not wait for it.
      const runner = runners.runner({ maxThreads: 2, cancelGraceMs: 30_000 });
      const other = await holdThread(runner);
      const running = nextEvent(runner, 'running');
      const spinning = await runner.submit('spin', []);
      await running;
      expect(spinning.state).toBe('running');

      const cancelledAt = Date.now();
      expect(spinning.cancel('too slow')).toBe(true);
      const error = await rejectionOf(spinning.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe('too slow');
      expect(spinning.state).toBe('cancelled');

      // The next job needs the spinning job's slot: it frees with the thread, long before the grace period.
      expect(await runner.run('add', 20, 22)).toBe(42);
      expect(Date.now() - cancelledAt).toBeLessThan(10_000);
      expect(other.job.state).toBe('running');

      other.open();
      expect(await other.job.result).toBe('released');
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ running: 0, cancelled: 1, succeeded: 2 });
      await runner.close();
    });

    it('counts it out of running by the time its rejection and its cancelled event are heard, before its thread stops', async () => {
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 30_000 });
      const controller = runners.abortController();
      const running = nextEvent(runner, 'running');
      const spinning = await runner.submit('spin', [], { signal: controller.signal });
      await running;
      const atCancelled: RunnerStats[] = [];
      runner.on('cancelled', () => atCancelled.push(runner.stats()));
      spinning.cancel('too slow');
      const atRejection = await spinning.result.then(
        () => undefined,
        () => runner.stats(),
      );

      // The thread has a 30 s grace to stop: it is still there, the job is not.
      expect(atCancelled).toEqual([expect.objectContaining({ running: 0, cancelled: 1 })]);
      expect(atRejection).toMatchObject({ running: 0, cancelled: 1 });
      await runner.close({ drain: 'none' });
    });

    it('CA2: with a signal, terminates its thread after cancelGraceMs; the job on the other thread is unaffected', async () => {
      const cancelGraceMs = 200;
      const runner = runners.runner({ maxThreads: 2, cancelGraceMs });
      const other = await holdThread(runner);
      const controller = runners.abortController();
      const running = nextEvent(runner, 'running');
      const spinning = await runner.submit('spin', [], { signal: controller.signal });
      await running;

      const cancelledAt = Date.now();
      controller.abort('too slow');
      const error = await rejectionOf(spinning.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe('too slow');
      expect(spinning.state).toBe('cancelled');
      // Settled at once, so no longer running (only the other job is), but
      // the thread keeps its slot for the grace period: a third job waits
      // for that slot, and starts once the spinning thread is terminated.
      expect(runner.stats().running).toBe(1);
      const next = await runner.submit('add', [1, 2]);
      expect(next.state).toBe('queued');
      expect(await next.result).toBe(3);
      expect(Date.now() - cancelledAt).toBeGreaterThanOrEqual(cancelGraceMs - 20);
      expect(Date.now() - cancelledAt).toBeLessThan(10_000);

      expect(other.job.state).toBe('running');
      other.open();
      expect(await other.job.result).toBe('released');
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ running: 0, cancelled: 1, succeeded: 2 });
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await runner.close();
    });
  });

  describe('when threads run several jobs at once', () => {
    it('CA2: never lets a cancellable job share a thread: it waits for the thread to be free, while jobs without a signal share it', async () => {
      const runner = runners.runner({ minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 3 });
      const thread = await runner.run('threadId');
      const hold = await holdThread(runner);
      const withSignal = await runner.submit('threadId', [], { signal: runners.abortController().signal });
      const watched = track(withSignal.result);
      // Submitted later, a job without a signal shares the busy thread and finishes while the cancellable one still waits.
      expect(await runner.run('threadId')).toBe(thread);
      await flush();
      expect(watched.isSettled).toBe(false);
      hold.open();
      expect(await watched.promise).toBe(thread);
      await runner.close();
    });
  });

  describe('when a running job is cancelled with a reason that cannot be turned into text', () => {
    it('still stops its thread after the grace period, and keeps the reason as cause', async () => {
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 50 });
      const controller = runners.abortController();
      const running = nextEvent(runner, 'running');
      const spinning = await runner.submit('spin', [], { signal: controller.signal });
      await running;
      const reason = Object.create(null) as object;
      controller.abort(reason);
      const error = await rejectionOf(spinning.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe(reason);
      await runner.onIdle();
      expect(await runner.run('add', 1, 1)).toBe(2);
      expect(runner.stats()).toMatchObject({ running: 0, cancelled: 1, succeeded: 1 });
      await runner.close();
    });
  });

  describe('when a running cooperative job is cancelled through its signal', () => {
    it('CA2: fires the signal inside the thread, which stops the task without losing the thread', async () => {
      // A long grace: the slot can only free early if the task stopped on its own.
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 30_000 });
      const thread = await runner.run('threadId');
      const controller = runners.abortController();
      const running = nextEvent(runner, 'running');
      const job = await runner.submit('recordAbort', [], { signal: controller.signal });
      await running;

      controller.abort('please stop');
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe('please stop');
      expect(job.state).toBe('cancelled');

      await runner.onIdle();
      expect(await runner.run('readAbortsSeen')).toEqual(['please stop']);
      expect(await runner.run('threadId')).toBe(thread);
      await runner.close();
    });

    it('also lets waitForAbort clean up and settle as cancelled', async () => {
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 30_000 });
      // Warm the thread, so the task is listening before the abort arrives
      // (waitForAbort does not check for a signal that aborted before it started).
      await runner.run('add', 0, 0);
      const controller = runners.abortController();
      const running = nextEvent(runner, 'running');
      const job = await runner.submit('waitForAbort', [], { signal: controller.signal });
      await running;
      controller.abort();
      expect(await rejectionOf(job.result)).toBeInstanceOf(CancelledError);
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ running: 0, cancelled: 1, failed: 0, succeeded: 1 });
      await runner.close();
    });
  });

  describe('when the signal had already aborted at submit', () => {
    it('CA3: rejects submit with CancelledError, runs nothing, and leaves transferred buffers attached', async () => {
      const runner = runners.runner();
      const records = recordJobEvents(runner);
      const controller = runners.abortController();
      controller.abort('too late');
      const bytes = new Uint8Array([1, 2, 3, 4]);
      const error = await rejectionOf(runner.submit('incrementBytes', [bytes], { signal: controller.signal, transferList: [bytes.buffer] }));
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe('too late');
      expect(bytes.buffer.byteLength).toBe(4);
      expect([...bytes]).toEqual([1, 2, 3, 4]);
      expect(() => runner.trySubmit('add', [1, 1], { signal: controller.signal })).toThrow(CancelledError);
      expect(records).toEqual([]);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0, cancelled: 0 });
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await runner.close();
    });
  });

  describe('when cancel() is called on a finished job', () => {
    it('CA3: returns false, twice, and the result stands', async () => {
      const runner = runners.runner();
      const job = await runner.submit('add', [2, 2]);
      expect(await job.result).toBe(4);
      expect(job.cancel('late')).toBe(false);
      expect(job.cancel('later')).toBe(false);
      expect(job.state).toBe('succeeded');
      expect(await job.result).toBe(4);
      const failed = await runner.submit('throwError', ['x']);
      await failed.result.catch(() => undefined);
      expect(failed.cancel()).toBe(false);
      expect(failed.state).toBe('failed');
      expect(runner.stats()).toMatchObject({ succeeded: 1, failed: 1, cancelled: 0 });
      await runner.close();
    });
  });

  describe('when many jobs share one AbortController', () => {
    it('CA4: 10 000 jobs on one signal raise no MaxListenersExceededWarning; half finish, the abort cancels only the rest, and no listener is left', async () => {
      const host = hostProcess();
      const warnings: string[] = [];
      const onWarning = (warning: Error): void => void warnings.push(warning.name);
      host.on('warning', onWarning);
      try {
        const runner = runners.runner({ capacity: 5000, maxThreads: 1 });
        const controller = runners.abortController();
        const { signal } = controller;
        const first = Array.from({ length: 5000 }, (_, i) => runner.trySubmit('add', [i, 0], { signal }));
        expect(await Promise.all(first.map((job) => job.result))).toEqual(Array.from({ length: 5000 }, (_, i) => i));
        expect(getEventListeners(signal, 'abort')).toHaveLength(0);

        const hold = await holdThread(runner);
        const second = Array.from({ length: 5000 }, (_, i) => runner.trySubmit('add', [i, 0], { signal }));
        controller.abort('enough');
        const outcomes = await Promise.allSettled(second.map((job) => job.result));
        expect(outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof CancelledError && outcome.reason.cause === 'enough')).toBe(true);
        expect(first.every((job) => job.state === 'succeeded')).toBe(true);
        expect(getEventListeners(signal, 'abort')).toHaveLength(0);
        expect(runner.stats()).toMatchObject({ succeeded: 5000, cancelled: 5000, queued: 0 });
        hold.open();
        await runner.close();
        // Warnings are emitted on the next tick.
        await flush();
        expect(warnings).not.toContain('MaxListenersExceededWarning');
      } finally {
        host.off('warning', onWarning);
      }
    });

    // Issue 16, E: each removal scanned the table. Here ~0.4 s, against ~1.4 s before; the broker's
    // contract suite ('at scale') is the sharp regression test, this one the outcomes through a runner.
    it('CA4: cancels 30 000 jobs on one signal from among 60 000 queued in one pass; the others all run', async () => {
      const runner = runners.runner({ capacity: 60_000, maxThreads: 1 });
      const hold = await holdThread(runner);
      const controller = runners.abortController();
      const { signal } = controller;
      const jobs = Array.from({ length: 60_000 }, (_, i) => runner.trySubmit('add', [i, 0], i % 2 === 0 ? {} : { signal }));
      const startedAt = performance.now();
      controller.abort('enough');
      expect(performance.now() - startedAt).toBeLessThan(3000);
      expect(runner.stats()).toMatchObject({ queued: 30_000, cancelled: 30_000 });
      hold.open();
      await runner.onIdle();
      expect(jobs.filter((job) => job.state === 'cancelled')).toHaveLength(30_000);
      expect(jobs.filter((_, i) => i % 2 === 0).every((job) => job.state === 'succeeded')).toBe(true);
      await runner.close();
    });

    it('CA4: leaves no listener on the signal once they have finished', async () => {
      const runner = runners.runner({ capacity: 4, maxThreads: 2 });
      const controller = runners.abortController();
      const jobs = await Promise.all(Array.from({ length: 30 }, (_, i) => runner.submit('add', [i, 1], { signal: controller.signal })));
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      // Aborting now changes nothing.
      controller.abort('after the fact');
      expect(jobs.every((job) => job.state === 'succeeded')).toBe(true);
      await runner.close();
    });

    it('CA4: cancels the unfinished ones when it aborts, and leaves no listener either', async () => {
      const runner = runners.runner({ capacity: 2, maxThreads: 1 });
      const hold = await holdThread(runner);
      const controller = runners.abortController();
      const done = await runner.submit('add', [0, 0], { signal: controller.signal });
      hold.open();
      expect(await done.result).toBe(0);
      const hold2 = await holdThread(runner);
      const queued = await Promise.all([runner.submit('add', [1, 0], { signal: controller.signal }), runner.submit('add', [2, 0], { signal: controller.signal })]);
      const blocked = [runner.submit('add', [3, 0], { signal: controller.signal }), runner.submit('add', [4, 0], { signal: controller.signal })];
      await flush();
      expect(runner.stats()).toMatchObject({ queued: 2, blocked: 2 });
      // One listener, however many jobs and producers wait on the signal.
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);

      controller.abort('all off');
      for (const job of queued) {
        expect(await rejectionOf(job.result)).toBeInstanceOf(CancelledError);
        expect(job.state).toBe('cancelled');
      }
      for (const producer of blocked) expect(await rejectionOf(producer)).toBeInstanceOf(CancelledError);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(done.state).toBe('succeeded');
      expect(runner.stats()).toMatchObject({ queued: 0, blocked: 0, cancelled: 2 });
      hold2.open();
      await runner.close();
    });
  });
});
