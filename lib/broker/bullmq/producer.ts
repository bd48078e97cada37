import { randomBytes } from 'node:crypto';
import { FlowProducer, Queue, QueueEvents, type Job as BullJob, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { watchAbort } from '../../abort-watch.js';
import { BrokerUnreachableError, CancelledError, InvalidOptionError, RetriesExhaustedError, TableFullError, TaskError } from '../../errors.js';
import type { JobHandle, JobState } from '../../job/job.js';
import type { ProducerSettings, RemoteProducer, RemoteSubmit } from '../remote.js';
import type { ResolvedBullmqOptions } from './options.js';
import { RemoteJob } from './remote-job.js';
import { CANCEL_MEMORY_MS, cancelChannel, cancelKey, encodeCancel } from './cancel-channel.js';
import { BullmqSchedule, schedulerId } from './scheduler.js';
import { RemoteChord } from './chord.js';
import type { WorkflowHandle } from '../../workflows/workflow-types.js';
import type { ScheduleHandle, ScheduleSpec } from '../../semantics/schedule.js';
import { decodeFailure, decodeResult, encodeArgsAsV8, encodeArgsForWire, toBullPriority, type WireJob } from './wire.js';

interface Waiter {
  readonly submit: RemoteSubmit;
  readonly job: RemoteJob;
  readonly resolve: (job: JobHandle) => void;
  readonly reject: (error: unknown) => void;
  stopWatching: (() => void) | undefined;
  /** A chord's flow, in line for room for all its members at once (`job` is its callback). */
  readonly flow?: ChordInLine;
}

interface ChordInLine {
  /** Room it needs: its members (the callback waits for them, not on the table). */
  readonly members: number;
  readonly isCancelled: () => boolean;
  readonly add: () => void;
}

// How long a producer waiting for room sleeps between two reads of the
// queue's depth when no queue event woke it first.
const ROOM_POLL_MS = 100;
// How often a producer looks in Redis for followed jobs that finished
// without their event reaching it, and how long a job is followed before
// it is looked at; at most CHECK_BATCH jobs per look, oldest first.
const CHECK_MS = 1000;
/** A queue depth read this long after Redis last counted it asks for a new count. */
const DEPTH_STALE_MS = 1000;
const CHECK_AFTER_MS = 3000;
const CHECK_BATCH = 200;
// The states that count as waiting on the table.
const WAITING_TYPES = ['wait', 'prioritized'] as const;

/**
 * The producer side of the BullMQ broker: puts jobs on the queue within
 * `capacity`, making producers wait (first in, first out) while it is
 * full, and follows the jobs it put there through the queue's events.
 *
 * The bound: a job is added only after a read of the queue's depth left
 * room for it, counting this process's adds still in flight. One producer
 * process never takes the queue past `capacity`; several can together
 * pass it by the adds they decide at the same moment, at most one per
 * other producer process per round (see docs/bullmq.md).
 */
export class BullmqProducer implements RemoteProducer {
  readonly #options: ResolvedBullmqOptions;
  readonly #settings: ProducerSettings;
  readonly #queue: Queue;
  /** For reading the event stream's last id; BullMQ's clients do not expose XREVRANGE. */
  readonly #redis: Redis;
  #events: QueueEvents | undefined;
  /** Adds chords as flows; made by the first chord. */
  #flows: FlowProducer | undefined;
  readonly #started: Promise<void>;
  /**
   * Set once the queue's events are followed: by the first job this process
   * follows, not at start, so a runner that only consumes never reads the
   * event stream (every job's events, a cost per job on each consumer).
   */
  #following: Promise<void> | undefined;
  /** Jobs this process submitted and follows until they settle, by id. */
  readonly #live = new Map<string, RemoteJob>();
  /** Insertion-ordered: first in, first out, each withdrawn in O(1). */
  readonly #waiters = new Set<Waiter>();
  /** Waiting jobs on the queue, as last read, minus those seen starting since. */
  #depth = 0;
  /** When Redis last counted `#depth` (epoch ms). */
  #depthAt = 0;
  /** Adds sent and not yet answered. */
  #adding = 0;
  /**
   * Settles when the latest admitted add has settled its producers. Each
   * add waits for the one admitted before it, so that submits resolve in
   * the order they were admitted, whichever reply's promise chain ends first.
   */
  #lastAdmitted: Promise<void> = Promise.resolve();
  #isAdmitting = false;
  #isRefreshing = false;
  #wake: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];
  #isClosed = false;
  /**
   * Ids this producer gives its jobs: known before the add, so that the job
   * is followed before any event about it can arrive (a consumer may finish
   * it before the add's reply is read).
   */
  readonly #idPrefix = `b${randomBytes(6).toString('hex')}-`;
  #lastId = 0;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #isChecking = false;
  /** Where the next look resumes in `#live` (oldest first): ids looked at in this pass. */
  #checked = new Set<string>();
  /** Schedules this process declared, by scheduler id: their jobs are followed as they start. */
  readonly #schedules = new Map<string, { schedule: BullmqSchedule; upserted: Promise<unknown> }>();

  constructor(options: ResolvedBullmqOptions, settings: ProducerSettings) {
    this.#options = options;
    this.#settings = settings;
    this.#queue = new Queue(options.queue, { connection: { ...options.connection }, prefix: options.prefix });
    this.#queue.on('error', (error) => settings.brokerError(error));
    this.#redis = new Redis({ ...options.connection, lazyConnect: true, maxRetriesPerRequest: null });
    this.#redis.on('error', (error) => settings.brokerError(error));
    this.#started = this.#start();
    this.#started.catch(() => {});
  }

  /**
   * Jobs waiting in the queue, from every producer, as Redis last counted
   * them. Read by `stats()`, `metrics()`, the dashboard and Prometheus: a
   * read more than `DEPTH_STALE_MS` after the last count asks for a new one.
   */
  get size(): number {
    if (Date.now() - this.#depthAt >= DEPTH_STALE_MS) void this.#refreshDepth();
    return this.#depth;
  }

  get blocked(): number {
    return this.#waiters.size;
  }

  ready(): Promise<void> {
    return this.#call('connect', () => this.#started);
  }

  put(submit: RemoteSubmit, signal?: AbortSignal): Promise<JobHandle> {
    const existing = this.#existing(submit);
    if (existing) return Promise.resolve(existing);
    const job = this.#newJob(submit);
    if (signal?.aborted) return Promise.reject(waitCancelled(signal));
    return new Promise<JobHandle>((resolve, reject) => {
      const waiter: Waiter = { submit, job, resolve, reject, stopWatching: undefined };
      // A scheduled job does not wait on the table: BullMQ holds it as delayed.
      if (submit.options.runAt !== undefined) {
        void this.#add(waiter);
        return;
      }
      this.#waiters.add(waiter);
      if (signal) {
        waiter.stopWatching = watchAbort(signal, () => {
          this.#waiters.delete(waiter);
          reject(waitCancelled(signal));
        });
      }
      void this.#admit();
    });
  }

  tryPut(submit: RemoteSubmit): JobHandle {
    const existing = this.#existing(submit);
    if (existing) return existing;
    if (submit.options.runAt === undefined && (this.#waiters.size > 0 || this.#depth + this.#adding >= this.#settings.capacity)) {
      // The depth may be stale (consumers took jobs meanwhile): the next try reads a fresh one.
      void this.#refreshDepth();
      throw new TableFullError(this.#settings.capacity);
    }
    const job = this.#newJob(submit);
    void this.#add({ submit, job, resolve: () => {}, reject: (error) => job.reject('failed', error), stopWatching: undefined });
    return job;
  }

  schedule(submit: RemoteSubmit, spec: ScheduleSpec): ScheduleHandle {
    const data = wireData(submit);
    // Named by the arguments' v8 form, whichever form travels: a schedule keeps the id it had.
    const id = schedulerId(submit.name, encodeArgsAsV8(submit.args, submit.isEncoded), spec);
    const known = this.#schedules.get(id);
    if (known) return known.schedule;
    const schedule = new BullmqSchedule(id, submit.name, () => {
      this.#schedules.delete(id);
      // After the upsert, or the scheduler would come back.
      void upserted
        .catch(() => {})
        .then(() => this.#call('remove job scheduler', () => this.#queue.removeJobScheduler(id)))
        .catch((error: unknown) => this.#settings.brokerError(error));
    });
    const { jobId: _jobId, delay: _delay, ...opts } = this.#bullOptions(submit.options);
    const repeat = spec.kind === 'every' ? { every: spec.every } : { pattern: spec.cron, ...(spec.timezone !== undefined && { tz: spec.timezone }) };
    const upserted = this.#call('connect', () => this.#follow())
      .then(() => this.#call('upsert job scheduler', () => this.#queue.upsertJobScheduler(id, repeat, { name: submit.name, data, opts })))
      .then(
        (next) => schedule.setNextRunAt(next ? next.timestamp + (next.delay ?? 0) : undefined),
        (error: unknown) => this.#settings.brokerError(error),
      );
    this.#schedules.set(id, { schedule, upserted });
    return schedule;
  }

  chord(members: RemoteSubmit[], callback: RemoteSubmit): WorkflowHandle<unknown> {
    for (const step of [...members, callback]) {
      if (step.options.jobId !== undefined) throw new InvalidOptionError('jobId', step.options.jobId, 'no `jobId` on a chord step over a shared broker: the chord names its jobs');
      if (step.options.signal !== undefined) throw new InvalidOptionError('signal', step.options.signal, "no `signal` on a chord step over a shared broker: cancel the chord's handle");
    }
    // The callback's id names the chord; each member's is the chord's and its place.
    const chordId = `chord-${randomBytes(8).toString('hex')}`;
    const ids = members.map((_, index) => `${chordId}-${index}`);
    const follow = (submit: RemoteSubmit, id: string): RemoteJob => {
      const job = this.#newJob(submit);
      job.setId(id);
      this.#live.set(id, job);
      return job;
    };
    const memberJobs = members.map((member, index) => follow(member, ids[index]!));
    const callbackJob = follow(callback, chordId);
    const handle = new RemoteChord(memberJobs, callbackJob);
    const { queue, prefix } = this.#options;
    const step = (submit: RemoteSubmit, id: string, data: WireJob) => ({ name: submit.name, queueName: queue, prefix, data, opts: { ...this.#bullOptions(submit.options), jobId: id } });
    const children = members.map((member, index) => {
      const child = step(member, ids[index]!, wireData(member));
      // Fail-fast: a member that fails for good fails the callback, which then never runs.
      return { ...child, opts: { ...child.opts, failParentOnFailure: true } };
    });
    const flow = { ...step(callback, chordId, { ...wireData(callback), chord: ids }), children };
    if (!this.#flows) {
      this.#flows = new FlowProducer({ connection: { ...this.#options.connection }, prefix });
      this.#flows.on('error', (error) => this.#settings.brokerError(error));
    }
    const flows = this.#flows;
    const failAll = (error: unknown): void => {
      for (const job of handle.jobs as RemoteJob[]) this.#settle(job, () => job.reject('failed', error));
    };
    const add = (): void => {
      this.#adding += members.length + 1;
      this.#call('add chord', () => flows.add(flow))
        .then(async () => {
          const at = Date.now();
          for (const job of handle.jobs as RemoteJob[]) job.queuedAt = at;
          // Cancelled before the flow reached Redis: take it off (the callback with its members).
          if (handle.state === 'cancelled') await this.#call('remove chord', () => this.#queue.remove(chordId));
        }, failAll)
        .finally(() => {
          this.#adding -= members.length + 1;
          this.#checkIdle();
        });
    };
    // In line with the producers waiting for room, first in, first out: its members go on the table together.
    const chordInLine = { members: members.length, isCancelled: () => handle.state === 'cancelled', add };
    this.#waiters.add({ submit: callback, job: callbackJob, resolve: () => {}, reject: failAll, stopWatching: undefined, flow: chordInLine });
    void this.#admit();
    return handle;
  }

  /** A job of a schedule this process declared started: follow it, and count the tick. */
  #tickSchedule(jobId: string): void {
    for (const { schedule } of this.#schedules.values()) {
      if (!jobId.startsWith(schedule.jobIdPrefix)) continue;
      const job = new RemoteJob(jobId, schedule.task, { state: 'running', submittedAt: Date.now(), cancel: (handle, reason) => this.#cancel(handle as RemoteJob, reason) });
      job.startedAt = Date.now();
      this.#track(job);
      schedule.tick(job);
      this.#call('get job scheduler', () => this.#queue.getJobScheduler(schedule.id)).then(
        (scheduler) => schedule.setNextRunAt(scheduler?.next),
        (error: unknown) => this.#settings.brokerError(error),
      );
      return;
    }
  }

  find(id: string): JobHandle | undefined {
    return this.#live.get(id);
  }

  async fetch(id: string): Promise<JobHandle | undefined> {
    const live = this.#live.get(id);
    if (live) return live;
    // Followed before it is read: an event after the read is not missed.
    await this.#call('connect', () => this.#follow());
    const bullJob = (await this.#call('get job', () => this.#queue.getJob(id))) as BullJob | undefined;
    if (!bullJob) return undefined;
    const state = await this.#call('get job state', () => bullJob.getState());
    const job = new RemoteJob(id, bullJob.name, { state: 'queued', submittedAt: bullJob.timestamp, cancel: (handle, reason) => this.#cancel(handle as RemoteJob, reason) });
    job.maxAttempts = bullJob.opts.attempts ?? 1;
    this.#mirror(job, bullJob, state);
    return job;
  }

  /** Gives a handle the state Redis holds for its job: settled if it finished, followed if it is live. */
  #mirror(job: RemoteJob, bullJob: BullJob, state: string): void {
    job.attempt = Math.max(1, bullJob.attemptsStarted ?? bullJob.attemptsMade);
    job.progress = bullJob.progress;
    job.startedAt = bullJob.processedOn;
    if (state === 'completed') this.#settle(job, () => job.succeed(decodeResult(bullJob.returnvalue), bullJob.finishedOn));
    else if (state === 'failed') this.#settleFailed(job, bullJob.failedReason, bullJob.attemptsMade, job.maxAttempts);
    else if (state !== 'unknown') {
      job.state = toJobState(state, bullJob.attemptsMade);
      this.#track(job);
    }
  }

  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  rejectBlocked(error: unknown): void {
    for (const waiter of this.#waiters) {
      this.#waiters.delete(waiter);
      waiter.stopWatching?.();
      waiter.reject(error);
    }
  }

  async close(error: unknown): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.rejectBlocked(error);
    this.#wake?.();
    // Their schedulers live on in Redis, for the other processes.
    for (const { schedule } of this.#schedules.values()) schedule.unfollow();
    this.#schedules.clear();
    for (const job of this.#live.values()) job.reject('cancelled', new CancelledError(`Job ${job.id} (${job.name}) is no longer followed: its producer closed. It lives on in Redis: look it up with fetchJob().`, { cause: error, job: job.info }));
    this.#live.clear();
    this.#checkIdle();
    await Promise.allSettled([this.#started, this.#following]);
    clearInterval(this.#checkTimer);
    await Promise.allSettled([this.#events?.close(), this.#queue.close(), this.#flows?.close(), this.#redis.quit().catch(() => this.#redis.disconnect())]);
  }

  // ── internals ───────────────────────────────────────────────────────

  async #start(): Promise<void> {
    await this.#redis.connect();
    await this.#queue.waitUntilReady();
    this.#depth = await this.#queue.getJobCountByTypes(...WAITING_TYPES);
  }

  /** Follows the queue's events from now on (once): before any job of this process is added, fetched or scheduled. */
  #follow(): Promise<void> {
    this.#following ??= this.#listen();
    return this.#following;
  }

  async #listen(): Promise<void> {
    await this.#started;
    if (this.#isClosed) return;
    // Follow events from the stream's present end, read before any add of ours, so none is missed.
    const last = await this.#redis.xrevrange(`${this.#options.prefix}:${this.#options.queue}:events`, '+', '-', 'COUNT', 1);
    const events = new QueueEvents(this.#options.queue, {
      connection: { ...this.#options.connection },
      prefix: this.#options.prefix,
      lastEventId: last[0]?.[0] ?? '0-0',
    });
    this.#events = events;
    events.on('error', (error) => this.#settings.brokerError(error));
    events.on('active', ({ jobId }) => {
      this.#depth = Math.max(0, this.#depth - 1);
      this.#wakeAdmission();
      const job = this.#live.get(jobId);
      if (!job) return this.#tickSchedule(jobId);
      if (job.startedAt !== undefined) job.attempt++;
      job.state = 'running';
      job.startedAt = Date.now();
    });
    events.on('waiting', ({ jobId }) => {
      const job = this.#live.get(jobId);
      if (job && job.startedAt !== undefined) job.state = 'retrying';
    });
    events.on('delayed', ({ jobId }) => {
      const job = this.#live.get(jobId);
      if (job && job.startedAt !== undefined) job.state = 'retrying';
    });
    events.on('progress', ({ jobId, data }) => {
      const job = this.#live.get(jobId);
      if (!job) return;
      job.progress = data;
      if (job.onProgress) guard(job.onProgress, data);
    });
    events.on('completed', ({ jobId, returnvalue }) => {
      this.#wakeAdmission();
      const job = this.#live.get(jobId);
      if (!job) return;
      let value: unknown;
      try {
        value = decodeResult(returnvalue);
      } catch (error) {
        this.#settle(job, () => job.reject('failed', new TaskError({ cause: error, job: job.info })));
        return;
      }
      this.#settle(job, () => job.succeed(value));
    });
    events.on('retries-exhausted', ({ jobId, attemptsMade }) => {
      const job = this.#live.get(jobId);
      if (job) job.attempt = Number(attemptsMade);
    });
    events.on('failed', ({ jobId, failedReason }) => {
      this.#wakeAdmission();
      const job = this.#live.get(jobId);
      if (job) this.#settleFailed(job, failedReason, job.attempt, job.maxAttempts);
    });
    events.on('removed', ({ jobId }) => {
      this.#wakeAdmission();
      const job = this.#live.get(jobId);
      if (job) this.#settle(job, () => job.reject('cancelled', new CancelledError(`Job ${job.id} (${job.name}) was removed from the queue.`, { job: job.info })));
    });
    await events.waitUntilReady();
    if (!this.#isClosed) {
      this.#checkTimer = setInterval(() => void this.#checkFinished(), CHECK_MS);
      this.#checkTimer.unref();
    }
  }

  /**
   * A job whose outcome event never reaches this producer would never
   * settle: BullMQ trims the event stream (about 10,000 events), so a
   * producer that fell that far behind loses events, as one may around a
   * reconnect. So followed jobs older than `CHECK_AFTER_MS` are looked at
   * in Redis, a batch per `CHECK_MS` in one pipelined round trip, and those
   * that finished are settled from what Redis holds.
   */
  async #checkFinished(): Promise<void> {
    if (this.#live.size === 0 || this.#isChecking || this.#isClosed) return;
    this.#isChecking = true;
    try {
      const before = Date.now() - CHECK_AFTER_MS;
      const batch: RemoteJob[] = [];
      for (const job of this.#live.values()) {
        if (job.submittedAt > before || batch.length >= CHECK_BATCH) break;
        if (!this.#checked.has(job.id)) batch.push(job);
      }
      // A full pass done: start again from the oldest.
      if (batch.length === 0) {
        this.#checked.clear();
        return;
      }
      for (const job of batch) this.#checked.add(job.id);
      const pipeline = this.#redis.pipeline();
      for (const job of batch) pipeline.hget(`${this.#options.prefix}:${this.#options.queue}:${job.id}`, 'finishedOn');
      const replies = (await this.#call('look up jobs', () => pipeline.exec())) ?? [];
      await Promise.all(
        batch.map(async (job, i) => {
          if (!replies[i]?.[1] || job.isSettled) return;
          const bullJob = (await this.#call('get job', () => this.#queue.getJob(job.id))) as BullJob | undefined;
          if (!bullJob || job.isSettled) return;
          const state = await this.#call('get job state', () => bullJob.getState());
          if (!job.isSettled && (state === 'completed' || state === 'failed')) this.#mirror(job, bullJob, state);
        }),
      );
    } catch (error) {
      this.#settings.brokerError(error);
    } finally {
      this.#isChecking = false;
    }
  }

  #existing(submit: RemoteSubmit): JobHandle | undefined {
    const { jobId } = submit.options;
    if (jobId === undefined) return undefined;
    if (/^\d+$/.test(jobId) || jobId.includes(':')) throw new InvalidOptionError('jobId', jobId, 'over BullMQ, an id that is not all digits and has no `:`');
    return this.#live.get(jobId);
  }

  #newJob(submit: RemoteSubmit): RemoteJob {
    const { options } = submit;
    // Named here, not by BullMQ: the job is followed before its add is sent.
    const job = new RemoteJob(options.jobId ?? `${this.#idPrefix}${++this.#lastId}`, submit.name, {
      state: options.runAt !== undefined ? 'scheduled' : 'queued',
      submittedAt: Date.now(),
      cancel: (handle, reason) => this.#cancel(handle as RemoteJob, reason),
    });
    job.onProgress = options.onProgress;
    job.maxAttempts = (options.retry?.max ?? 0) + 1;
    return job;
  }

  /** Admits waiting producers while the queue has room, reading its depth once per round. */
  async #admit(): Promise<void> {
    if (this.#isAdmitting) return;
    this.#isAdmitting = true;
    try {
      await this.#call('connect', () => this.#follow());
      while (this.#waiters.size > 0 && !this.#isClosed) {
        this.#depth = await this.#call('count waiting jobs', () => this.#queue.getJobCountByTypes(...WAITING_TYPES));
        let room = this.#settings.capacity - this.#depth - this.#adding;
        if (room <= 0) {
          await this.#roomMayHaveFreed();
          continue;
        }
        const admitted: Waiter[] = [];
        for (const waiter of this.#waiters) {
          if (waiter.flow?.isCancelled()) {
            this.#waiters.delete(waiter);
            continue;
          }
          // A chord with more members than the table holds goes on alone, once the queue is empty.
          const needs = Math.min(waiter.flow?.members ?? 1, this.#settings.capacity);
          if (needs > room) break;
          room -= needs;
          this.#waiters.delete(waiter);
          waiter.stopWatching?.();
          // A jobId may name a job Redis holds already: that one is looked up, alone.
          if (waiter.flow) waiter.flow.add();
          else if (waiter.submit.options.jobId === undefined) admitted.push(waiter);
          else this.#lastAdmitted = this.#add(waiter, this.#lastAdmitted);
        }
        if (admitted.length === 1) this.#lastAdmitted = this.#add(admitted[0]!, this.#lastAdmitted);
        else if (admitted.length > 1) this.#lastAdmitted = this.#addBulk(admitted, this.#lastAdmitted);
      }
    } catch (error) {
      // Redis did not answer: every producer waiting now hears it, none hangs.
      this.rejectBlocked(error);
    } finally {
      this.#isAdmitting = false;
      this.#checkIdle();
    }
  }

  /** Adds one job; its producer hears back once `turn` (the adds admitted before it) has settled. Never rejects. */
  async #add(waiter: Waiter, turn: Promise<void> = Promise.resolve()): Promise<void> {
    const { submit, job } = waiter;
    const { options } = submit;
    this.#adding++;
    this.#live.set(job.id, job);
    try {
      const data = wireData(submit);
      const bullOptions = { ...this.#bullOptions(options), jobId: job.id };
      await this.#call('connect', () => this.#follow());
      const added = await this.#call('add job', () => this.#queue.add(submit.name, data, bullOptions));
      if (options.jobId !== undefined) {
        // The id may have been taken already, by a job that finished before
        // we followed it: no event will tell of it.
        const state = await this.#call('get job state', () => added.getState());
        if (state === 'completed' || state === 'failed') {
          const present = await this.#call('get job', () => this.#queue.getJob(job.id));
          if (present) this.#mirror(job, present as BullJob, state);
        }
      }
      if (options.runAt === undefined) this.#depth++;
      job.queuedAt = Date.now();
      if (options.signal) job.releaseSignal = watchAbort(options.signal, () => void job.cancel(options.signal!.reason));
      await turn;
      waiter.resolve(job);
    } catch (error) {
      if (this.#live.get(job.id) === job) this.#live.delete(job.id);
      await turn;
      waiter.reject(error);
    } finally {
      this.#adding--;
      this.#checkIdle();
    }
  }

  /** Adds the jobs admitted in one round in one round trip (BullMQ's `addBulk`, one transaction), settling them after `turn`. Never rejects. */
  async #addBulk(waiters: Waiter[], turn: Promise<void>): Promise<void> {
    this.#adding += waiters.length;
    for (const { job } of waiters) this.#live.set(job.id, job);
    try {
      const entries = waiters.map(({ submit, job }) => ({ name: submit.name, data: wireData(submit), opts: { ...this.#bullOptions(submit.options), jobId: job.id } }));
      await this.#call('add jobs', () => this.#queue.addBulk(entries));
      const at = Date.now();
      this.#depth += waiters.length;
      await turn;
      waiters.forEach(({ job, submit, resolve }) => {
        job.queuedAt = at;
        const { signal } = submit.options;
        if (signal) job.releaseSignal = watchAbort(signal, () => void job.cancel(signal.reason));
        resolve(job);
      });
    } catch (error) {
      await turn;
      for (const { job, reject } of waiters) {
        if (this.#live.get(job.id) === job) this.#live.delete(job.id);
        reject(error);
      }
    } finally {
      this.#adding -= waiters.length;
      this.#checkIdle();
    }
  }

  /** BullMQ's options for a job: priority, removal after `resultTtl`, id, delay, attempts. */
  #bullOptions(options: RemoteSubmit['options']): JobsOptions {
    const keepFor = { age: Math.ceil(this.#settings.resultTtl / 1000) };
    const bullOptions: JobsOptions = {
      priority: toBullPriority(options.priority),
      removeOnComplete: keepFor,
      removeOnFail: keepFor,
    };
    if (options.jobId !== undefined) bullOptions.jobId = options.jobId;
    if (options.runAt !== undefined) bullOptions.delay = Math.max(0, options.runAt - Date.now());
    if (options.retry && options.retry.max > 0) {
      bullOptions.attempts = options.retry.max + 1;
      bullOptions.backoff = { type: 'baozi' };
    }
    return bullOptions;
  }

  #cancel(job: RemoteJob, reason: unknown): boolean {
    const cancel = async (): Promise<void> => {
      const removed = await this.#call('remove job', () => this.#queue.remove(job.id));
      if (removed) {
        this.#settle(job, () => job.reject('cancelled', new CancelledError(`Job ${job.id} (${job.name}) was cancelled.`, { cause: reason, job: job.info })));
        return;
      }
      // Locked: a consumer runs it. Every consumer hears this; the one running it
      // stops it and reports CancelledError, which settles the handle. Its add
      // time goes with it, so that a later job given the same id is not cancelled.
      const running = (await this.#call('get job', () => this.#queue.getJob(job.id))) as BullJob | undefined;
      if (!running) return;
      // The key first: a consumer that hears nothing (its connection was down) finds it when it listens again.
      const message = encodeCancel(job.id, reason, running.timestamp);
      await this.#call('cancel running job', () =>
        this.#redis.multi().set(cancelKey(this.#options, job.id), message, 'PX', CANCEL_MEMORY_MS).publish(cancelChannel(this.#options), message).exec(),
      );
    };
    cancel().catch((error: unknown) => this.#settings.brokerError(error));
    return true;
  }

  #settleFailed(job: RemoteJob, failedReason: string | undefined, attempts: number, maxAttempts: number): void {
    const error = decodeFailure(failedReason, { ...job.info, attempt: attempts });
    const state = error.code === 'BAOZI_EXPIRED' ? 'expired' : error.code === 'BAOZI_CANCELLED' ? 'cancelled' : 'failed';
    const settledWith = maxAttempts > 1 && attempts >= maxAttempts && error instanceof TaskError ? new RetriesExhaustedError(attempts, [error], { job: { ...job.info, attempt: attempts } }) : error;
    this.#settle(job, () => job.reject(state, settledWith));
  }

  #settle(job: RemoteJob, settle: () => boolean): void {
    if (this.#live.get(job.id) === job) this.#live.delete(job.id);
    settle();
    this.#checkIdle();
  }

  /** Follows a job this process did not add (a schedule's, or one fetched by id). */
  #track(job: RemoteJob): void {
    const present = this.#live.get(job.id);
    if (!present) this.#live.set(job.id, job);
  }

  async #refreshDepth(): Promise<void> {
    if (this.#isRefreshing || this.#isClosed) return;
    this.#isRefreshing = true;
    try {
      this.#depth = await this.#call('count waiting jobs', () => this.#queue.getJobCountByTypes(...WAITING_TYPES));
      this.#depthAt = Date.now();
    } catch (error) {
      this.#settings.brokerError(error);
    } finally {
      this.#isRefreshing = false;
    }
  }

  /** Waits for a queue event that may have freed room, or a short while. */
  #roomMayHaveFreed(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ROOM_POLL_MS);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.#wake === done) self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
  }

  #wakeAdmission(): void {
    this.#wake?.();
  }

  /**
   * Runs a Redis call, or rejects with `BrokerUnreachableError` past
   * `unreachableAfterMs`: a producer never hangs on a Redis that is down.
   */
  #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const waitMs = this.#options.unreachableAfterMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BrokerUnreachableError(operation, waitMs)), waitMs);
      call().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(isConnectionError(error) ? new BrokerUnreachableError(operation, waitMs, { cause: error }) : error);
        },
      );
    });
  }

  #isIdle(): boolean {
    return this.#live.size === 0 && this.#waiters.size === 0 && this.#adding === 0;
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** A job's data on the queue: its arguments, limits, backoff and chunk. */
function wireData(submit: RemoteSubmit): WireJob {
  const { options } = submit;
  const data: WireJob = { baozi: 1, args: encodeArgsForWire(submit.args, submit.isEncoded) };
  if (options.timeout !== undefined) data.timeout = options.timeout;
  if (options.softTimeout !== undefined) data.softTimeout = options.softTimeout;
  if (options.expiresAt !== undefined) data.expiresAt = options.expiresAt;
  if (options.retry && options.retry.max > 0) {
    const { max: _max, retryOn: _retryOn, ...backoff } = options.retry;
    data.retry = backoff;
  }
  if (submit.chunk) data.chunk = submit.chunk;
  if (options.onProgress) data.progress = true;
  return data;
}

function toJobState(state: string, attemptsMade: number): JobState {
  switch (state) {
    case 'completed':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'active':
      return 'running';
    case 'delayed':
      return attemptsMade > 0 ? 'retrying' : 'scheduled';
    default:
      return 'queued';
  }
}

function isConnectionError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ECONNREFUSED' || /Connection is closed|ECONNREFUSED|Stream isn't writeable|max retries/i.test(message);
}

function waitCancelled(signal: AbortSignal): CancelledError {
  return new CancelledError('The producer stopped waiting for room on the table: its signal aborted.', { cause: signal.reason });
}

function guard(call: (value: unknown) => void, value: unknown): void {
  try {
    call(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
