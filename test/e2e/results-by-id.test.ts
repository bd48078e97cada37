import { describe, expect, it, jest } from '@jest/globals';
import { CancelledError, TableFullError, TaskError } from 'baozi';
import { collectGarbage } from '../helpers/workflows.js';
import { flush, gate, holdThread, recordJobEvents, rejectionOf, thrownBy, track, useRunners } from '../helpers/e2e.js';

const runners = useRunners();

/** Fakes only `Date` (the wall clock results are kept by), so time can pass without waiting. */
function useFakeWallClock(): void {
  jest.useFakeTimers({
    doNotFake: [
      'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame',
      'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval',
      'setTimeout', 'clearTimeout',
    ],
  });
}

describe('Runner', () => {
  describe('getJob(id)', () => {
    it('finds a job by the jobId it was given while it is queued, running, and after it finished', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const hold = await holdThread(runner);
      const { port, open } = gate();
      const job = await runner.submit('countRunThenWait', ['lookup', port], { jobId: 'order-17', transferList: [port] });
      expect(job.id).toBe('order-17');
      expect(runner.getJob('order-17')).toBe(job);
      expect(runner.getJob('order-17')!.state).toBe('queued');

      const running = new Promise<void>((resolve) => runner.on('running', ({ job: started }) => started === job && resolve()));
      hold.open();
      await running;
      expect(runner.getJob('order-17')!.state).toBe('running');

      open();
      expect(await job.result).toBe(1);
      const found = runner.getJob('order-17')!;
      expect(found).toBe(job);
      expect(found.state).toBe('succeeded');
      expect(await found.result).toBe(1);
      expect(found.attempt).toBe(1);
      expect(found.errors).toEqual([]);
      expect(found.submittedAt).toBeLessThanOrEqual(found.queuedAt!);
      expect(found.queuedAt!).toBeLessThanOrEqual(found.startedAt!);
      expect(found.startedAt!).toBeLessThanOrEqual(found.finishedAt!);
      await runner.close();
    });

    it('finds jobs by their generated ids too, and returns undefined for an unknown id', async () => {
      const runner = runners.runner();
      const job = await runner.submit('add', [1, 1]);
      expect(runner.getJob(job.id)).toBe(job);
      await job.result;
      expect(runner.getJob(job.id)).toBe(job);
      expect(runner.getJob('no-such-job')).toBeUndefined();
      await runner.close();
    });

    it('keeps a failed job with its attempts and errors', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('failTimes', ['kept-failure', 9], { jobId: 'kept-failure', retries: { max: 1, delay: 0 } });
      await rejectionOf(job.result);
      const found = runner.getJob('kept-failure')!;
      expect(found).toBe(job);
      expect(found.state).toBe('failed');
      expect(found.attempt).toBe(2);
      expect(found.errors).toHaveLength(2);
      for (const error of found.errors) expect(error).toBeInstanceOf(TaskError);
      expect((await rejectionOf(found.result)).code).toBe('BAOZI_RETRIES_EXHAUSTED');
      await runner.close();
    });
  });

  describe('when a jobId is submitted again', () => {
    it('returns the live queued job’s handle and runs nothing more', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const records = recordJobEvents(runner);
      const hold = await holdThread(runner);
      const first = await runner.submit('countRun', ['queued-twice'], { jobId: 'queued-twice' });
      const second = await runner.submit('countRun', ['queued-twice'], { jobId: 'queued-twice' });
      const third = runner.trySubmit('countRun', ['queued-twice'], { jobId: 'queued-twice' });
      expect(second).toBe(first);
      expect(third).toBe(first);
      expect(runner.stats().queued).toBe(1);

      hold.open();
      expect(await first.result).toBe(1);
      expect(await runner.run('readRunCount', 'queued-twice')).toBe(1);
      expect(records.filter(({ jobId, event }) => jobId === 'queued-twice' && event === 'queued')).toHaveLength(1);
      await runner.close();
    });

    it('returns the running job’s handle and runs nothing more', async () => {
      const runner = runners.runner({ maxThreads: 2 });
      const { port, open } = gate();
      const first = await runner.submit('countRunThenWait', ['running-twice', port], { jobId: 'running-twice', transferList: [port] });
      expect(first.state).toBe('running');
      const other = gate();
      const again = await runner.submit('countRunThenWait', ['running-twice', other.port], { jobId: 'running-twice', transferList: [other.port] });
      expect(again).toBe(first);
      // The second submit took nothing of what it was given.
      expect(() => other.port.postMessage('still mine')).not.toThrow();
      other.port.close();

      open();
      expect(await first.result).toBe(1);
      expect(runner.stats()).toMatchObject({ succeeded: 1, running: 0 });
      await runner.close();
    });

    it('returns the scheduled job’s handle and schedules nothing more', async () => {
      const runner = runners.runner();
      const first = await runner.submit('add', [1, 1], { jobId: 'later', delay: 60_000 });
      const second = await runner.submit('add', [1, 1], { jobId: 'later', delay: 10 });
      expect(second).toBe(first);
      expect(runner.stats().scheduled).toBe(1);
      first.cancel();
      await runner.close();
    });

    it('returns the finished job’s handle while it is kept, with its result, and runs nothing', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const first = await runner.submit('countRun', ['done-once'], { jobId: 'done-once' });
      expect(await first.result).toBe(1);
      const again = await runner.submit('countRun', ['done-once'], { jobId: 'done-once' });
      expect(again).toBe(first);
      expect(again.state).toBe('succeeded');
      expect(await again.result).toBe(1);
      expect(await runner.run('readRunCount', 'done-once')).toBe(1);
      await runner.close();
    });

    it('returns a kept failed job as it is, without running it again', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const first = await runner.submit('failTimes', ['fail-once', 1], { jobId: 'fail-once' });
      expect(await rejectionOf(first.result)).toBeInstanceOf(TaskError);
      const again = await runner.submit('failTimes', ['fail-once', 1], { jobId: 'fail-once' });
      expect(again).toBe(first);
      expect(again.state).toBe('failed');
      // A second run would have succeeded.
      expect(await rejectionOf(again.result)).toBeInstanceOf(TaskError);
      await runner.close();
    });

    it('returns the job still waiting for room, and runs it once', async () => {
      const runner = runners.runner({ maxThreads: 1, capacity: 1 });
      const hold = await holdThread(runner);
      await runner.submit('add', [0, 0]);
      const first = track(runner.submit('countRun', ['waiting-twice'], { jobId: 'waiting-twice' }));
      const second = track(runner.submit('countRun', ['waiting-twice'], { jobId: 'waiting-twice' }));
      await flush();
      expect(first.isSettled).toBe(false);
      // Waiting behind the same producer: nothing new waits for room.
      expect(runner.stats().blocked).toBe(1);
      // trySubmit never waits: the job is not on the table yet.
      expect(thrownBy(() => runner.trySubmit('countRun', ['waiting-twice'], { jobId: 'waiting-twice' }))).toBeInstanceOf(TableFullError);

      hold.open();
      const [firstJob, secondJob] = await Promise.all([first.promise, second.promise]);
      expect(secondJob).toBe(firstJob);
      expect(await firstJob.result).toBe(1);
      await runner.onIdle();
      expect(await runner.run('readRunCount', 'waiting-twice')).toBe(1);
      await runner.close();
    });

    it('rejects the second submit too when the first one stops waiting for room', async () => {
      const runner = runners.runner({ maxThreads: 1, capacity: 1 });
      const hold = await holdThread(runner);
      await runner.submit('add', [0, 0]);
      const controller = runners.abortController();
      const first = runner.submit('countRun', ['withdrawn'], { jobId: 'withdrawn', signal: controller.signal });
      const second = runner.submit('countRun', ['withdrawn'], { jobId: 'withdrawn' });
      controller.abort('changed my mind');
      expect(await rejectionOf(first)).toBeInstanceOf(CancelledError);
      expect(await rejectionOf(second)).toBeInstanceOf(CancelledError);
      // The id is free again: a new job takes it.
      const third = runner.submit('countRun', ['withdrawn'], { jobId: 'withdrawn' });
      hold.open();
      expect(await (await third).result).toBe(1);
      await runner.close();
    });
  });

  describe('finished jobs kept for getJob', () => {
    it('keeps at most maxResults, dropping the oldest first; a dropped id runs again', async () => {
      const runner = runners.runner({ maxThreads: 1, maxResults: 2 });
      for (const id of ['a', 'b', 'c']) await (await runner.submit('countRun', [id], { jobId: id })).result;
      expect(runner.getJob('a')).toBeUndefined();
      expect(runner.getJob('b')!.state).toBe('succeeded');
      expect(runner.getJob('c')!.state).toBe('succeeded');

      const again = await runner.submit('countRun', ['a'], { jobId: 'a' });
      expect(await again.result).toBe(2);
      // Keeping it pushed out b.
      expect(runner.getJob('a')).toBe(again);
      expect(runner.getJob('b')).toBeUndefined();
      await runner.close();
    });

    it('keeps none with maxResults 0, so the same jobId runs again once finished', async () => {
      const runner = runners.runner({ maxThreads: 1, maxResults: 0 });
      const first = await runner.submit('countRun', ['unkept'], { jobId: 'unkept' });
      expect(await first.result).toBe(1);
      expect(runner.getJob('unkept')).toBeUndefined();
      const again = await runner.submit('countRun', ['unkept'], { jobId: 'unkept' });
      expect(again).not.toBe(first);
      expect(await again.result).toBe(2);
      await runner.close();
    });

    it('forgets a finished job resultTtl milliseconds after it settled; its id then runs again', async () => {
      const runner = runners.runner({ maxThreads: 1, resultTtl: 60_000 });
      const first = await runner.submit('countRun', ['ttl'], { jobId: 'ttl' });
      expect(await first.result).toBe(1);
      useFakeWallClock();
      try {
        jest.setSystemTime(Date.now() + 30_000);
        expect(runner.getJob('ttl')).toBe(first);
        jest.setSystemTime(Date.now() + 31_000);
        expect(runner.getJob('ttl')).toBeUndefined();
        const again = await runner.submit('countRun', ['ttl'], { jobId: 'ttl' });
        expect(again).not.toBe(first);
        expect(await again.result).toBe(2);
      } finally {
        jest.useRealTimers();
      }
      await runner.close();
    });

    it('lets go of a finished job\'s arguments while it keeps the job and its result (issue 16 D)', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      // Arguments with a transferList travel as they are: the job held the caller's object itself.
      const { job, ref } = await (async () => {
        const payload = { bytes: new Uint8Array(1024 * 1024) };
        return { job: await runner.submit('byteLength', [payload.bytes], { transferList: [], jobId: 'kept' }), ref: new WeakRef(payload.bytes) };
      })();
      expect(await job.result).toBe(1024 * 1024);
      // Serialized arguments: the job held their bytes.
      const encoded = await runner.submit('echo', [{ list: [1, 2, 3] }], { jobId: 'encoded' });
      expect(await encoded.result).toEqual({ list: [1, 2, 3] });
      expect(runner.getJob('kept')).toBe(job);
      expect((runner.getJob('encoded') as unknown as { args: ArrayLike<unknown> }).args).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve));
      collectGarbage();
      expect(ref.deref()).toBeUndefined();
      await runner.close();
    });
  });

  describe('when a caller gives a jobId shaped like a generated one (issue 16 E.2)', () => {
    it('never generates an id a live job has: both jobs run, each with its own id, and both are counted', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const first = await runner.submit('add', [1, 1]);
      const separator = first.id.lastIndexOf('-');
      const next = `${first.id.slice(0, separator)}-${(parseInt(first.id.slice(separator + 1), 36) + 1).toString(36)}`;
      const { port, open } = gate();
      const caller = await runner.submit('waitForMessage', [port], { transferList: [port], jobId: next });
      const generated = await runner.submit('add', [2, 2]);
      expect(generated).not.toBe(caller);
      expect(generated.id).not.toBe(caller.id);
      expect(new Set([first.id, caller.id, generated.id]).size).toBe(3);
      expect(runner.getJob(next)).toBe(caller);
      open('done');
      expect(await caller.result).toBe('done');
      expect(await generated.result).toBe(4);
      expect(runner.metrics().total.submitted).toBe(3);
      expect(runner.stats().succeeded).toBe(3);
      await runner.close();
    });
  });
});
