import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { BaoziError, InvalidOptionError, RunnerClosedError } from '../lib/errors.js';
import type { JobHandle, JobState } from '../lib/job/job.js';
import {
  PeriodicSchedule,
  resolveScheduleOptions,
  type ScheduleHooks,
  type ScheduleOptions,
  type ScheduleSubmit,
} from '../lib/semantics/schedule.js';
import { deferred } from './helpers/events.js';

type FakeJob = { -readonly [K in keyof JobHandle]: JobHandle[K] };

let nextJobId = 0;
function fakeJob(state: JobState = 'succeeded'): FakeJob {
  return {
    id: `job-${nextJobId++}`,
    name: 'tick',
    state,
    result: Promise.resolve(undefined),
    attempt: 1,
    errors: [],
    progress: undefined,
    submittedAt: Date.now(),
    queuedAt: Date.now(),
    startedAt: undefined,
    finishedAt: undefined,
    cancel: () => false,
  };
}

/** A submit function that records when it was called and answers with `respond`. */
function recordSubmits(respond: (call: number) => Promise<JobHandle> = () => Promise.resolve(fakeJob())) {
  const calls: { at: number; signal: AbortSignal }[] = [];
  const submit: ScheduleSubmit = (signal) => {
    calls.push({ at: Date.now(), signal });
    return respond(calls.length - 1);
  };
  return { calls, submit };
}

const T0 = Date.parse('2024-03-10T12:02:30.000Z');
const started: PeriodicSchedule[] = [];

function schedule(submit: ScheduleSubmit, options: ScheduleOptions, hooks?: ScheduleHooks): PeriodicSchedule {
  const created = new PeriodicSchedule(submit, resolveScheduleOptions(options), hooks);
  started.push(created);
  return created;
}

function offsets(calls: { at: number }[], from = T0): number[] {
  return calls.map((call) => call.at - from);
}

function isoTimes(calls: { at: number }[]): string[] {
  return calls.map((call) => new Date(call.at).toISOString());
}

beforeEach(() => {
  jest.useFakeTimers({ now: T0 });
});

afterEach(() => {
  for (const each of started.splice(0)) each.stop();
  jest.useRealTimers();
});

describe('resolveScheduleOptions', () => {
  it('fills in overlap skip for a schedule every n milliseconds', () => {
    expect(resolveScheduleOptions({ every: 100 })).toEqual({ kind: 'every', every: 100, overlap: 'skip' });
  });

  it('keeps a cron pattern with its time zone spelled canonically', () => {
    expect(resolveScheduleOptions({ cron: '*/5 * * * *', timezone: 'europe/paris', overlap: 'queue' })).toEqual({
      kind: 'cron',
      cron: '*/5 * * * *',
      timezone: 'Europe/Paris',
      overlap: 'queue',
    });
  });

  it('does not change the options it is given', () => {
    const options = Object.freeze({ every: 5 });
    resolveScheduleOptions(options);
    expect(options).toEqual({ every: 5 });
  });

  it.each([
    ['NaN for every', { every: Number.NaN }, 'every'],
    ['Infinity for every', { every: Number.POSITIVE_INFINITY }, 'every'],
    ['a fraction for every', { every: 1.5 }, 'every'],
    ['zero for every', { every: 0 }, 'every'],
    ['a negative every', { every: -100 }, 'every'],
    ['a string for every', { every: '100' }, 'every'],
    ['both every and cron', { every: 100, cron: '* * * * *' }, 'every'],
    ['neither every nor cron', {}, 'every'],
    ['a cron string with four fields', { cron: '* * * *' }, 'cron'],
    ['a cron string with an out-of-range minute', { cron: '61 * * * *' }, 'cron'],
    ['a cron string that is not a pattern', { cron: 'every day' }, 'cron'],
    ['an empty cron string', { cron: '' }, 'cron'],
    ['a cron pattern that never matches', { cron: '0 0 30 2 *' }, 'cron'],
    ['a cron pattern that is not a string', { cron: 5 }, 'cron'],
    ['an unknown time zone', { cron: '* * * * *', timezone: 'Mars/Olympus_Mons' }, 'timezone'],
    ['a time zone with every', { every: 100, timezone: 'UTC' }, 'timezone'],
    ['an unknown overlap mode', { every: 100, overlap: 'wait' }, 'overlap'],
    ['an unknown key', { every: 100, intervl: 5 }, 'intervl'],
    ['null instead of an object', null, 'schedule options'],
  ])('rejects %s, naming the option', (_label, options, option) => {
    let thrown: unknown;
    try {
      resolveScheduleOptions(options as ScheduleOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect(thrown).toBeInstanceOf(BaoziError);
    expect((thrown as InvalidOptionError).code).toBe('BAOZI_INVALID_OPTION');
    expect((thrown as InvalidOptionError).option).toBe(option);
  });
});

describe('PeriodicSchedule', () => {
  describe('every n milliseconds', () => {
    it('submits one job per period: 10 ticks in 1000 ms of every 100 ms', async () => {
      const { calls, submit } = recordSubmits();
      const handle = schedule(submit, { every: 100 });
      expect(handle.nextRunAt).toEqual(new Date(T0 + 100));

      await jest.advanceTimersByTimeAsync(1000);

      expect(offsets(calls)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
      expect(handle.ticks).toBe(10);
      expect(handle.submitted).toBe(10);
      expect(handle.skipped).toBe(0);
      expect(handle.failedToSubmit).toBe(0);
      expect(handle.nextRunAt).toEqual(new Date(T0 + 1100));
    });

    it('keeps ticks on the grid when each submit resolves after 150 ms', async () => {
      const { calls, submit } = recordSubmits(
        () => new Promise((resolve) => setTimeout(() => resolve(fakeJob()), 150)),
      );
      const handle = schedule(submit, { every: 100, overlap: 'queue' });

      await jest.advanceTimersByTimeAsync(1000);

      expect(offsets(calls)).toEqual([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
      expect(handle.submitted).toBe(8);
      await jest.advanceTimersByTimeAsync(150);
      expect(handle.submitted).toBe(10);
    });

    it('keeps ticks on the grid when the submit call itself holds the clock for 30 ms', async () => {
      const { calls, submit } = recordSubmits(() => {
        jest.setSystemTime(Date.now() + 30);
        return Promise.resolve(fakeJob());
      });
      schedule(submit, { every: 100 });

      await jest.advanceTimersByTimeAsync(400);

      // Each call moves the fake clock, so the span covers more ticks; the due times stay on the grid.
      expect(calls.length).toBeGreaterThanOrEqual(4);
      expect(offsets(calls)).toEqual(calls.map((_, index) => (index + 1) * 100));
    });

    it('runs a late tick once instead of replaying the periods it missed', async () => {
      const { calls, submit } = recordSubmits();
      const handle = schedule(submit, { every: 100 });
      await jest.advanceTimersByTimeAsync(50);

      // The clock jumps 350 ms while the timer waits, as under a blocked event loop.
      jest.setSystemTime(Date.now() + 350);
      await jest.advanceTimersByTimeAsync(50);

      expect(offsets(calls)).toEqual([450]);
      expect(handle.nextRunAt).toEqual(new Date(T0 + 500));
      await jest.advanceTimersByTimeAsync(50);
      expect(offsets(calls)).toEqual([450, 500]);
    });
  });

  describe("with overlap 'skip' (the default)", () => {
    it('skips ticks while the last job is still running, counts them, and submits again once it settles', async () => {
      const job = fakeJob('running');
      const { calls, submit } = recordSubmits(() => Promise.resolve(job));
      const skipped = jest.fn<NonNullable<ScheduleHooks['skipped']>>();
      const handle = schedule(submit, { every: 100 }, { skipped });

      await jest.advanceTimersByTimeAsync(300);
      expect(calls).toHaveLength(1);
      expect(handle.skipped).toBe(2);
      expect(skipped).toHaveBeenCalledTimes(2);
      expect(skipped).toHaveBeenLastCalledWith({ dueAt: new Date(T0 + 300), previous: job });

      job.state = 'succeeded';
      await jest.advanceTimersByTimeAsync(100);
      expect(offsets(calls)).toEqual([100, 400]);
      expect(handle.ticks).toBe(4);
      expect(handle.submitted).toBe(2);
      expect(handle.lastJob).toBe(job);
    });

    it.each<JobState>(['queued', 'retrying' as JobState, 'scheduled' as JobState])(
      'treats a job in state %s as live',
      async (state) => {
        const { calls, submit } = recordSubmits(() => Promise.resolve(fakeJob(state)));
        const handle = schedule(submit, { every: 100 });

        await jest.advanceTimersByTimeAsync(200);

        expect(calls).toHaveLength(1);
        expect(handle.skipped).toBe(1);
      },
    );

    it.each<JobState>(['succeeded', 'failed', 'cancelled', 'expired' as JobState])(
      'submits again after a job that %s',
      async (state) => {
        const { calls, submit } = recordSubmits(() => Promise.resolve(fakeJob(state)));
        const handle = schedule(submit, { every: 100 });

        await jest.advanceTimersByTimeAsync(200);

        expect(calls).toHaveLength(2);
        expect(handle.skipped).toBe(0);
      },
    );

    it('skips while the last tick still waits for room on the table', async () => {
      const room = deferred<JobHandle>();
      const { calls, submit } = recordSubmits(() => room.promise);
      const skipped = jest.fn<NonNullable<ScheduleHooks['skipped']>>();
      const handle = schedule(submit, { every: 100 }, { skipped });

      await jest.advanceTimersByTimeAsync(200);

      expect(calls).toHaveLength(1);
      expect(handle.skipped).toBe(1);
      expect(skipped).toHaveBeenCalledWith({ dueAt: new Date(T0 + 200), previous: undefined });
      room.resolve(fakeJob());
      await jest.advanceTimersByTimeAsync(100);
      expect(calls).toHaveLength(2);
    });
  });

  describe("with overlap 'queue'", () => {
    it('submits every tick even while the last job is still running', async () => {
      const { calls, submit } = recordSubmits(() => Promise.resolve(fakeJob('running')));
      const handle = schedule(submit, { every: 100, overlap: 'queue' });

      await jest.advanceTimersByTimeAsync(500);

      expect(offsets(calls)).toEqual([100, 200, 300, 400, 500]);
      expect(handle.submitted).toBe(5);
      expect(handle.skipped).toBe(0);
    });
  });

  describe('with a cron pattern', () => {
    it("fires '*/5 * * * *' at the fifth minutes of the wall clock", async () => {
      const { calls, submit } = recordSubmits();
      const handle = schedule(submit, { cron: '*/5 * * * *', timezone: 'UTC' });
      expect(handle.nextRunAt).toEqual(new Date('2024-03-10T12:05:00.000Z'));

      await jest.advanceTimersByTimeAsync(15 * 60_000);

      expect(isoTimes(calls)).toEqual(['2024-03-10T12:05:00.000Z', '2024-03-10T12:10:00.000Z', '2024-03-10T12:15:00.000Z']);
      expect(handle.nextRunAt).toEqual(new Date('2024-03-10T12:20:00.000Z'));
    });

    it("reads '0 9 * * *' in its time zone: 09:00 in Tokyo comes nine hours before 09:00 UTC", async () => {
      jest.setSystemTime(new Date('2023-12-31T12:00:00.000Z'));
      const tokyo = recordSubmits();
      const utc = recordSubmits();
      schedule(tokyo.submit, { cron: '0 9 * * *', timezone: 'Asia/Tokyo' });
      schedule(utc.submit, { cron: '0 9 * * *', timezone: 'UTC' });

      await jest.advanceTimersByTimeAsync(24 * 3_600_000);

      expect(isoTimes(tokyo.calls)).toEqual(['2024-01-01T00:00:00.000Z']);
      expect(isoTimes(utc.calls)).toEqual(['2024-01-01T09:00:00.000Z']);
    });

    it("waits a year for '0 0 1 1 *' without firing early, beyond setTimeout's 24.8-day limit", async () => {
      const { calls, submit } = recordSubmits();
      const handle = schedule(submit, { cron: '0 0 1 1 *', timezone: 'UTC' });
      const due = Date.parse('2025-01-01T00:00:00.000Z');
      expect(handle.nextRunAt).toEqual(new Date(due));

      await jest.advanceTimersByTimeAsync(due - T0 - 1);
      expect(calls).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(isoTimes(calls)).toEqual(['2025-01-01T00:00:00.000Z']);
    });
  });

  describe('stop()', () => {
    it('prevents further ticks and leaves no timer', async () => {
      const { calls, submit } = recordSubmits();
      const stopped = jest.fn<NonNullable<ScheduleHooks['stopped']>>();
      const handle = schedule(submit, { every: 100 }, { stopped });
      await jest.advanceTimersByTimeAsync(250);

      handle.stop();
      handle.stop();

      expect(jest.getTimerCount()).toBe(0);
      expect(handle.isStopped).toBe(true);
      expect(handle.nextRunAt).toBeUndefined();
      expect(stopped).toHaveBeenCalledTimes(1);
      expect(stopped).toHaveBeenCalledWith({ cause: undefined });
      await jest.advanceTimersByTimeAsync(1000);
      expect(calls).toHaveLength(2);
    });

    it('leaves no timer for a cron schedule either', () => {
      const { submit } = recordSubmits();
      const handle = schedule(submit, { cron: '0 0 1 1 *' });
      expect(jest.getTimerCount()).toBe(1);

      handle.stop();

      expect(jest.getTimerCount()).toBe(0);
    });

    it('withdraws a tick still waiting for room and does not report its rejection', async () => {
      const { calls, submit } = recordSubmits(
        (call) => new Promise((_, reject) => calls[call]!.signal.addEventListener('abort', () => reject(new Error('withdrawn')))),
      );
      const submitFailed = jest.fn();
      const handle = schedule(submit, { every: 100 }, { submitFailed });
      await jest.advanceTimersByTimeAsync(100);

      handle.stop();
      await jest.advanceTimersByTimeAsync(0);

      expect(calls[0]!.signal.aborted).toBe(true);
      expect(handle.failedToSubmit).toBe(1);
      expect(submitFailed).not.toHaveBeenCalled();
    });

    it('does not abort the signal of a tick whose job is already on the table', async () => {
      const { calls, submit } = recordSubmits(() => Promise.resolve(fakeJob('running')));
      const handle = schedule(submit, { every: 100 });
      await jest.advanceTimersByTimeAsync(100);

      handle.stop();

      expect(calls[0]!.signal.aborted).toBe(false);
    });
  });

  describe('when a submit rejects', () => {
    it.each([
      ['a RunnerClosedError', () => new RunnerClosedError()],
      ['any error with code BAOZI_RUNNER_CLOSED', () => Object.assign(new Error('closed'), { code: 'BAOZI_RUNNER_CLOSED' })],
    ])('stops itself on %s and leaves no timer', async (_label, closedError) => {
      const error = closedError();
      const { calls, submit } = recordSubmits(() => Promise.reject(error));
      const stopped = jest.fn<NonNullable<ScheduleHooks['stopped']>>();
      const submitFailed = jest.fn();
      const handle = schedule(submit, { every: 100 }, { stopped, submitFailed });

      await jest.advanceTimersByTimeAsync(100);

      expect(handle.isStopped).toBe(true);
      expect(jest.getTimerCount()).toBe(0);
      expect(handle.failedToSubmit).toBe(1);
      expect(stopped).toHaveBeenCalledWith({ cause: error });
      expect(submitFailed).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1000);
      expect(calls).toHaveLength(1);
    });

    it('counts and reports any other rejection, and keeps ticking', async () => {
      const failure = new TypeError('cannot clone');
      const { calls, submit } = recordSubmits((call) => (call === 0 ? Promise.reject(failure) : Promise.resolve(fakeJob())));
      const submitFailed = jest.fn<NonNullable<ScheduleHooks['submitFailed']>>();
      const handle = schedule(submit, { every: 100 }, { submitFailed });

      await jest.advanceTimersByTimeAsync(300);

      expect(calls).toHaveLength(3);
      expect(handle.isStopped).toBe(false);
      expect(handle.failedToSubmit).toBe(1);
      expect(handle.submitted).toBe(2);
      expect(submitFailed).toHaveBeenCalledTimes(1);
      expect(submitFailed).toHaveBeenCalledWith({ error: failure, dueAt: new Date(T0 + 100) });
    });

    it('treats a submit that throws synchronously like one that rejects', async () => {
      const submitFailed = jest.fn<NonNullable<ScheduleHooks['submitFailed']>>();
      const handle = schedule(
        () => {
          throw new RangeError('bad arguments');
        },
        { every: 100 },
        { submitFailed },
      );

      await jest.advanceTimersByTimeAsync(200);

      expect(handle.failedToSubmit).toBe(2);
      expect(submitFailed).toHaveBeenCalledTimes(2);
      expect(submitFailed.mock.calls[0]![0].error).toBeInstanceOf(RangeError);
    });

    it('raises no unhandled rejection when nobody listens', async () => {
      // Jest fails the test on an unhandled rejection; the extra turn gives Node time to report one.
      const handle = schedule(() => Promise.reject(new TypeError('no hooks')), { every: 100 });
      await jest.advanceTimersByTimeAsync(300);
      handle.stop();
      jest.useRealTimers();
      await new Promise((resolve) => setImmediate(resolve));

      expect(handle.failedToSubmit).toBe(3);
    });
  });
});
