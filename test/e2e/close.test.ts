import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, jest } from '@jest/globals';
import { CancelledError, InvalidOptionError, RunnerClosedError, type JobHandle, type Runner } from 'baozi';
import { flush, holdThread, hostProcess, rejectionOf, startSlowToStop, startSpinning, thrownBy, track, useRunners } from '../helpers/e2e.js';
import { nextEvent } from '../helpers/events.js';
import { testRunner, type TestTasks } from '../helpers/runner.js';

const runners = useRunners();

function expectClosedError(error: unknown): void {
  expect(error).toBeInstanceOf(RunnerClosedError);
  expect((error as RunnerClosedError).code).toBe('BAOZI_RUNNER_CLOSED');
}

describe('Runner', () => {
  describe('close() (draining)', () => {
    it('SD1: lets running and queued jobs finish with their results, then stops every thread', async () => {
      const runner = runners.runner({ maxThreads: 2 });
      const jobs = await Promise.all([
        runner.submit('sleep', [40]),
        runner.submit('sleep', [30]),
        runner.submit('add', [1, 2]),
        runner.submit('sleep', [10]),
        runner.submit('add', [3, 4]),
      ]);
      expect(runner.stats()).toMatchObject({ running: 2, queued: 3 });
      let threadsWhenClosed: number | undefined;
      runner.once('closed', () => (threadsWhenClosed = runner.stats().threads));

      const report = await runner.close();
      expect(report).toEqual({ succeeded: 5, failed: 0, cancelled: 0, expired: 0 });
      expect(jobs.map((job) => job.state)).toEqual(Array(5).fill('succeeded'));
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual([40, 30, 3, 10, 7]);
      expect(threadsWhenClosed).toBe(0);
      expect(runner.stats()).toMatchObject({ threads: 0, running: 0, queued: 0, succeeded: 5 });
      await runners.expectNoLiveThreads();
    });

    it('SD1: refuses new jobs at once, while it drains and after: submit and run reject, trySubmit throws', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const running = await runner.submit('sleep', [30]);
      const closing = runner.close();
      expectClosedError(await rejectionOf(runner.submit('add', [1, 1])));
      expectClosedError(await rejectionOf(runner.run('add', 1, 1)));
      expectClosedError(thrownBy(() => runner.trySubmit('add', [1, 1])));
      await closing;
      expect(await running.result).toBe(30);
      expectClosedError(await rejectionOf(runner.submit('add', [1, 1])));
      expectClosedError(thrownBy(() => runner.trySubmit('add', [1, 1])));
      expect(runner.stats()).toMatchObject({ succeeded: 1, threads: 0 });
    });

    it('SD6: rejects producers still waiting for room with RunnerClosedError, and finishes what was admitted', async () => {
      const runner = runners.runner({ capacity: 1, maxThreads: 1 });
      const hold = await holdThread(runner);
      const queued = await runner.submit('add', [1, 1]);
      const blocked = [runner.submit('add', [2, 2]), runner.submit('add', [3, 3])];
      await flush();
      expect(runner.stats().blocked).toBe(2);

      const closing = track(runner.close());
      for (const producer of blocked) expectClosedError(await rejectionOf(producer));
      expect(runner.stats().blocked).toBe(0);
      await flush();
      expect(closing.isSettled).toBe(false);

      hold.open();
      await closing.promise;
      expect(await queued.result).toBe(2);
      expect(runner.stats()).toMatchObject({ succeeded: 2, cancelled: 0, threads: 0 });
    });

    it('SD4: returns the same promise when called twice, and emits closed once', async () => {
      const runner = runners.runner();
      let closedEvents = 0;
      runner.on('closed', () => closedEvents++);
      const job = await runner.submit('sleep', [20]);
      const first = runner.close();
      expect(runner.close()).toBe(first);
      await first;
      expect(runner.close()).toBe(first);
      expect(runner.close({ drain: 'none' })).toBe(first);
      // Options are checked on every call: a bad one is refused, not ignored because a close runs.
      await expect(runner.close({ drain: 'later' as never })).rejects.toBeInstanceOf(InvalidOptionError);
      expect(job.state).toBe('succeeded');
      expect(closedEvents).toBe(1);
    });

    it('SD4: escalates when close({ drain: "none" }) comes while it drains: what still runs or waits is cancelled at once, and the same promise resolves', async () => {
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 30_000 });
      let closedEvents = 0;
      runner.on('closed', () => closedEvents++);
      const spinning = await startSpinning(runner, { signal: runners.abortController().signal });
      const queued = await runner.submit('add', [1, 1]);
      const draining = track(runner.close());
      await flush();
      expect(draining.isSettled).toBe(false);

      const started = Date.now();
      expect(runner.close({ drain: 'none' })).toBe(draining.promise);
      // Asked again, nothing more happens.
      expect(runner.close({ drain: 'none' })).toBe(draining.promise);
      const report = await draining.promise;
      // The spin ignores its signal: only termination, not the 30 s grace, ends it.
      expect(Date.now() - started).toBeLessThan(10_000);
      for (const job of [queued, spinning]) {
        const error = await rejectionOf(job.result);
        expect(error).toBeInstanceOf(CancelledError);
        expect(error.cause).toBeInstanceOf(RunnerClosedError);
      }
      expect(report).toEqual({ succeeded: 0, failed: 0, cancelled: 2, expired: 0 });
      expect(closedEvents).toBe(1);
      expect(runner.stats()).toMatchObject({ threads: 0, running: 0, cancelled: 2 });
    });

    it('resolves only once a thread terminated just before (for a cancelled job) has exited too', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      // Its thread is busy with thread-pool work, so it takes a while to stop.
      const job = await startSlowToStop(runner);
      expect(job.cancel()).toBe(true);
      expect(await rejectionOf(job.result)).toBeInstanceOf(CancelledError);
      await runner.close();
      expect(runner.stats().threads).toBe(0);
      await runners.expectNoLiveThreads();
    });

    it.each(['spin', 'throwFromTimer', 'exit'] as const)('resolves only once every thread has exited, after a %s job', async (task) => {
      const runner = runners.runner({ maxThreads: 1 });
      let job: JobHandle<unknown>;
      if (task === 'spin') {
        job = await startSpinning(runner);
        job.cancel();
      } else {
        job = task === 'exit' ? await runner.submit('exit', [1]) : await runner.submit(task, []);
      }
      await job.result.catch(() => undefined);
      await runner.close();
      expect(runner.stats().threads).toBe(0);
      await runners.expectNoLiveThreads();
    });

    it('resolves at once on a runner that never ran a job', async () => {
      const runner = runners.runner();
      const closed = nextEvent(runner, 'closed');
      await runner.close();
      await closed;
      expect(runner.stats().threads).toBe(0);
    });
  });

  describe("close({ drain: 'running' })", () => {
    it('SD3: cancels queued jobs at once, rejects waiting producers, and lets running jobs finish', async () => {
      const runner = runners.runner({ capacity: 2, maxThreads: 1 });
      const hold = await holdThread(runner);
      const queued = await Promise.all([runner.submit('countRun', ['not-drained']), runner.submit('countRun', ['not-drained'])]);
      const blocked = runner.submit('add', [1, 1]);
      await flush();
      expect(runner.stats()).toMatchObject({ running: 1, queued: 2, blocked: 1 });

      const closing = track(runner.close({ drain: 'running' }));
      expectClosedError(await rejectionOf(blocked));
      for (const job of queued) {
        const error = await rejectionOf(job.result);
        expect(error).toBeInstanceOf(CancelledError);
        expect(error.cause).toBeInstanceOf(RunnerClosedError);
        expect(job.startedAt).toBeUndefined();
      }
      expect(hold.job.state).toBe('running');
      await flush();
      expect(closing.isSettled).toBe(false);

      hold.open();
      expect(await closing.promise).toEqual({ succeeded: 1, failed: 0, cancelled: 2, expired: 0 });
      expect(await hold.job.result).toBe('released');
      expect(runner.stats()).toMatchObject({ threads: 0, queued: 0, running: 0 });
    });
  });

  describe('close({ drain: "none" })', () => {
    it('SD5: cancels queued jobs with a RunnerClosedError cause and stops a running spin', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const cancelledEvents: unknown[] = [];
      runner.on('cancelled', ({ job }) => cancelledEvents.push(job));
      const running = nextEvent(runner, 'running');
      const spinning = await runner.submit('spin', []);
      await running;
      const queued = await Promise.all([runner.submit('add', [1, 1]), runner.submit('sleep', [10])]);
      expect(queued.map((job) => job.state)).toEqual(['queued', 'queued']);

      await runner.close({ drain: 'none' });

      for (const job of queued) {
        const error = await rejectionOf(job.result);
        expect(error).toBeInstanceOf(CancelledError);
        expect(error.code).toBe('BAOZI_CANCELLED');
        expect(error.cause).toBeInstanceOf(RunnerClosedError);
        expect(error.jobId).toBe(job.id);
        expect(job.state).toBe('cancelled');
        expect(job.startedAt).toBeUndefined();
      }
      const error = await rejectionOf(spinning.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBeInstanceOf(RunnerClosedError);
      expect(spinning.state).toBe('cancelled');
      expect(cancelledEvents).toEqual([queued[0], queued[1], spinning]);
      expect(runner.stats()).toMatchObject({ cancelled: 3, running: 0, queued: 0, threads: 0 });
      await runners.expectNoLiveThreads();
    });

    it('SD5: stops a cancelled job still in its grace period at once', async () => {
      const runner = runners.runner({ maxThreads: 1, cancelGraceMs: 30_000 });
      const controller = runners.abortController();
      const running = nextEvent(runner, 'running');
      const spinning = await runner.submit('spin', [], { signal: controller.signal });
      await running;
      controller.abort('stop');
      expect(await rejectionOf(spinning.result)).toBeInstanceOf(CancelledError);
      // The spin ignores its signal: only termination frees the slot (the
      // job itself no longer counts as running).
      expect(runner.stats().running).toBe(0);
      expect(runner.metrics().gauges.utilization).toBe(1);

      const started = Date.now();
      await runner.close({ drain: 'none' });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect((await rejectionOf(spinning.result)).cause).toBe('stop');
      expect(runner.stats()).toMatchObject({ running: 0, threads: 0, cancelled: 1 });
      await runners.expectNoLiveThreads();
    });
  });

  describe('when the process has nothing left but a closed runner', () => {
    it('SD5: exits on its own after close({ drain: "none" }) with a running and waiting jobs, each cancelled, and a later submit refused', async () => {
      const script = fileURLToPath(new URL('../fixtures/close-and-exit.js', import.meta.url));
      const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // A handle left behind would keep the child alive: past this bound, it is killed and the test fails.
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      clearTimeout(killer);
      expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
      expect(JSON.parse(stdout)).toEqual({
        report: { succeeded: 0, failed: 0, cancelled: 3, expired: 0 },
        outcomes: Array(3).fill('BAOZI_CANCELLED/BAOZI_RUNNER_CLOSED'),
        later: 'BAOZI_RUNNER_CLOSED/',
        threads: 0,
      });
    });
  });

  describe('when a listener submits while close() begins', () => {
    it('SD6: refuses the job with RunnerClosedError', async () => {
      const runner = runners.runner({ maxThreads: 1, capacity: 4 });
      await runner.submit('sleep', [200]);
      await runner.submit('add', [1, 1]);
      let late: Promise<unknown> | undefined;
      runner.once('cancelled', () => (late = rejectionOf(runner.submit('add', [2, 2]))));
      await runner.close({ drain: 'none' });
      expect(late).toBeDefined();
      expect(await late).toBeInstanceOf(RunnerClosedError);
    });
  });

  describe('close({ deadlineMs })', () => {
    it('SD2: lets jobs finish until the deadline, then stops the rest and reports what became of each', async () => {
      const runner = runners.runner({ minThreads: 3, maxThreads: 3, cancelGraceMs: 50 });
      const cooperative = await runner.submit('waitForAbort', [], { signal: runners.abortController().signal });
      const spinning = await startSpinning(runner);
      const quick = await runner.submit('sleep', [50]);

      // Generous: three threads start and a 50 ms job runs within it even on a loaded machine.
      const report = await runner.close({ deadlineMs: 1500 });

      expect(await quick.result).toBe(50);
      for (const stopped of [cooperative, spinning]) {
        const error = await rejectionOf(stopped.result);
        expect(error).toBeInstanceOf(CancelledError);
        expect((error as CancelledError).cause).toBeInstanceOf(RunnerClosedError);
      }
      expect(report).toEqual({ succeeded: 1, failed: 0, cancelled: 2, expired: 0 });
      expect(runner.stats().threads).toBe(0);
    });
  });

  describe('await using', () => {
    it('closes the runner at the end of the scope', async () => {
      let outside: Runner<TestTasks> | undefined;
      let closedEvents = 0;
      {
        await using runner = runners.runner();
        outside = runner;
        runner.on('closed', () => closedEvents++);
        expect(await runner.run('add', 1, 2)).toBe(3);
        expect(closedEvents).toBe(0);
      }
      expect(closedEvents).toBe(1);
      expect(outside.stats().threads).toBe(0);
      expectClosedError(await rejectionOf(outside.submit('add', [1, 1])));
    });
  });

  describe('when nobody awaits a failing job', () => {
    it('causes no unhandled rejection', async () => {
      const host = hostProcess();
      expect(host).not.toBe(process);
      expect(host.pid).toBe(process.pid);
      const unhandled = jest.fn();
      host.on('unhandledRejection', unhandled);
      // Not from `runners`: its settle ledger observes every result, which would handle the rejections this test looks for.
      const runner = testRunner({ maxThreads: 1 });
      try {
        await runner.submit('throwError', ['nobody listens']);
        runner.trySubmit('rejectAsync', ['nobody listens either']);
        runner.trySubmit('exit', [1]);
        await runner.onIdle();
        expect(runner.stats()).toMatchObject({ failed: 3 });
        // Jobs cancelled by a hard close, which nobody awaits either.
        await runner.submit('spin', []);
        await runner.submit('add', [1, 1]);
        await runner.close({ drain: 'none' });
        expect(runner.stats()).toMatchObject({ cancelled: 2 });
        await flush();
        expect(unhandled).not.toHaveBeenCalled();
      } finally {
        await runner.close({ drain: 'none' });
        host.off('unhandledRejection', unhandled);
      }
    });
  });
});
