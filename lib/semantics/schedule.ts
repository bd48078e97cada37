import { createHash } from 'node:crypto';
import { serialize } from 'node:v8';
import { Cron } from 'croner';
import { InvalidOptionError } from '../errors.js';
import { DEFAULTS } from '../options.js';
import type { JobHandle } from '../job/job.js';
import { MAX_TIMER_DELAY } from '../../workers/long-timer.js';
import type { ScheduleMemory } from '../broker/contract.js';

/**
 * What a tick does when the job of an earlier tick is still live (queued,
 * running, or waiting for room on the table).
 * - `skip`: submit nothing for this tick; count it in `skipped`.
 * - `queue`: submit anyway, so jobs of one schedule may overlap.
 */
export type ScheduleOverlap = 'skip' | 'queue';

/**
 * Options of a periodic schedule: when its ticks are due and what a tick
 * does while the last job is still live. Give exactly one of `every` and
 * `cron`. Unknown keys are rejected (they are usually typos).
 */
export interface ScheduleOptions {
  /**
   * Milliseconds between ticks. The first tick is due one period after the
   * schedule starts and tick n at `start + n × every`, however long earlier
   * ticks took, so ticks do not drift. A tick that comes late (the event
   * loop was blocked) runs once; the due times it passed are not replayed.
   * Integer, at least 1. Not with `cron`.
   * @default undefined (then `cron` is required)
   */
  every?: number;
  /**
   * A cron pattern, read in `timezone`: five fields
   * (`minute hour day-of-month month day-of-week`, e.g. `*\/5 * * * *`), or
   * six with seconds first; nicknames such as `@hourly` work too. A day of
   * month and a day of week combine with OR, as in Vixie cron. The pattern
   * must match some future time. Not with `every`.
   * @default undefined (then `every` is required)
   */
  cron?: string;
  /**
   * IANA time zone the `cron` pattern is read in, e.g. `Europe/Paris`;
   * daylight-saving changes follow that zone. Only with `cron`.
   * @default the process's local time zone (`TZ`)
   */
  timezone?: string;
  /**
   * What a tick does while the job of an earlier tick is still queued,
   * running or waiting for room: `skip` it (and count it in `skipped`) or
   * `queue` another job anyway. With `queue` and a full table, every tick
   * waits for room, so waiting ticks add up until the table drains.
   * @default 'skip'
   */
  overlap?: ScheduleOverlap;
  /**
   * With a `journal`: the name the schedule's last tick is kept under, so
   * that a runner on the same journal with a schedule of the same key goes
   * on from it. Due times missed while no runner was up are not replayed:
   * the first tick after a restart is due at once, once, when any was
   * missed, and later ticks keep their times. Two schedules of one runner
   * may not share a key. Without a journal it is not used.
   * @default the task name, the timing (`every`, or `cron` and `timezone`) and a digest of the arguments
   */
  key?: string;
}

/** Every default of `ScheduleOptions`, in one place. */
/** `ScheduleOptions` after validation: one kind of timing, every default filled in. */
export type ScheduleSpec =
  | { readonly kind: 'every'; readonly every: number; readonly overlap: ScheduleOverlap; readonly key: string | undefined }
  | { readonly kind: 'cron'; readonly cron: string; readonly timezone: string | undefined; readonly overlap: ScheduleOverlap; readonly key: string | undefined };

const SCHEDULE_KEYS = ['every', 'cron', 'timezone', 'overlap', 'key'] as const satisfies readonly (keyof ScheduleOptions)[];
const OVERLAPS: readonly ScheduleOverlap[] = ['skip', 'queue'];
const CRON_EXPECTED = 'a cron pattern: five fields (minute hour day-of-month month day-of-week), or six with seconds first';

/** Checks schedule options without touching the caller's object. Throws `InvalidOptionError` naming the option. */
export function resolveScheduleOptions(options: ScheduleOptions): ScheduleSpec {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError('schedule options', options, 'an object with `every` or `cron`');
  }
  for (const key of Object.keys(options)) {
    if (!(SCHEDULE_KEYS as readonly string[]).includes(key)) {
      throw new InvalidOptionError(key, (options as Record<string, unknown>)[key], `no such option; known schedule options: ${SCHEDULE_KEYS.join(', ')}`);
    }
  }
  const { every, cron, timezone, overlap = DEFAULTS.schedule.overlap, key } = options;
  if (key !== undefined && (typeof key !== 'string' || key === '')) throw new InvalidOptionError('key', key, 'a non-empty string naming the schedule');
  if (!OVERLAPS.includes(overlap)) {
    throw new InvalidOptionError('overlap', overlap, `one of ${OVERLAPS.map((mode) => `'${mode}'`).join(', ')}`);
  }
  if (every !== undefined && cron !== undefined) {
    throw new InvalidOptionError('every', every, 'no `every` together with `cron`: a schedule has one of them');
  }
  if (every !== undefined) {
    if (typeof every !== 'number' || !Number.isSafeInteger(every) || every < 1) {
      throw new InvalidOptionError('every', every, 'an integer number of milliseconds, 1 or more');
    }
    if (timezone !== undefined) {
      throw new InvalidOptionError('timezone', timezone, 'no `timezone` with `every`: it applies to `cron` patterns only');
    }
    return { kind: 'every', every, overlap, key };
  }
  if (cron === undefined) {
    throw new InvalidOptionError('every', every, 'one of `every` (milliseconds) or `cron` (a pattern)');
  }
  if (typeof cron !== 'string' || cron.trim() === '') throw new InvalidOptionError('cron', cron, CRON_EXPECTED);
  const zone = canonicalTimezone(timezone);
  let next: Date | null;
  try {
    next = createCron(cron, zone).nextRun(new Date());
  } catch (error) {
    // InvalidOptionError takes no `cause`, so croner's reason goes into the message.
    throw new InvalidOptionError('cron', cron, `${CRON_EXPECTED} (${error instanceof Error ? error.message : String(error)})`);
  }
  if (next === null) throw new InvalidOptionError('cron', cron, 'a cron pattern that matches some future time');
  return { kind: 'cron', cron, timezone: zone, overlap, key };
}

/** The key a schedule's last tick is kept under: its own `key`, or its task, timing and a digest of its arguments. */
export function scheduleKey(task: string, args: unknown, spec: ScheduleSpec): string {
  if (spec.key !== undefined) return spec.key;
  const timing = spec.kind === 'every' ? `every ${spec.every}` : `cron ${spec.cron}${spec.timezone ? ` ${spec.timezone}` : ''}`;
  let digest: string;
  try {
    digest = createHash('sha256').update(serialize(args)).digest('hex').slice(0, 16);
  } catch {
    // Arguments that cannot be copied fail the first tick anyway; the key does without them.
    digest = 'uncopyable';
  }
  return `${task} ${timing} ${digest}`;
}

function canonicalTimezone(timezone: unknown): string | undefined {
  if (timezone === undefined) return undefined;
  if (typeof timezone === 'string' && timezone !== '') {
    try {
      return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
    } catch {
      // Intl throws a RangeError for an unknown zone; reported below.
    }
  }
  throw new InvalidOptionError('timezone', timezone, 'an IANA time zone name, e.g. Europe/Paris or UTC');
}

// Only for computing dates: without a callback, croner starts no timer.
function createCron(pattern: string, timezone: string | undefined): Cron {
  return new Cron(pattern, { timezone, mode: '5-or-6-parts' });
}

/** What the producer holds for a periodic schedule. */
export interface ScheduleHandle<Result = unknown> {
  /**
   * Stops the schedule: clears its timer, so no tick comes after, and
   * withdraws a tick still waiting for room on the table. Jobs already on
   * the table or running are left alone. Calling it again does nothing.
   */
  stop(): void;
  /** `true` once `stop()` was called or the schedule stopped itself (the runner closed). */
  readonly isStopped: boolean;
  /** When the next tick is due; `undefined` once stopped. */
  readonly nextRunAt: Date | undefined;
  /** Due times reached: `submitted + skipped + failedToSubmit`, plus ticks still waiting for room. */
  readonly ticks: number;
  /** Ticks whose job was put on the table. */
  readonly submitted: number;
  /** Ticks skipped because an earlier tick's job was still live (`overlap: 'skip'`). */
  readonly skipped: number;
  /** Ticks whose submit rejected (a closed runner, bad arguments, or withdrawn by `stop()`). */
  readonly failedToSubmit: number;
  /** The job of the latest tick that reached the table. */
  readonly lastJob: JobHandle<Result> | undefined;
}

/**
 * What a schedule reports, for the runner to turn into events. Each hook
 * gets one payload object. Hooks run after the schedule's own state is
 * updated; a hook that throws does not disturb the schedule (its error is
 * rethrown as an uncaught exception, as a throwing timer callback's is).
 */
export interface ScheduleHooks<Result = unknown> {
  /** A tick's job is on the table. */
  submitted?(payload: { job: JobHandle<Result>; dueAt: Date }): void;
  /** A tick was skipped; `previous` is the live job, `undefined` while that job still waits for room. */
  skipped?(payload: { dueAt: Date; previous: JobHandle<Result> | undefined }): void;
  /** A tick's submit rejected with something other than a closed runner. Not called after `stop()`. */
  submitFailed?(payload: { error: unknown; dueAt: Date }): void;
  /**
   * The schedule stopped, once. `cause` is the submit's rejection when the
   * runner closed (`BAOZI_RUNNER_CLOSED`), `undefined` for `stop()` or a
   * cron pattern with no next time.
   */
  stopped?(payload: { cause: unknown }): void;
}

/**
 * Puts one job through `submit` per tick. `submit` gets a signal that
 * aborts if the schedule stops while that tick still waits for room; pass
 * it as the job's `signal` so the wait is withdrawn. Once `submit` has
 * resolved, that signal never aborts, so stopping the schedule leaves the
 * job alone.
 */
export type ScheduleSubmit<Result = unknown> = (signal: AbortSignal) => Promise<JobHandle<Result>>;

// Settled states; any other state, including ones added later, is live.
const TERMINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled', 'expired']);
const RUNNER_CLOSED = 'BAOZI_RUNNER_CLOSED';

/**
 * A periodic schedule: due times from `every` or a cron pattern, one job
 * submitted per tick. Starts when constructed. Create it with
 * `resolveScheduleOptions()` output; the runner hands it out as a
 * `ScheduleHandle`.
 */
export class PeriodicSchedule<Result = unknown> implements ScheduleHandle<Result> {
  readonly #submit: ScheduleSubmit<Result>;
  readonly #spec: ScheduleSpec;
  readonly #hooks: ScheduleHooks<Result>;
  readonly #cron: Cron | undefined;
  readonly #startedAt = Date.now();
  /** `every` ticks fall on this time plus whole periods: the start, or the last tick remembered. */
  readonly #anchor: number;
  readonly #memory: ScheduleMemory | undefined;
  #dueAt: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #isStopped = false;
  /** One controller per tick whose submit has not settled. */
  readonly #waiting = new Set<AbortController>();
  #ticks = 0;
  #submitted = 0;
  #skipped = 0;
  #failedToSubmit = 0;
  #lastJob: JobHandle<Result> | undefined;

  /** With a journal, what its last tick is kept under: two live schedules of one runner never share a key. */
  readonly key: string | undefined;

  constructor(submit: ScheduleSubmit<Result>, spec: ScheduleSpec, hooks: ScheduleHooks<Result> = {}, memory?: ScheduleMemory, key?: string) {
    this.key = key;
    this.#submit = submit;
    this.#spec = spec;
    this.#hooks = hooks;
    this.#memory = memory;
    this.#cron = spec.kind === 'cron' ? createCron(spec.cron, spec.timezone) : undefined;
    const last = memory?.lastDueAt;
    // Remembered: the ticks go on from the last one; if any fell due while
    // no runner was up, one tick is due now for all of them.
    this.#anchor = last ?? this.#startedAt;
    this.#dueAt = last === undefined ? this.#nextDueAfter(this.#startedAt) : this.#nextDueAfter(last);
    this.#arm();
  }

  get isStopped(): boolean {
    return this.#isStopped;
  }

  get nextRunAt(): Date | undefined {
    return this.#dueAt === undefined ? undefined : new Date(this.#dueAt);
  }

  get ticks(): number {
    return this.#ticks;
  }

  get submitted(): number {
    return this.#submitted;
  }

  get skipped(): number {
    return this.#skipped;
  }

  get failedToSubmit(): number {
    return this.#failedToSubmit;
  }

  get lastJob(): JobHandle<Result> | undefined {
    return this.#lastJob;
  }

  stop(): void {
    this.#halt(undefined);
  }

  #halt(cause: unknown): void {
    if (this.#isStopped) return;
    this.#isStopped = true;
    this.#dueAt = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const controller of this.#waiting) controller.abort();
    this.#notify(() => this.#hooks.stopped?.({ cause }));
  }

  #nextDueAfter(time: number): number | undefined {
    if (this.#cron) return this.#cron.nextRun(new Date(time))?.getTime();
    const { every } = this.#spec as { every: number };
    return this.#anchor + (Math.floor((time - this.#anchor) / every) + 1) * every;
  }

  #arm(): void {
    if (this.#dueAt === undefined) {
      this.#halt(undefined);
      return;
    }
    const delay = Math.min(Math.max(0, this.#dueAt - Date.now()), MAX_TIMER_DELAY);
    this.#timer = setTimeout(this.#wake, delay);
  }

  readonly #wake = (): void => {
    this.#timer = undefined;
    if (this.#isStopped || this.#dueAt === undefined) return;
    // A step of a long wait, or a timer that fired a little before the wall clock.
    if (Date.now() < this.#dueAt) {
      this.#arm();
      return;
    }
    this.#tick(this.#dueAt);
  };

  #tick(dueAtMs: number): void {
    this.#ticks++;
    this.#memory?.reached(dueAtMs);
    const dueAt = new Date(dueAtMs);
    const previous = this.#liveJob();
    const isSkipped = this.#spec.overlap === 'skip' && previous !== false;
    if (isSkipped) this.#skipped++;
    else this.#startSubmit(dueAt);
    if (!this.#isStopped) {
      // From the due time, not from now: a slow tick must not push later ones.
      this.#dueAt = this.#nextDueAfter(Math.max(dueAtMs, Date.now()));
      this.#arm();
    }
    if (isSkipped) this.#notify(() => this.#hooks.skipped?.({ dueAt, previous: previous || undefined }));
  }

  /** The live job of an earlier tick, `undefined` while one still waits for room, `false` for none. */
  #liveJob(): JobHandle<Result> | undefined | false {
    if (this.#waiting.size > 0) return undefined;
    const last = this.#lastJob;
    return last !== undefined && !TERMINAL_STATES.has(last.state) ? last : false;
  }

  #startSubmit(dueAt: Date): void {
    const controller = new AbortController();
    this.#waiting.add(controller);
    let admitted: Promise<JobHandle<Result>>;
    try {
      admitted = this.#submit(controller.signal);
    } catch (error) {
      admitted = Promise.reject(error);
    }
    admitted.then(
      (job) => {
        this.#waiting.delete(controller);
        this.#submitted++;
        this.#lastJob = job;
        this.#notify(() => this.#hooks.submitted?.({ job, dueAt }));
      },
      (error: unknown) => {
        this.#waiting.delete(controller);
        this.#failedToSubmit++;
        if (this.#isStopped) return;
        if ((error as { code?: unknown } | null)?.code === RUNNER_CLOSED) this.#halt(error);
        else this.#notify(() => this.#hooks.submitFailed?.({ error, dueAt }));
      },
    );
  }

  #notify(call: () => void): void {
    try {
      call();
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}
