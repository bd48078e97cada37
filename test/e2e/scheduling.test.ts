import { describe, expect, it } from '@jest/globals';
import {
  CancelledError,
  InvalidOptionError,
  JobExpiredError,
  RunnerClosedError,
  ScheduleFullError,
  type JobHandle,
  type Runner,
} from 'baozi';
import { flush, holdThread, rejectionOf, thrownBy, track, untilRetrying, useRunners } from '../helpers/e2e.js';
import { nextEvent } from '../helpers/events.js';
import type { TestTasks } from '../helpers/runner.js';

const runners = useRunners();


/** Resolves with the payloads of the next `count` `name` events. */
function nextEvents<T>(runner: Runner<TestTasks>, name: 'queued' | 'running' | 'succeeded', count: number): Promise<T[]> {
  return new Promise((resolve) => {
    const payloads: T[] = [];
    const listener = (payload: T): void => {
      payloads.push(payload);
      if (payloads.length < count) return;
      runner.off(name, listener as never);
      resolve(payloads);
    };
    runner.on(name, listener as never);
  });
}

describe('Runner', () => {
  describe('when a job is submitted with a delay', () => {
    it('holds it as scheduled, then puts it on the table once due', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const scheduled = nextEvent<{ job: JobHandle; runAt: Date }>(runner, 'scheduled');
      let queuedAt: number | undefined;
      runner.on('queued', () => (queuedAt = Date.now()));
      const before = Date.now();
      const job = await runner.submit('add', [1, 2], { delay: 50 });
      const after = Date.now();
      expect(job.state).toBe('scheduled');
      expect(job.queuedAt).toBeUndefined();
      expect(runner.stats()).toMatchObject({ scheduled: 1, queued: 0, running: 0 });
      const event = await scheduled;
      expect(event.job).toBe(job);
      expect(event.runAt.getTime()).toBeGreaterThanOrEqual(before + 50);
      expect(event.runAt.getTime()).toBeLessThanOrEqual(after + 50);

      expect(await job.result).toBe(3);
      // The delay counts from the submit() call; timers round to whole milliseconds.
      expect(queuedAt! - before).toBeGreaterThanOrEqual(49);
      expect(runner.stats()).toMatchObject({ scheduled: 0, succeeded: 1 });
      await runner.close();
    });

    it('returns a scheduled handle from trySubmit too, even with the table full', async () => {
      const runner = runners.runner({ maxThreads: 1, capacity: 1 });
      const hold = await holdThread(runner);
      await runner.submit('add', [0, 0]);
      const job = runner.trySubmit('add', [2, 2], { delay: 20 });
      expect(job.state).toBe('scheduled');
      hold.open();
      expect(await job.result).toBe(4);
      await runner.close();
    });

    it('never runs a scheduled job that is cancelled before it is due', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('countRun', ['cancelled-while-scheduled'], { delay: 60_000 });
      expect(job.cancel('not needed')).toBe(true);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe('not needed');
      expect(runner.stats()).toMatchObject({ scheduled: 0, cancelled: 1 });
      expect(await runner.run('readRunCount', 'cancelled-while-scheduled')).toBe(0);
      await runner.close();
    });

    it('cancels scheduled jobs when the runner closes', async () => {
      const runner = runners.runner();
      const job = await runner.submit('add', [1, 1], { delay: 60_000 });
      await runner.close();
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBeInstanceOf(RunnerClosedError);
      expect(job.startedAt).toBeUndefined();
    });
  });

  describe('when a job is submitted with runAt', () => {
    it('puts it on the table at that time', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const scheduled = nextEvent<{ job: JobHandle; runAt: Date }>(runner, 'scheduled');
      let queuedAt: number | undefined;
      runner.on('queued', () => (queuedAt = Date.now()));
      const runAt = new Date(Date.now() + 60);
      const job = await runner.submit('add', [3, 4], { runAt });
      expect(job.state).toBe('scheduled');
      expect((await scheduled).runAt.getTime()).toBe(runAt.getTime());
      expect(await job.result).toBe(7);
      // On the wall clock runAt is read on; timers may fire a millisecond early.
      expect(queuedAt).toBeGreaterThanOrEqual(runAt.getTime() - 1);
      await runner.close();
    });

    it('runs it at once when that time has passed', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      let scheduledEvents = 0;
      runner.on('scheduled', () => scheduledEvents++);
      const job = await runner.submit('add', [5, 5], { runAt: new Date(Date.now() - 1000) });
      expect(job.state).not.toBe('scheduled');
      expect(await job.result).toBe(10);
      expect(scheduledEvents).toBe(0);
      await runner.close();
    });

    it('rejects runAt together with delay with InvalidOptionError', async () => {
      const runner = runners.runner();
      const error = await rejectionOf(runner.submit('add', [1, 1], { delay: 10, runAt: new Date() }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
      expect(runner.stats().scheduled).toBe(0);
      await runner.close();
    });
  });

  describe('when maxScheduled jobs already wait', () => {
    it('rejects submit and makes trySubmit throw ScheduleFullError, until one leaves', async () => {
      const runner = runners.runner({ maxThreads: 1, maxScheduled: 2 });
      const first = await runner.submit('add', [1, 0], { delay: 60_000 });
      await runner.submit('add', [2, 0], { delay: 60_000 });

      const error = await rejectionOf(runner.submit('add', [3, 0], { delay: 60_000 }));
      expect(error).toBeInstanceOf(ScheduleFullError);
      expect(error.code).toBe('BAOZI_SCHEDULE_FULL');
      expect(error.maxScheduled).toBe(2);
      const thrown = thrownBy(() => runner.trySubmit('add', [4, 0], { delay: 60_000 }));
      expect(thrown).toBeInstanceOf(ScheduleFullError);
      expect(runner.stats()).toMatchObject({ scheduled: 2, queued: 0 });

      // Jobs without a delay are not held back.
      expect(await runner.run('add', 5, 0)).toBe(5);

      first.cancel();
      const third = await runner.submit('add', [6, 0], { delay: 10 });
      expect(third.state).toBe('scheduled');
      expect(await third.result).toBe(6);
      await runner.close();
    });

    it('counts jobs waiting for a retry as well', async () => {
      const runner = runners.runner({ maxThreads: 1, maxScheduled: 1 });
      const flaky = await runner.submit('failTimes', ['scheduled-room', 5], { retries: { max: 5, backoff: 'fixed', delay: 60_000, jitter: 'none' } });
      await untilRetrying(runner, flaky);
      expect(runner.stats().scheduled).toBe(1);
      expect(await rejectionOf(runner.submit('add', [1, 1], { delay: 10 }))).toBeInstanceOf(ScheduleFullError);
      flaky.cancel();
      expect(await (await runner.submit('add', [1, 1], { delay: 10 })).result).toBe(2);
      await runner.close();
    });
  });

  describe('when a job expires before it starts', () => {
    it.each(['expiresIn', 'expiresAt'] as const)('TO4: through %s, settles it expired with JobExpiredError and never runs it', async (how) => {
      const runner = runners.runner({ maxThreads: 1 });
      const hold = await holdThread(runner);
      const expired = nextEvent<{ job: JobHandle }>(runner, 'expired');
      const key = `expired-${how}`;
      const options = how === 'expiresIn' ? { expiresIn: 50 } : { expiresAt: new Date(Date.now() + 50) };
      const job = await runner.submit('countRun', [key], options);
      expect(job.state).toBe('queued');

      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(JobExpiredError);
      expect(error.code).toBe('BAOZI_EXPIRED');
      expect(error.jobId).toBe(job.id);
      expect(error.task).toBe('countRun');
      expect(job.state).toBe('expired');
      expect(job.startedAt).toBeUndefined();
      expect((await expired).job).toBe(job);
      expect(runner.stats()).toMatchObject({ expired: 1, queued: 0 });

      hold.open();
      await hold.job.result;
      expect(await runner.run('readRunCount', key)).toBe(0);
      await runner.close();
    });

    it('TO4: frees its place on the table, so a blocked producer gets in', async () => {
      const runner = runners.runner({ maxThreads: 1, capacity: 1 });
      const hold = await holdThread(runner);
      const expiring = await runner.submit('countRun', ['expiring'], { expiresIn: 50 });
      const blocked = track(runner.submit('add', [1, 2]));
      await flush();
      expect(blocked.isSettled).toBe(false);
      expect(runner.stats()).toMatchObject({ queued: 1, blocked: 1 });

      expect(await rejectionOf(expiring.result)).toBeInstanceOf(JobExpiredError);
      const admitted = await blocked.promise;
      expect(admitted.state).toBe('queued');
      expect(runner.stats()).toMatchObject({ queued: 1, blocked: 0 });

      hold.open();
      expect(await admitted.result).toBe(3);
      expect(await runner.run('readRunCount', 'expiring')).toBe(0);
      await runner.close();
    });

    it('expires a scheduled job whose expiry comes before its delay', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const job = await runner.submit('countRun', ['expired-scheduled'], { delay: 60_000, expiresIn: 30 });
      expect(job.state).toBe('scheduled');
      expect(await rejectionOf(job.result)).toBeInstanceOf(JobExpiredError);
      expect(job.state).toBe('expired');
      expect(runner.stats()).toMatchObject({ scheduled: 0, expired: 1 });
      expect(await runner.run('readRunCount', 'expired-scheduled')).toBe(0);
      await runner.close();
    });

    it('expires a job that ran past its expiry and failed at once, instead of after its retry backoff', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      await runner.run('add', 0, 0);
      const events: string[] = [];
      for (const event of ['running', 'retrying', 'expired'] as const) runner.on(event, () => events.push(event));
      const job = await runner.submit('failAfter', [100], { expiresIn: 30, retries: { max: 3, backoff: 'fixed', delay: 60_000, jitter: 'none' } });
      expect(job.state).toBe('running');
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(JobExpiredError);
      expect(job.state).toBe('expired');
      expect(job.finishedAt! - job.startedAt!).toBeLessThan(10_000);
      expect(events).toEqual(['running', 'retrying', 'expired']);
      expect(runner.stats()).toMatchObject({ scheduled: 0, expired: 1 });
      await runner.close();
    });

    it('lets a job that started in time run to the end, past its expiry', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      await runner.run('add', 0, 0);
      const job = await runner.submit('sleep', [80], { expiresIn: 20 });
      expect(job.state).toBe('running');
      expect(await job.result).toBe(80);
      expect(job.state).toBe('succeeded');
      await runner.close();
    });
  });

  describe('runner.schedule() every n milliseconds', () => {
    it('submits one normal job per tick until stopped', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const ticks = nextEvents<{ job: JobHandle; result: unknown }>(runner, 'succeeded', 3);
      const startedAt = Date.now();
      const schedule = runner.schedule('countRun', ['every'], { every: 50 });
      expect(schedule.isStopped).toBe(false);
      expect(schedule.nextRunAt).toBeInstanceOf(Date);

      const succeeded = await ticks;
      schedule.stop();
      expect(succeeded.map(({ result }) => result)).toEqual([1, 2, 3]);
      expect(succeeded.every(({ job }) => job.name === 'countRun')).toBe(true);
      expect(new Set(succeeded.map(({ job }) => job.id)).size).toBe(3);
      // Tick n is due n periods after the start (a late tick may come closer to the next one).
      succeeded.forEach(({ job }, i) => expect(job.submittedAt).toBeGreaterThanOrEqual(startedAt + (i + 1) * 50 - 5));
      expect(schedule.isStopped).toBe(true);
      expect(schedule.nextRunAt).toBeUndefined();
      // On a busy machine a tick may find the last job still running and skip.
      const submitted = schedule.submitted;
      expect(submitted).toBeGreaterThanOrEqual(3);
      expect(schedule.failedToSubmit).toBe(0);
      expect(schedule.ticks).toBe(submitted + schedule.skipped);
      expect(schedule.lastJob).toBe(runner.getJob(schedule.lastJob!.id));

      // No tick comes after stop(): a job three periods long sees none.
      await runner.run('sleep', 150);
      expect(schedule.submitted).toBe(submitted);
      await runner.close();
    });

    it("skips ticks while the last tick's job is still live (overlap 'skip')", async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const twoDone = nextEvents<{ job: JobHandle }>(runner, 'succeeded', 2);
      // Each job holds its thread for five periods.
      const schedule = runner.schedule('sleep', [150], { every: 30 });
      const [first, second] = (await twoDone).map(({ job }) => job);
      schedule.stop();
      // The second job came from the first tick after the first job settled.
      expect(second!.submittedAt).toBeGreaterThanOrEqual(first!.finishedAt!);
      expect(schedule.submitted).toBe(2);
      expect(schedule.skipped).toBeGreaterThanOrEqual(1);
      expect(schedule.failedToSubmit).toBe(0);
      expect(schedule.ticks).toBe(schedule.submitted + schedule.skipped);
      await runner.close();
    });

    it("submits every tick while the last job is still live with overlap 'queue'", async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const queued = nextEvents<{ job: JobHandle }>(runner, 'queued', 3);
      const schedule = runner.schedule('sleep', [60_000], { every: 30, overlap: 'queue' });
      const [first, ...later] = (await queued).map(({ job }) => job);
      schedule.stop();
      expect(first!.state).toBe('running');
      expect(later.map((job) => job.state)).toEqual(['queued', 'queued']);
      expect(schedule.skipped).toBe(0);
      // stop() leaves jobs already on the table alone, even one whose submit had not resolved yet.
      await flush();
      expect(later.map((job) => job.state)).toEqual(['queued', 'queued']);
      expect(schedule.submitted).toBe(3);
      await runner.close({ drain: 'none' });
      expect([first, ...later].map((job) => job!.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    });

    it('stops when the runner closes', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const firstTick = nextEvent(runner, 'succeeded');
      const schedule = runner.schedule('add', [1, 1], { every: 20 });
      await firstTick;
      await runner.close();
      expect(schedule.isStopped).toBe(true);
      expect(schedule.nextRunAt).toBeUndefined();
      expect(thrownBy(() => runner.schedule('add', [1, 1], { every: 20 }))).toBeInstanceOf(RunnerClosedError);
    });

    it('throws InvalidOptionError for bad schedule options', async () => {
      const runner = runners.runner();
      for (const options of [{ every: 0 }, { every: 50, cron: '* * * * *' }, {}, { every: 50, overlap: 'sometimes' }, { every: 50, evry: 1 }]) {
        const error = thrownBy(() => runner.schedule('add', [1, 1], options as never));
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error.code).toBe('BAOZI_INVALID_OPTION');
      }
      await runner.close();
    });
  });

  describe('runner.schedule() with a cron pattern', () => {
    it('submits a job at the next matching time in its time zone', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const tick = nextEvent<{ job: JobHandle; result: unknown }>(runner, 'succeeded');
      const schedule = runner.schedule('countRun', ['cron'], { cron: '* * * * * *', timezone: 'UTC' });
      const dueAt = schedule.nextRunAt!;
      // Six fields: every second, on the second.
      expect(dueAt.getUTCMilliseconds()).toBe(0);
      const { job, result } = await tick;
      schedule.stop();
      expect(result).toBe(1);
      expect(job.submittedAt).toBeGreaterThanOrEqual(dueAt.getTime() - 5);
      await runner.close();
    });
  });
});
