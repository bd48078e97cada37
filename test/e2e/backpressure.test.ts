import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { CancelledError, JobExpiredError, TableFullError, TaskError, WorkerCrashedError } from 'baozi';
import { flush, gate, holdThread, idsOf, recordJobEvents, rejectionOf, thrownBy, track, useRunners } from '../helpers/e2e.js';

const runners = useRunners();

describe('Runner', () => {
  describe('when the table is full', () => {
    it('BP2: makes submit wait until a job leaves, and trySubmit throw TableFullError at once', async () => {
      const runner = runners.runner({ capacity: 2, maxThreads: 1 });
      const hold = await holdThread(runner);
      const first = await runner.submit('add', [1, 1]);
      const second = await runner.submit('add', [2, 2]);
      expect(runner.stats()).toMatchObject({ queued: 2, running: 1, blocked: 0 });

      const waiting = track(runner.submit('add', [3, 3]));
      await flush();
      expect(waiting.isSettled).toBe(false);
      expect(runner.stats()).toMatchObject({ queued: 2, blocked: 1 });

      const error = thrownBy(() => runner.trySubmit('add', [4, 4]));
      expect(error).toBeInstanceOf(TableFullError);
      expect(error.code).toBe('BAOZI_TABLE_FULL');
      // No side effect: nothing added, nobody else waiting.
      expect(runner.stats()).toMatchObject({ queued: 2, blocked: 1 });

      hold.open();
      expect(await hold.job.result).toBe('released');
      const third = await waiting.promise;
      expect(await Promise.all([first.result, second.result, third.result])).toEqual([2, 4, 6]);
      await runner.close();
    });

    it('BP2: makes trySubmit throw while producers wait, even if room just freed', async () => {
      const runner = runners.runner({ capacity: 1, maxThreads: 1 });
      const hold = await holdThread(runner);
      const queued = await runner.submit('add', [1, 0]);
      const waiting = runner.submit('add', [2, 0]);
      await flush();
      expect(runner.stats().blocked).toBe(1);
      // Cancelling frees room, and it goes straight to the waiting producer.
      expect(queued.cancel()).toBe(true);
      const admitted = await waiting;
      expect(admitted.state).toBe('queued');
      expect(thrownBy(() => runner.trySubmit('add', [3, 0]))).toBeInstanceOf(TableFullError);
      hold.open();
      expect(await admitted.result).toBe(2);
      await runner.close();
    });

    it('BP2: admits blocked producers in the order they arrived', async () => {
      const runner = runners.runner({ capacity: 2, maxThreads: 1 });
      const records = recordJobEvents(runner);
      const hold = await holdThread(runner);
      await runner.submit('add', [0, 0]);
      await runner.submit('add', [0, 1]);
      const admitted: number[] = [];
      const producers = Array.from({ length: 6 }, (_, i) =>
        runner.submit('add', [i, 100]).then((job) => {
          admitted.push(i);
          return job;
        }),
      );
      await flush();
      expect(admitted).toEqual([]);
      expect(runner.stats().blocked).toBe(6);
      hold.open();
      const jobs = await Promise.all(producers);
      expect(admitted).toEqual([0, 1, 2, 3, 4, 5]);
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual([100, 101, 102, 103, 104, 105]);
      // They also ran in that order.
      const started = idsOf(records, 'running');
      expect(started.slice(-6)).toEqual(jobs.map((job) => job.id));
      await runner.close();
    });

    it('BP1: never holds more than capacity jobs, however many producers push', async () => {
      const capacity = 3;
      // One job per thread: a transparent batch runs several jobs in one
      // slot, and a prefetched job waits in a thread behind another.
      const runner = runners.runner({ capacity, maxThreads: 2, batching: 'off', prefetch: 'off' });
      let maxQueued = 0;
      let maxRunning = 0;
      let maxBlocked = 0;
      runner.on('queued', () => {
        const stats = runner.stats();
        maxQueued = Math.max(maxQueued, stats.queued);
        maxRunning = Math.max(maxRunning, stats.running);
        maxBlocked = Math.max(maxBlocked, stats.blocked);
      });
      const producers = Array.from({ length: 40 }, async (_, p) => {
        const results: number[] = [];
        for (let j = 0; j < 3; j++) {
          const job = await runner.submit('add', [p, j * 1000]);
          results.push(await job.result);
        }
        return results;
      });
      const all = await Promise.all(producers);
      all.forEach((results, p) => expect(results).toEqual([p, p + 1000, p + 2000]));
      expect(maxQueued).toBeLessThanOrEqual(capacity);
      expect(maxQueued).toBe(capacity);
      expect(maxBlocked).toBeGreaterThan(0);
      expect(maxRunning).toBeLessThanOrEqual(2);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0, blocked: 0, succeeded: 120 });
      await runner.close();
    });
  });

  describe('when room frees on the table', () => {
    it('BP3: admits one blocked producer each time a job leaves the table, after a success, a failure, a crash, a cancel and an expiry', async () => {
      const runner = runners.runner({ capacity: 1, maxThreads: 1 });
      const hold = await holdThread(runner);
      const failing = await runner.submit('throwError', ['fails']);
      const second = gate();
      const blockedAt: number[] = [];
      runner.on('queued', () => blockedAt.push(runner.stats().blocked));
      // Each producer waits for the job before it to leave the table.
      const producers = [
        runner.submit('exit', [1]),
        runner.submit('waitForMessage', [second.port], { transferList: [second.port] }),
        runner.submit('countRun', ['cancelled']),
        runner.submit('countRun', ['expired'], { expiresIn: 50 }),
        runner.submit('add', [2, 2]),
      ];
      await flush();
      expect(runner.stats()).toMatchObject({ queued: 1, blocked: 5 });

      hold.open(); // a success: `failing` starts, its room goes to the exit job
      const crashing = await producers[0]!;
      expect(await rejectionOf(failing.result)).toBeInstanceOf(TaskError); // a failure: the exit job starts
      const holding = await producers[1]!;
      expect(await rejectionOf(crashing.result)).toBeInstanceOf(WorkerCrashedError); // a crash: the gate job starts
      const cancelled = await producers[2]!;
      expect(cancelled.state).toBe('queued');
      expect(cancelled.cancel()).toBe(true); // a cancel: the expiring job gets its room
      const expiring = await producers[3]!;
      expect(await rejectionOf(expiring.result)).toBeInstanceOf(JobExpiredError); // an expiry: the last producer gets in
      const last = await producers[4]!;
      expect(blockedAt).toEqual([4, 3, 2, 1, 0]);
      expect(runner.stats()).toMatchObject({ queued: 1, blocked: 0 });

      second.open();
      expect(await holding.result).toBe('opened');
      expect(await last.result).toBe(4);
      expect(runner.stats()).toMatchObject({ blocked: 0, queued: 0, failed: 2, cancelled: 1, expired: 1, succeeded: 3 });
      expect(await runner.run('readRunCount', 'cancelled')).toBe(0);
      await runner.close();
    });
  });

  describe('full and drained events', () => {
    it('BP6: fire once per transition', async () => {
      const runner = runners.runner({ capacity: 2, maxThreads: 1 });
      const log: string[] = [];
      runner.on('full', () => log.push('full'));
      runner.on('drained', () => log.push('drained'));

      const hold = await holdThread(runner);
      await runner.submit('add', [1, 1]);
      expect(log).toEqual([]);
      await runner.submit('add', [1, 2]);
      expect(log).toEqual(['full']);
      const blocked = runner.submit('add', [1, 3]);
      await flush();
      expect(log).toEqual(['full']);
      hold.open();
      await blocked;
      await runner.onIdle();
      // A job left and a waiter took its place at once: still full, no event.
      expect(log).toEqual(['full', 'drained']);

      const hold2 = await holdThread(runner);
      const a = await runner.submit('add', [2, 1]);
      await runner.submit('add', [2, 2]);
      expect(log).toEqual(['full', 'drained', 'full']);
      a.cancel();
      expect(log).toEqual(['full', 'drained', 'full', 'drained']);
      runner.trySubmit('add', [2, 3]);
      expect(log).toEqual(['full', 'drained', 'full', 'drained', 'full']);
      hold2.open();
      await runner.onIdle();
      expect(log).toEqual(['full', 'drained', 'full', 'drained', 'full', 'drained']);
      await runner.close();
    });
  });

  describe('after close', () => {
    it('BP6: emits drained once as close empties a full table, and neither event after close resolved', async () => {
      const runner = runners.runner({ capacity: 2, maxThreads: 1 });
      const log: string[] = [];
      runner.on('full', () => log.push('full'));
      runner.on('drained', () => log.push('drained'));
      await holdThread(runner);
      await runner.submit('add', [1, 1]);
      await runner.submit('add', [1, 2]);
      expect(log).toEqual(['full']);
      await runner.close({ drain: 'none' });
      expect(log).toEqual(['full', 'drained']);
      await flush();
      expect(log).toEqual(['full', 'drained']);
    });
  });

  describe('priority', () => {
    it('BP5: starts higher priorities first and keeps arrival order within one', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const records = recordJobEvents(runner);
      const hold = await holdThread(runner);
      const plan = [
        ['low-a', 0],
        ['high-a', 5],
        ['low-b', 0],
        ['negative', -1],
        ['high-b', 5],
        ['top', 10],
        ['low-c', 0],
      ] as const;
      const labels = new Map<string, string>();
      const jobs = [];
      for (const [label, priority] of plan) {
        const job = await runner.submit('add', [priority, 0], { priority });
        labels.set(job.id, label);
        jobs.push(job);
      }
      hold.open();
      await Promise.all(jobs.map((job) => job.result));
      const order = idsOf(records, 'running')
        .map((id) => labels.get(id))
        .filter((label) => label !== undefined);
      expect(order).toEqual(['top', 'high-a', 'high-b', 'low-a', 'low-b', 'low-c', 'negative']);
      await runner.close();
    });
  });

  describe('when a blocked producer’s signal aborts', () => {
    it('BP4: rejects its submit with CancelledError and leaves no reservation behind', async () => {
      const runner = runners.runner({ capacity: 1, maxThreads: 1 });
      const records = recordJobEvents(runner);
      const hold = await holdThread(runner);
      const queued = await runner.submit('add', [1, 0]);
      const controller = runners.abortController();
      const aborted = runner.submit('add', [2, 0], { signal: controller.signal });
      const next = runner.submit('add', [3, 0]);
      await flush();
      expect(runner.stats().blocked).toBe(2);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);

      controller.abort('gave up');
      const error = await rejectionOf(aborted);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe('gave up');
      expect(runner.stats()).toMatchObject({ blocked: 1, queued: 1 });
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);

      hold.open();
      const nextJob = await next;
      expect(await queued.result).toBe(1);
      expect(await nextJob.result).toBe(3);
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ blocked: 0, queued: 0, running: 0 });
      // Only the three jobs that were admitted were ever queued.
      expect(idsOf(records, 'queued')).toEqual([hold.job.id, queued.id, nextJob.id]);
      // The freed room is really free: capacity 1 admits one more now.
      const extra = runner.trySubmit('add', [4, 0]);
      expect(await extra.result).toBe(4);
      await runner.close();
    });
  });

  describe('onIdle()', () => {
    it('resolves, and idle is emitted, once every job is done', async () => {
      const runner = runners.runner({ capacity: 2, maxThreads: 2 });
      let idleEvents = 0;
      runner.on('idle', () => idleEvents++);
      // 2 run, 2 wait on the table, 2 producers wait for room.
      const submits = Array.from({ length: 6 }, (_, i) => runner.submit('sleep', [10 + i]));
      const idle = runner.onIdle();
      const jobs = await Promise.all(submits);
      expect(idleEvents).toBe(0);
      await idle;
      expect(jobs.map((job) => job.state)).toEqual(Array(6).fill('succeeded'));
      expect(idleEvents).toBe(1);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0, blocked: 0, succeeded: 6 });
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual([10, 11, 12, 13, 14, 15]);
      await runner.close();
    });

    it('resolves at once when nothing is pending', async () => {
      const runner = runners.runner();
      const idle = track(runner.onIdle());
      await flush();
      expect(idle.isSettled).toBe(true);
      await runner.close();
    });
  });
});
