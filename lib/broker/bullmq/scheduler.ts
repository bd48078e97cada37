import { createHash } from 'node:crypto';
import type { JobHandle } from '../../job/job.js';
import type { ScheduleHandle, ScheduleSpec } from '../../semantics/schedule.js';

/**
 * A periodic schedule over BullMQ: a BullMQ job scheduler, which lives in
 * Redis and makes one job per due time for the whole fleet, whichever
 * processes declared it. Its id is derived from the task, the arguments
 * and the timing, so the same `schedule()` call in every process of a
 * deployment is one scheduler, not one per process.
 *
 * This handle follows the scheduler's jobs from this process (the producer
 * counts each one it sees start). `stop()` removes the scheduler from Redis,
 * for every process; a runner's `close()` only stops following it.
 */
export class BullmqSchedule<Result = unknown> implements ScheduleHandle<Result> {
  readonly id: string;
  #isStopped = false;
  #nextRunAt: Date | undefined;
  #ticks = 0;
  #lastJob: JobHandle<Result> | undefined;
  readonly #remove: (schedule: BullmqSchedule) => void;

  constructor(
    id: string,
    /** The task its jobs run. */
    readonly task: string,
    remove: (schedule: BullmqSchedule) => void,
  ) {
    this.id = id;
    this.#remove = remove;
  }

  /** The job ids BullMQ gives this scheduler's jobs start with this. */
  get jobIdPrefix(): string {
    return `repeat:${this.id}:`;
  }

  stop(): void {
    if (this.#isStopped) return;
    this.unfollow();
    this.#remove(this as BullmqSchedule);
  }

  /** Stops following it here; the scheduler stays in Redis. */
  unfollow(): void {
    this.#isStopped = true;
    this.#nextRunAt = undefined;
  }

  get isStopped(): boolean {
    return this.#isStopped;
  }

  get nextRunAt(): Date | undefined {
    return this.#nextRunAt;
  }

  /** Sets when the scheduler's next job is due, as Redis said. */
  setNextRunAt(at: number | undefined): void {
    if (!this.#isStopped) this.#nextRunAt = at === undefined ? undefined : new Date(at);
  }

  /** Every job of the scheduler seen starting, from any process's declaration. */
  get ticks(): number {
    return this.#ticks;
  }

  get submitted(): number {
    return this.#ticks;
  }

  /** 0: BullMQ makes the next job when one starts, so ticks never pile up to be skipped. */
  get skipped(): number {
    return 0;
  }

  /** 0: Redis makes the jobs; a failure to reach it is a `brokerError` event. */
  get failedToSubmit(): number {
    return 0;
  }

  get lastJob(): JobHandle<Result> | undefined {
    return this.#lastJob;
  }

  /** One of its jobs started. */
  tick(job: JobHandle): void {
    this.#ticks++;
    this.#lastJob = job as JobHandle<Result>;
  }
}

/** The scheduler id of a schedule: the same for the same task, arguments and timing, in any process. */
export function schedulerId(name: string, args: Uint8Array | string, spec: ScheduleSpec): string {
  const timing = spec.kind === 'every' ? `every:${spec.every}` : `cron:${spec.cron}:${spec.timezone ?? ''}`;
  const hash = createHash('sha256').update(name).update('\0').update(args).update('\0').update(timing).digest('hex').slice(0, 16);
  return `baozi-${name}-${hash}`;
}
