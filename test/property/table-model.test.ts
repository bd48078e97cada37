/**
 * Model-based property test of the table, the lifecycle and the dispatcher
 * (RELIABILITY.md, LS1 and invariants 1 to 10), over the real MemoryTable,
 * Lifecycle and Dispatcher and a fake pool whose runs the commands settle.
 *
 * fast-check generates command sequences (submit, trySubmit, cancel,
 * complete, fail, crash, advance the clock, close); `fc.scheduledModelRun`
 * runs them through a scheduler that also delivers every reply of the fake
 * pool, so replies, aborts and commands interleave in every order it picks.
 * After every command the invariants are checked against a model of the
 * table (priority lanes and the line of blocked producers) kept from what
 * the table reports.
 *
 * Replay a failure with the seed and path it prints, and the replayPath
 * at the end of its command list (fc.commands needs it to replay):
 *   BAOZI_PROPERTY_SEED=<seed> BAOZI_PROPERTY_PATH=<path> BAOZI_PROPERTY_REPLAY=<replayPath> npm test -- table-model
 * More runs: BAOZI_PROPERTY_RUNS=2000. What the runs reached: BAOZI_PROPERTY_STATS=1.
 */
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { EventEmitter } from 'eventemitter3';
import fc, { type Arbitrary, type AsyncCommand, type Scheduler } from 'fast-check';
import type { JobFailure, JobReply, RunMessage, RunReply } from '../../workers/protocol.js';
import type { Attempt } from '../../lib/dispatch/attempt.js';
import { Dispatcher } from '../../lib/dispatch/dispatcher.js';
import {
  BaoziError,
  CancelledError,
  JobExpiredError,
  RetriesExhaustedError,
  RunnerClosedError,
  TableFullError,
  TaskError,
  TimeoutError,
  WorkerCrashedError,
} from '../../lib/errors.js';
import type { RunnerEvents } from '../../lib/events.js';
import { isTerminal, Job, type JobState } from '../../lib/job/job.js';
import { now } from '../../lib/clock.js';
import { Lifecycle } from '../../lib/job/lifecycle.js';
import type { Placement, Pool } from '../../lib/pool/pool.js';
import type { RateLimit } from '../../lib/semantics/rate-limit.js';
import { Shutdown } from '../../lib/shutdown.js';
import { MemoryBroker } from '../../lib/broker/memory.js';
import { passes, type BrokerObserver, type TakeFilter } from '../../lib/broker/contract.js';
import { resolveRunnerOptions, resolveSubmitOptions } from '../../lib/admission/validate.js';
import { hostProcess } from '../helpers/e2e.js';

const SEED = Number(process.env.BAOZI_PROPERTY_SEED ?? 20_240_611);
const RUNS = Number(process.env.BAOZI_PROPERTY_RUNS ?? 100);
const PATH = process.env.BAOZI_PROPERTY_PATH;
// Replaying a path needs at least as many runs as its first step counts.
const REPLAY_RUNS = PATH ? Number(PATH.split(':')[0]) + 1 : 0;
const REPLAY = process.env.BAOZI_PROPERTY_REPLAY;
/** With BAOZI_PROPERTY_STATS=1, prints how many jobs reached each state, batches, stale replies... */
const STATS = process.env.BAOZI_PROPERTY_STATS
  ? {
      totals: {} as Record<string, number>,
      add(world: World, commands: number): void {
        const count = (key: string, n = 1): void => void (this.totals[key] = (this.totals[key] ?? 0) + n);
        count('runs');
        count('commands', commands);
        count('blocked producers', [...world.records.values()].filter((record) => record.submitted !== 'none').length);
        count('batch runs', world.batchRuns);
        count('prefetched runs', world.prefetchedRuns);
        count('resent runs', world.resentRuns);
        count('stale replies', world.staleReplies);
        for (const record of world.records.values()) for (const state of record.states) count(state);
      },
    }
  : undefined;

// ── the model of the table ────────────────────────────────────────────

/**
 * What the table should hold, kept from what it reports: the entries of
 * each priority in arrival order, and the line of entries waiting for room.
 */
class TableModel {
  readonly lanes = new Map<number, Job[]>();
  waiters: Job[] = [];

  get size(): number {
    let size = 0;
    for (const lane of this.lanes.values()) size += lane.length;
    return size;
  }

  has(job: Job): boolean {
    return this.lanes.get(job.priority)?.includes(job) ?? false;
  }

  append(job: Job): void {
    const lane = this.lanes.get(job.priority) ?? [];
    lane.push(job);
    this.lanes.set(job.priority, lane);
  }

  /** The entries `take(max, filter)` must give: highest priority first, in arrival order, stopping at a mismatch when `inLine`. */
  next(max: number, filter: TakeFilter | undefined): Job[] {
    const taken: Job[] = [];
    const priorities = [...this.lanes.keys()].sort((a, b) => b - a);
    for (const priority of priorities) {
      for (const job of this.lanes.get(priority)!) {
        if (taken.length >= max) return taken;
        if (!filter || passes(job, filter)) taken.push(job);
        else if (filter.inLine && !filter.heldTasks?.has(job.name)) return taken;
      }
    }
    return taken;
  }

  /** The entry that must leave next: the oldest of the highest priority (of those that may start now). */
  head(isStartable: (entry: Job) => boolean = () => true): Job | undefined {
    const priorities = [...this.lanes.keys()].sort((a, b) => b - a);
    for (const priority of priorities) {
      const first = this.lanes.get(priority)!.find(isStartable);
      if (first) return first;
    }
    return undefined;
  }

  take(job: Job): boolean {
    const lane = this.lanes.get(job.priority);
    const index = lane?.indexOf(job) ?? -1;
    if (index === -1) return false;
    lane!.splice(index, 1);
    return true;
  }

  withdraw(job: Job): boolean {
    const index = this.waiters.indexOf(job);
    if (index === -1) return false;
    this.waiters.splice(index, 1);
    return true;
  }
}

/** The real MemoryBroker, each operation also checked against the model. */
class ObservedTable extends MemoryBroker<Job> {
  constructor(
    capacity: number,
    observer: BrokerObserver<Job>,
    private readonly world: World,
  ) {
    super(capacity, observer);
  }

  override put(entry: Job, signal?: AbortSignal): Promise<Job> {
    const blockedBefore = this.blocked;
    const put = super.put(entry, signal);
    if (this.blocked > blockedBefore) this.world.model.waiters.push(entry);
    return put;
  }

  override take(max: number, filter?: TakeFilter): Job[] {
    const { world } = this;
    const expected = world.model.next(max, filter);
    const blockedBefore = this.blocked;
    const taken = super.take(max, filter);
    // 5. Each freed place wakes at most one producer.
    if (blockedBefore - this.blocked > taken.length) world.fail(`${taken.length} jobs left the table and ${blockedBefore - this.blocked} producers were let in`);
    if (taken.length !== expected.length || taken.some((entry, index) => entry !== expected[index])) {
      world.fail(`ordering: the table gave ${taken.map((entry) => world.label(entry)).join()} where the model says ${expected.map((entry) => world.label(entry)).join()} must leave first`);
    }
    for (const entry of taken) world.model.take(entry);
    return taken;
  }

  override remove(id: string): boolean {
    const { model } = this.world;
    const job = [...model.lanes.values()].flat().find((entry) => entry.id === id) ?? model.waiters.find((entry) => entry.id === id);
    const expected = job !== undefined && (model.take(job) || model.withdraw(job));
    const removed = super.remove(id);
    if (removed !== expected) this.world.fail(`remove(${id}) returned ${removed}, the model says ${expected}`);
    return removed;
  }

  override rejectBlocked(error: unknown): void {
    this.world.model.waiters = [];
    super.rejectBlocked(error);
  }
}

// ── the fake pool ─────────────────────────────────────────────────────

/** Same shape as lib/pool.ts's StopSignal; the dispatcher passes its Attempt. */
type Stop = Attempt;

/**
 * How a run ends. `fail` of a batch fails the jobs whose bit is set in
 * `mask | 1`, and the others succeed. A crash fails a run and the one
 * prefetched behind it with one error, as Piscina does for a dead thread;
 * the one behind had not started (`notStarted`).
 */
type Outcome = { kind: 'complete' } | { kind: 'fail'; mask: number } | { kind: 'crash'; error?: Error } | { kind: 'notStarted'; error: Error } | { kind: 'abort' };

interface FakeRun {
  readonly id: number;
  readonly message: RunMessage;
  readonly attempt: Attempt;
  /** The jobs the run carries: one, or a transparent batch. */
  readonly jobs: readonly Job[];
  readonly promise: Promise<JobReply>;
  resolve(value: JobReply): void;
  reject(error: unknown): void;
  isSettled: boolean;
}

/** What one job of a run ends with under `outcome`. */
function jobOutcome(run: FakeRun, index: number, outcome: Outcome): { kind: 'succeed'; value: string } | { kind: 'fail' | 'crash' | 'notStarted' | 'abort' } {
  const value = `result of run ${run.id} #${index}`;
  if (outcome.kind === 'complete') return { kind: 'succeed', value };
  if (outcome.kind === 'fail') return ((outcome.mask | 1) >> index % 31) & 1 ? { kind: 'fail' } : { kind: 'succeed', value };
  return { kind: outcome.kind };
}

/**
 * Runs of every world not settled yet. A run the dispatcher gave a control
 * channel keeps the process alive until it settles: when a property fails
 * mid-run, `afterAll` closes what is left.
 */
const unfinishedRuns = new Set<FakeRun>();

/**
 * Stands in for lib/pool.ts: `run()` returns a promise that only the
 * commands (complete, fail, crash) or an abort of its stop signal settle,
 * each through the scheduler, as Piscina settles a run once its thread
 * answers or has been terminated.
 */
class FakePool {
  readonly inFlight: FakeRun[] = [];
  isDestroyed = false;
  // The task module always loads and threads never retire here.
  readonly health = { failFastError: (): undefined => undefined };
  terminateIdleRetirees(): void {}
  // The fake has no threads to terminate: its runs end when a command (or the final drain) says so.
  terminateThreadOf(): void {}
  private nextRun = 0;

  constructor(
    readonly threads: number,
    private readonly world: World,
  ) {}

  /** Runs sent without a stop signal: prefetchable ones, which a thread may hold behind another. */
  readonly unstoppable = new WeakSet<FakeRun>();
  /** A prefetched run and the run it waits behind on one (pretend) thread, both ways. */
  readonly behind = new Map<FakeRun, FakeRun>();
  readonly ahead = new Map<FakeRun, FakeRun>();

  run(message: RunMessage, stop: Stop | undefined, _transferList: unknown, placement: Placement): Promise<JobReply> {
    if (this.isDestroyed) this.world.fail(`a run was sent to the pool after it was destroyed`);
    // A prefetch goes past the slots, and only then (counted as the dispatcher counts: it has added this run).
    const runsOut = this.world.dispatcher.runningCount - 1;
    if (placement.mayWait !== runsOut >= this.threads) {
      this.world.fail(`a run with mayWait ${placement.mayWait} was sent with ${runsOut} runs out on ${this.threads} slots`);
    }
    if (placement.mayWait && stop) this.world.fail('a prefetch was sent with a stop signal');
    const attempt = stop ?? this.world.attemptOf(message);
    if (!attempt) {
      this.world.fail(`a run without a stop signal carries no job the world knows`);
      return new Promise(() => {});
    }
    if (!stop) {
      const jobs = attempt.jobs;
      // Every thread runs one job at a time: only a run that may wait in a busy thread goes without one.
      if (!this.world.prefetches) this.world.fail(`a run was sent without a stop signal, though every thread runs one job and prefetch is off`);
      const stoppable = jobs.filter((job) => job.options.signal || job.options.timeout || job.options.softTimeout);
      if (stoppable.length > 0) this.world.fail(`${stoppable.map((job) => job.id).join()} went without a stop signal, yet may have to be stopped`);
    }
    let resolve!: (value: JobReply) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<JobReply>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const jobs = attempt.jobs;
    const ids = message.jobs.map((job) => job.id);
    if (ids.join() !== jobs.map((job) => job.id).join()) this.world.fail(`the message carries ${ids.join()}, the run ${jobs.map((job) => job.id).join()}`);
    const run: FakeRun = { id: this.nextRun++, message, attempt, jobs, promise, resolve, reject, isSettled: false };
    unfinishedRuns.add(run);
    if (jobs.length > 1) this.world.batchRuns++;
    this.inFlight.push(run);
    if (!stop) {
      this.unstoppable.add(run);
      if (this.inFlight.length > this.threads) this.world.prefetchedRuns++;
      if (placement.mayWait) {
        // It waits behind the oldest run without a stop signal that runs alone on its thread, if any.
        const partner = this.inFlight.find((other) => other !== run && this.unstoppable.has(other) && !this.ahead.has(other) && !this.behind.has(other));
        if (partner) {
          this.behind.set(partner, run);
          this.ahead.set(run, partner);
        }
      }
      return promise;
    }
    if (stop.aborted) this.world.schedule(run, { kind: 'abort' });
    else stop.once('abort', () => this.world.schedule(run, { kind: 'abort' }));
    return promise;
  }

  settle(run: FakeRun, outcome: Outcome): void {
    run.isSettled = true;
    unfinishedRuns.delete(run);
    this.inFlight.splice(this.inFlight.indexOf(run), 1);
    // The run behind it now runs alone; a run it waited behind is gone.
    const next = this.behind.get(run);
    if (next) this.ahead.delete(next);
    const previous = this.ahead.get(run);
    if (previous) this.behind.delete(previous);
    this.behind.delete(run);
    this.ahead.delete(run);
    // Piscina forgets the abort listener once a run settles.
    run.attempt.removeListener('abort', () => {});
    if (run.message.control) run.message.control.close();
    if (outcome.kind === 'crash') return run.reject(outcome.error ?? new Error('worker exited with code: 1'));
    if (outcome.kind === 'notStarted') return run.reject(outcome.error);
    if (outcome.kind === 'abort') return run.reject(Object.assign(new Error('The task has been aborted'), { name: 'AbortError' }));
    const ends = run.jobs.map((_, index) => jobOutcome(run, index, outcome));
    const reply: RunReply = {
      type: 'run',
      values: ends.map((end) => (end.kind === 'succeed' ? end.value : undefined)),
      failures: outcome.kind === 'fail' ? ends.map((end) => (end.kind === 'fail' ? FAILURE : undefined)) : undefined,
      ms: 0.01 * ends.length,
      progress: undefined,
    };
    run.resolve(reply);
  }

  destroy(): Promise<void> {
    this.isDestroyed = true;
    return Promise.resolve();
  }
}

// ── the world: the parts wired as lib/runner.ts wires them ────────────

// Past what one Node timer (fake ones too) can wait: it would fire after 1 ms.
const LONG = 2 ** 31;

interface JobOptions {
  priority: number;
  /** `own`: a controller of its own; `shared`: the one all `shared` jobs use until it aborts. */
  signal: 'none' | 'own' | 'shared';
  retries: { max: number; delay: number } | undefined;
  timeout: number | undefined;
  expiresIn: number | undefined;
  /** Milliseconds before it enters the table (`scheduled` until then). */
  delay: number | undefined;
  /** `limited` has the world's rate limit, when it has one. */
  task: 'task' | 'limited';
}

/** What the test knows of one job it created, accepted or not. */
interface JobRecord {
  readonly job: Job;
  readonly controller: AbortController | undefined;
  /** The producer's `submit()` promise, for jobs submitted (not tried). */
  submitted: 'pending' | 'admitted' | 'rejected' | 'none';
  submitError: unknown;
  isAccepted: boolean;
  /** Job states in the order the events announced them. */
  states: JobState[];
  terminalEvents: number;
  settleCount: number;
  outcome: { isOk: true; value: unknown } | { isOk: false; error: unknown } | undefined;
  maxAttempt: number;
  /** What the job must settle with, when a command decided it. */
  expected: { value: string } | { errorClass: new (...args: never[]) => Error; cause?: unknown } | undefined;
}

const JOB_EVENTS = ['scheduled', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'expired'] as const;
type JobEvent = (typeof JOB_EVENTS)[number];

/** Which state a job may be in right before each event. */
const ALLOWED_BEFORE: Record<JobEvent, readonly (JobState | 'new')[]> = {
  scheduled: ['new'],
  queued: ['new', 'scheduled', 'retrying'],
  running: ['queued'],
  retrying: ['running'],
  succeeded: ['running'],
  failed: ['running'],
  cancelled: ['queued', 'running', 'retrying', 'scheduled'],
  expired: ['queued', 'retrying', 'scheduled'],
};

const FAILURE: JobFailure = {
  type: 'task-error',
  error: { type: 'error', name: 'RangeError', message: 'boom', stack: 'RangeError: boom\n    at task (worker.js:1:1)', code: 'E_BOOM', props: {} },
};

const tick = async (times = 20): Promise<void> => {
  for (let i = 0; i < times; i++) await Promise.resolve();
};

class World {
  readonly model = new TableModel();
  readonly events = new EventEmitter<RunnerEvents>();
  readonly table: ObservedTable;
  readonly lifecycle: Lifecycle;
  readonly dispatcher: Dispatcher;
  readonly pool: FakePool;
  readonly records = new Map<Job, JobRecord>();
  readonly violations: string[] = [];
  closing: Promise<void> | undefined;
  isClosed = false;
  staleReplies = 0;
  /** Checks that found a job that may start waiting on a free slot for the rate-limit timer (see the TODO in check()). */
  /** The signal of `shared` jobs; replaced once it aborts. */
  shared = new AbortController();
  batchRuns = 0;
  /** Runs sent past the slots, to wait in a busy thread. */
  prefetchedRuns = 0;
  /** Prefetched runs whose thread died under the run ahead of them. */
  resentRuns = 0;
  private nextId = 0;

  constructor(
    readonly capacity: number,
    readonly slots: number,
    cancelGraceMs: number,
    batching: 'auto' | 'off',
    /** `prefetch: 'auto'`: up to one run more per thread, behind runs without a stop signal. */
    readonly prefetches: boolean,
    rateLimit: RateLimit | undefined,
    private readonly scheduler: Scheduler,
  ) {
    const options = resolveRunnerOptions({ tasks: 'file:///fake-tasks.js', capacity, maxThreads: slots, minThreads: 0, cancelGraceMs });
    let lifecycle: Lifecycle | undefined;
    this.table = new ObservedTable(
      capacity,
      {
        added: (job) => {
          this.onAdded(job);
          lifecycle!.added(job);
        },
        full: () => lifecycle!.full(),
        drained: () => lifecycle!.drained(),
      },
      this,
    );
    lifecycle = this.lifecycle = new Lifecycle(this.table, this.events, options);
    this.pool = new FakePool(slots, this);
    this.dispatcher = new Dispatcher(
      this.table,
      this.pool as unknown as Pool,
      { slots, batching, prefetchSlots: prefetches ? slots : 0, slotsPerThread: 1, cancelGraceMs, rateLimits: new Map(rateLimit ? [['limited', rateLimit]] : []) },
      this.lifecycle,
    );
    this.lifecycle.attach(this.dispatcher);
    const untyped = this.events as unknown as EventEmitter;
    // 9. Nothing is reported as an 'error' event, which crashes a process that does not listen.
    untyped.on('error', (error: unknown) => this.fail(`an 'error' event was emitted: ${String(error)}`));
    for (const name of JOB_EVENTS) {
      untyped.on(name, (payload: { job: Job; error?: unknown }) => this.onJobEvent(name, payload.job, payload.error));
    }
  }

  fail(message: string): void {
    this.violations.push(message);
  }

  label(job: Job | undefined): string {
    return job ? `${job.id}(p${job.priority})` : 'nothing';
  }

  throwIfViolated(where: string): void {
    if (this.violations.length > 0) throw new Error(`after ${where}:\n  ${this.violations.join('\n  ')}`);
  }

  // ── producing, as Runner#admit does ──

  /** `submit()` (isNow false) or `trySubmit()` (true). Returns what a producer would get. */
  admit(options: JobOptions, isNow: boolean): { record?: JobRecord; error?: unknown } {
    if (this.closing) return { error: new RunnerClosedError() };
    const controller = options.signal === 'own' ? new AbortController() : options.signal === 'shared' ? this.shared : undefined;
    const resolved = resolveSubmitOptions(
      {
        priority: options.priority,
        ...(controller && { signal: controller.signal }),
        ...(options.retries && { retries: { max: options.retries.max, delay: options.retries.delay, maxDelay: options.retries.delay, backoff: 'fixed', jitter: 'none' } }),
        ...(options.timeout !== undefined && { timeout: options.timeout }),
        ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
        ...(options.delay !== undefined && { delay: options.delay }),
      },
      undefined,
      Date.now(),
    );
    const id = `j${this.nextId++}`;
    const job = new Job(this.lifecycle, id, options.task, [id], false, resolved, now());
    const record: JobRecord = {
      job,
      controller,
      submitted: 'none',
      submitError: undefined,
      isAccepted: false,
      states: [],
      terminalEvents: 0,
      settleCount: 0,
      outcome: undefined,
      maxAttempt: 1,
      expected: undefined,
    };
    this.records.set(job, record);
    job.result.then(
      (value) => {
        record.settleCount++;
        record.outcome = { isOk: true, value };
      },
      (error: unknown) => {
        record.settleCount++;
        record.outcome = { isOk: false, error };
      },
    );
    if (resolved.runAt !== undefined && resolved.runAt > Date.now()) {
      this.lifecycle.schedule(job, resolved.runAt);
      if (!isNow) record.submitted = 'admitted';
      return { record };
    }
    if (this.table.tryPut(job)) {
      this.dispatcher.pump();
      if (!isNow) record.submitted = 'admitted';
      return { record };
    }
    if (isNow) {
      this.records.delete(job);
      return { error: new TableFullError(this.capacity) };
    }
    record.submitted = 'pending';
    this.table.put(job, resolved.signal).then(
      () => {
        record.submitted = 'admitted';
      },
      (error: unknown) => {
        record.submitted = 'rejected';
        record.submitError = error;
      },
    );
    return { record };
  }

  /** The runner's own close (lib/shutdown.ts), over the fake pool. */
  close(drain: boolean, deadlineMs: number | undefined): void {
    if (this.closing) return;
    const shutdown = new Shutdown({ lifecycle: this.lifecycle, broker: this.table, dispatcher: this.dispatcher, pool: this.pool, stopSchedules: () => {} });
    this.closing = shutdown.close(drain ? 'all' : 'none', deadlineMs).then(() => {
      this.isClosed = true;
    });
  }

  /**
   * Runs one job that replies at once, measured as tiny in its (pretend)
   * thread, so with `batching: 'auto'` the next jobs of the task may travel
   * in batches.
   */
  async warmUp(): Promise<void> {
    const { record } = this.admit({ priority: 0, signal: 'none', retries: undefined, timeout: undefined, expiresIn: undefined, delay: undefined, task: 'task' }, false);
    const run = this.pool.inFlight.find((candidate) => candidate.jobs.includes(record!.job));
    if (!run) return this.fail('the first job did not start on an idle pool');
    this.deliver(run, { kind: 'complete' });
    await tick();
  }

  // ── the pool's replies ──

  /** Delivers `outcome` to `run` when the scheduler picks it. */
  schedule(run: FakeRun, outcome: Outcome): void {
    const label = `${outcome.kind} run ${run.id} (${run.jobs.map((job) => job.id).join(',')})`;
    void this.scheduler.schedule(Promise.resolve(), label).then(() => this.deliver(run, outcome));
  }

  deliver(run: FakeRun, outcome: Outcome): void {
    if (run.isSettled) return;
    if (outcome.kind === 'crash') {
      // A run waiting behind another cannot crash: its thread dies under the one ahead.
      const first = this.pool.ahead.get(run) ?? run;
      const waiting = this.pool.behind.get(first);
      const error = new Error('worker exited with code: 1');
      // The slots are checked once the dispatcher heard of both.
      this.deliverOne(first, { kind: 'crash', error }, !waiting);
      if (waiting) {
        this.resentRuns++;
        this.deliverOne(waiting, { kind: 'notStarted', error }, true);
      }
      return;
    }
    this.deliverOne(run, outcome, true);
  }

  private deliverOne(run: FakeRun, outcome: Outcome, checksSlots: boolean): void {
    if (run.isSettled) return;
    const isClosing = this.lifecycle.isClosing;
    const before = run.jobs.map((job) => ({
      job,
      isCurrent: job.run === run.attempt && job.state === 'running',
      state: job.state,
      terminalEvents: this.records.get(job)!.terminalEvents,
      attempt: job.attempt,
    }));
    if (before.every((job) => !job.isCurrent)) this.staleReplies++;
    if (outcome.kind === 'abort' && before.some((job) => job.isCurrent)) {
      this.fail(`run ${run.id} was aborted while ${before.filter((job) => job.isCurrent).map((job) => job.job.id).join()} still counted on it`);
    }
    this.pool.settle(run, outcome);
    // Registered after the dispatcher's own reaction to the same promise, so it runs right after it.
    const afterReply = (): void => {
      before.forEach((snapshot, index) => this.afterReply(run, jobOutcome(run, index, outcome), snapshot, isClosing));
      if (checksSlots) this.checkSlots(`after ${outcome.kind} of run ${run.id}`);
    };
    run.promise.then(afterReply, afterReply);
  }

  private afterReply(
    run: FakeRun,
    end: ReturnType<typeof jobOutcome>,
    before: { job: Job; isCurrent: boolean; state: JobState; terminalEvents: number; attempt: number },
    isClosing: boolean,
  ): void {
    const { job } = before;
    const record = this.records.get(job)!;
    const what = `${end.kind} of ${job.id} in run ${run.id}`;
    if (!before.isCurrent) {
      // A late reply from a run already stopped or replaced: dropped.
      if (job.state !== before.state || record.terminalEvents !== before.terminalEvents) {
        this.fail(`settle once: the stale ${what} moved it from ${before.state} to ${job.state}`);
      }
    } else if (end.kind === 'succeed') {
      if (job.state !== 'succeeded') this.fail(`${what}: the job is ${job.state}, not succeeded`);
      record.expected = { value: end.value };
    } else if (end.kind === 'crash') {
      if (job.state !== 'failed') this.fail(`${what}: the job is ${job.state}, not failed`);
      record.expected = { errorClass: WorkerCrashedError };
    } else if (end.kind === 'notStarted') {
      // Sent again, as it is: still running, on a new run or waiting for one.
      if (job.state !== 'running' || job.run === run.attempt || job.attempt !== before.attempt || record.terminalEvents !== before.terminalEvents) {
        this.fail(`${what}: expected it sent again and running at attempt ${before.attempt}, got ${job.state} at ${job.attempt}`);
      }
    } else if (end.kind === 'fail') {
      const policy = job.options.retry;
      const canRetry = policy !== undefined && !isClosing && before.attempt <= policy.max;
      if (canRetry) {
        if (job.state !== 'retrying' || job.attempt !== before.attempt + 1) {
          this.fail(`${what}: expected retrying at attempt ${before.attempt + 1}, got ${job.state} at ${job.attempt}`);
        }
      } else {
        if (job.state !== 'failed') this.fail(`${what}: the job is ${job.state}, not failed`);
        record.expected = { errorClass: policy && !isClosing ? RetriesExhaustedError : TaskError };
      }
    }
  }

  // ── what the table and the lifecycle report ──

  private onAdded(job: Job): void {
    const record = this.records.get(job);
    if (!record) return this.fail(`the table added ${job.id}, which nobody submitted`);
    const { model } = this;
    // (An accepted job coming back from a delay or a retry waits for room without its signal;
    // the lifecycle cancels it, right after, when that signal aborts.)
    if (!record.isAccepted && record.controller?.signal.aborted) this.fail(`the table admitted ${job.id}, whose producer's signal had aborted`);
    // Producers whose signal aborted in the same call have left the line, or are leaving it.
    model.waiters = model.waiters.filter((waiter) => {
      const other = this.records.get(waiter);
      return waiter === job || other?.isAccepted || !other?.controller?.signal.aborted;
    });
    const index = model.waiters.indexOf(job);
    if (index > 0) {
      this.fail(`fair admission: ${job.id} was admitted before ${model.waiters.slice(0, index).map((j) => j.id).join(', ')}, who waited longer`);
    }
    if (index === -1 && model.waiters.length > 0) this.fail(`fair admission: ${job.id} went onto the table past ${model.waiters.length} waiting`);
    if (index !== -1) model.waiters.splice(index, 1);
    model.append(job);
    if (this.table.size > this.capacity) this.fail(`capacity: ${this.table.size} on a table of ${this.capacity}`);
  }

  private onJobEvent(name: JobEvent, job: Job, error: unknown): void {
    const record = this.records.get(job);
    if (!record) return this.fail(`${name} for ${job.id}, which nobody submitted`);
    const previous = record.states.at(-1) ?? 'new';
    if (isTerminal(previous as JobState)) {
      this.fail(`state machine: ${name} for ${job.id} after it was ${previous}`);
    } else if (!ALLOWED_BEFORE[name].includes(previous)) {
      this.fail(`state machine: ${job.id} went from ${previous} to ${name}`);
    }
    if (job.state !== name) this.fail(`${name} event for ${job.id}, whose state is ${job.state}`);
    if (job.attempt < record.maxAttempt) this.fail(`attempt of ${job.id} went down from ${record.maxAttempt} to ${job.attempt}`);
    record.maxAttempt = job.attempt;
    record.states.push(name);
    if (name === 'queued' || name === 'scheduled') record.isAccepted = true;
    if (isTerminal(name)) record.terminalEvents++;
    if (name === 'failed' && !(error instanceof BaoziError)) this.fail(`${job.id} failed with something that is not a BaoziError`);
    // A time past what a Node timer can wait (LONG) must never fire within a run (issue 16 B).
    if (name === 'failed' && error instanceof TimeoutError && (job.options.timeout ?? 0) >= LONG) this.fail(`${job.id} timed out early: its timeout is ${job.options.timeout} ms`);
    if (name === 'expired' && job.options.expiresAt! - job.submittedAt >= LONG - 1) this.fail(`${job.id} expired early: it expires ${job.options.expiresAt! - job.submittedAt} ms after submit`);
    if (name === 'queued' && previous === 'retrying' && (job.options.retry?.delay ?? 0) >= LONG) this.fail(`${job.id} retried early: its retry delay is ${job.options.retry!.delay} ms`);
    if (name === 'failed') {
      const isKnown = [TaskError, WorkerCrashedError, TimeoutError, RetriesExhaustedError].some((kind) => error instanceof kind);
      if (!isKnown) this.fail(`${job.id} failed with ${(error as Error).name}, which no command or limit causes`);
    }
    if (name === 'expired' && this.pool.inFlight.some((run) => run.attempt.job === job && job.run === run.attempt)) {
      this.fail(`${job.id} expired while it ran`);
    }
    if (this.table.size > this.capacity || this.dispatcher.runningCount > this.mostRuns) {
      this.fail(`capacity at ${name} of ${job.id}: ${this.table.size}/${this.capacity} queued, ${this.dispatcher.runningCount}/${this.mostRuns} running`);
    }
  }

  // ── invariants ──

  /** Runs out at most: one per slot, and with prefetch one more per thread. */
  get mostRuns(): number {
    return this.prefetches ? 2 * this.slots : this.slots;
  }

  /** The attempt a run without a stop signal belongs to, found from its message's first job. */
  attemptOf(message: RunMessage): Attempt | undefined {
    const id = message.jobs[0]?.id;
    for (const { job } of this.records.values()) if (job.id === id) return job.run;
    return undefined;
  }

  /**
   * Slots: running never over the pool's size (plus one prefetched run per
   * thread, and those only while no run out has a stop signal), the
   * dispatcher and the pool agree, no slot is orphaned.
   */
  checkSlots(where: string): void {
    const running = this.dispatcher.runningCount;
    if (running > this.mostRuns) this.fail(`${where}: ${running} running on ${this.slots} slots${this.prefetches ? ' (prefetch on)' : ''}`);
    const stoppable = this.pool.inFlight.filter((run) => !this.pool.unstoppable.has(run));
    if (running > this.slots && stoppable.length > 0) {
      this.fail(`${where}: ${running} runs on ${this.slots} slots, yet run ${stoppable[0]!.id} has a stop signal: a prefetched run waits behind it`);
    }
    if (running !== this.pool.inFlight.length) this.fail(`${where}: the dispatcher counts ${running} running, the pool has ${this.pool.inFlight.length}`);
    let jobRuns = 0;
    for (const run of this.pool.inFlight) {
      jobRuns += run.jobs.length;
      const isLive = run.jobs.some((job) => job.run === run.attempt && job.state === 'running');
      if (!isLive && !run.attempt.aborted && run.attempt.graceTimer === undefined) {
        this.fail(`${where}: run ${run.id} of ${run.jobs.map((job) => `${job.id} (${job.state})`).join(', ')} holds a slot that nothing will ever free`);
      }
    }
    if (this.dispatcher.runningJobCount !== jobRuns) this.fail(`${where}: the dispatcher counts ${this.dispatcher.runningJobCount} jobs running, the pool carries ${jobRuns}`);
  }

  /**
   * Every invariant that must hold between two commands. `isSettling`: called
   * right after a command, before promise reactions ran, so results and
   * producers' promises are not looked at.
   */
  check(where: string, isSettling = false): void {
    const { table, model, lifecycle } = this;
    // 1. Capacity.
    if (table.size < 0 || table.size > this.capacity) this.fail(`${where}: capacity: ${table.size} queued on a table of ${this.capacity}`);
    this.checkSlots(where);
    // 5. No lost wake-up: room on the table means nobody waits for it.
    if (table.size < this.capacity && table.blocked > 0) this.fail(`${where}: lost wake-up: ${table.blocked} blocked with ${table.size}/${this.capacity} queued`);
    // The dispatcher never leaves a slot idle while a job that may start waits on the table,
    // and wakes itself for the jobs a rate limit holds back.
    const dispatcher = this.dispatcher as unknown as { heldTasksAt(at: number): Set<string> | undefined; scanAt: number; rateTimer?: unknown; resends: Job[][] };
    // Jobs to send again (prefetched to a thread that died first) go before anything, into the first free slot.
    if (dispatcher.resends.length > 0 && this.dispatcher.runningCount < this.slots) {
      this.fail(`${where}: ${dispatcher.resends.flat().map((job) => job.id).join()} wait to be sent again, yet only ${this.dispatcher.runningCount}/${this.slots} slots are busy`);
    }
    if (table.size > 0 && this.dispatcher.runningCount < this.slots) {
      // As of the last scan: a window that opened since is the rate timer's to notice.
      const held = dispatcher.heldTasksAt(dispatcher.scanAt);
      const startable = model.head((job) => !held?.has(job.name));
      if (startable) this.fail(`${where}: ${startable.id} may start, yet only ${this.dispatcher.runningCount}/${this.slots} slots are busy`);
      if (dispatcher.rateTimer === undefined) this.fail(`${where}: ${table.size} jobs wait, slots are free, and nothing will start them`);
    }
    if (model.size !== table.size) this.fail(`${where}: the table holds ${table.size}, the model ${model.size}`);
    if (model.waiters.length !== table.blocked) this.fail(`${where}: ${table.blocked} blocked, the model has ${model.waiters.length}`);
    // 2. Conservation: every accepted job is in exactly one place.
    let queued = 0;
    let running = 0;
    let timed = 0;
    let inLine = 0;
    let settled = 0;
    let accepted = 0;
    for (const record of this.records.values()) {
      const { job } = record;
      const isInLine = model.waiters.includes(job);
      if (!isSettling && record.submitted === 'pending' && !isInLine) this.fail(`${where}: the producer of ${job.id} waits, but not in the line for room`);
      if (!record.isAccepted) continue;
      accepted++;
      const places = [model.has(job), isInLine, job.waitTimer !== undefined, job.state === 'running', job.isSettled].filter(Boolean).length;
      if (places !== 1) this.fail(`${where}: conservation: ${job.id} (${job.state}) is in ${places} places`);
      switch (job.state) {
        case 'queued':
          if (!model.has(job)) this.fail(`${where}: ${job.id} is queued but not on the table`);
          queued++;
          break;
        case 'running':
          // Or it waits to be sent again, its thread having died before it started (still running to the outside).
          if (!this.pool.inFlight.some((run) => run.attempt === job.run) && !dispatcher.resends.some((jobs) => jobs.includes(job))) {
            this.fail(`${where}: ${job.id} is running without a run in the pool`);
          }
          running++;
          break;
        case 'retrying':
        case 'scheduled':
          if (job.waitTimer !== undefined) timed++;
          else if (isInLine) inLine++;
          else this.fail(`${where}: ${job.id} is ${job.state} with neither a timer nor a place in line`);
          break;
        default:
          settled++;
          if (record.terminalEvents !== 1) this.fail(`${where}: settle once: ${job.id} had ${record.terminalEvents} terminal events`);
          if (job.expiryTimer !== undefined || job.waitTimer !== undefined) this.fail(`${where}: settled ${job.id} still has a timer`);
      }
      // 3. Settle exactly once, and only when terminal (reactions have run by now).
      if (!isSettling && record.settleCount !== (job.isSettled ? 1 : 0)) this.fail(`${where}: ${job.id} is ${job.state} and its result settled ${record.settleCount} times`);
    }
    if (accepted !== queued + running + timed + inLine + settled) this.fail(`${where}: conservation: ${accepted} accepted ≠ ${queued}+${running}+${timed}+${inLine}+${settled}`);
    if (queued !== table.size) this.fail(`${where}: ${queued} jobs queued, the table holds ${table.size}`);
    if (timed !== lifecycle.scheduledCount) this.fail(`${where}: ${timed} jobs wait on a timer, the lifecycle counts ${lifecycle.scheduledCount}`);
    const { succeeded, failed, cancelled, expired } = lifecycle.counts;
    if (succeeded + failed + cancelled + expired !== settled) this.fail(`${where}: counts say ${succeeded + failed + cancelled + expired} settled, ${settled} did`);
  }

  /** 10. Quiet after close, and every accepted job settled with what the commands decided. */
  checkEnd(): void {
    this.check('the end');
    if (!this.isClosed) this.fail('close() never resolved');
    if (this.table.size !== 0 || this.table.blocked !== 0 || this.dispatcher.runningCount !== 0) {
      this.fail(`after close: ${this.table.size} queued, ${this.table.blocked} blocked, ${this.dispatcher.runningCount} running`);
    }
    if (!this.pool.isDestroyed) this.fail('after close: the pool was not destroyed');
    const timers = jest.getTimerCount();
    if (timers !== 0) this.fail(`after close: ${timers} timers left`);
    for (const record of this.records.values()) {
      const { job } = record;
      if (record.submitted === 'pending') this.fail(`after close: the producer of ${job.id} still waits`);
      if (record.controller && getEventListeners(record.controller.signal, 'abort').length !== 0) {
        this.fail(`after close: ${job.id}'s signal still has listeners`);
      }
      if (!record.isAccepted) {
        const { submitError } = record;
        if (record.submitted !== 'rejected' || !(submitError instanceof CancelledError || submitError instanceof RunnerClosedError)) {
          this.fail(`the producer of ${job.id} was never admitted, and its submit() ${record.submitted === 'rejected' ? `rejected with ${String(submitError)}` : 'did not reject'}`);
        }
        if (record.settleCount !== 0 || record.terminalEvents !== 0) this.fail(`${job.id} was never accepted, yet settled`);
        continue;
      }
      if (!job.isSettled || record.settleCount !== 1 || record.terminalEvents !== 1) {
        this.fail(`settle once: ${job.id} is ${job.state}, settled ${record.settleCount} times, ${record.terminalEvents} terminal events`);
      }
      const { expected, outcome } = record;
      const kind = { failed: BaoziError, cancelled: CancelledError, expired: JobExpiredError }[job.state as 'failed'];
      const isRight = outcome?.isOk ? job.state === 'succeeded' : kind !== undefined && outcome?.error instanceof kind;
      if (outcome && !isRight) {
        this.fail(`${job.id} is ${job.state}, and its result ${outcome.isOk ? 'resolved' : `rejected with ${(outcome.error as Error).name}`}`);
      }
      if (!expected || !outcome) continue;
      if ('value' in expected) {
        if (!outcome.isOk || outcome.value !== expected.value) this.fail(`${job.id} should have succeeded with ${expected.value}`);
      } else if (outcome.isOk || !(outcome.error instanceof expected.errorClass)) {
        this.fail(`${job.id} should have rejected with ${expected.errorClass.name}, got ${outcome.isOk ? 'a value' : (outcome.error as Error).name}`);
      } else if ('cause' in expected && (outcome.error as Error).cause !== expected.cause) {
        this.fail(`${job.id} was cancelled without its reason as cause`);
      }
    }
  }
}

// ── commands ──────────────────────────────────────────────────────────

type Model = object;
type Command = AsyncCommand<Model, World>;

abstract class WorldCommand implements Command {
  check(): boolean {
    return true;
  }

  async run(_model: Model, world: World): Promise<void> {
    await tick();
    world.check(`the command before ${this.toString()}`);
    world.throwIfViolated(`the command before ${this.toString()}`);
    this.apply(world);
    world.check(this.toString(), true);
    world.throwIfViolated(this.toString());
  }

  abstract apply(world: World): void;
  abstract toString(): string;
}

function describeOptions(options: JobOptions): string {
  const parts = [`p${options.priority}`];
  if (options.signal !== 'none') parts.push(`${options.signal} signal`);
  if (options.retries) parts.push(`retries=${options.retries.max}/${options.retries.delay}ms`);
  if (options.timeout !== undefined) parts.push(`timeout=${options.timeout}`);
  if (options.expiresIn !== undefined) parts.push(`expiresIn=${options.expiresIn}`);
  if (options.delay !== undefined) parts.push(`delay=${options.delay}`);
  if (options.task !== 'task') parts.push(options.task);
  return parts.join(',');
}

class SubmitCommand extends WorldCommand {
  constructor(
    private readonly options: JobOptions,
    private readonly isNow: boolean,
    /** Jobs submitted one after the other, as a producer loop does. */
    private readonly count = 1,
  ) {
    super();
  }

  apply(world: World): void {
    for (let i = 0; i < this.count; i++) this.submitOne(world);
  }

  private submitOne(world: World): void {
    const { table, dispatcher } = world;
    // A delayed job waits on a timer, not for room.
    const hadRoom = (table.size < world.capacity && table.blocked === 0) || this.options.delay !== undefined;
    const before = { size: table.size, blocked: table.blocked, running: dispatcher.runningCount, records: world.records.size };
    const { record, error } = world.admit(this.options, this.isNow);
    if (world.closing) {
      if (!(error instanceof RunnerClosedError)) world.fail('a closed runner accepted a job');
      return;
    }
    if (this.isNow && !hadRoom) {
      if (!(error instanceof TableFullError)) world.fail('trySubmit on a full table did not throw TableFullError');
      const after = { size: table.size, blocked: table.blocked, running: dispatcher.runningCount, records: world.records.size };
      if (JSON.stringify(after) !== JSON.stringify(before)) world.fail(`trySubmit that threw changed ${JSON.stringify(before)} to ${JSON.stringify(after)}`);
      return;
    }
    if (!record) return world.fail(`${this.toString()} was refused with ${String(error)} though the table had room`);
    if (hadRoom !== record.isAccepted) world.fail(`${record.job.id}: room ${hadRoom} but accepted ${record.isAccepted}`);
    if (!hadRoom && !world.model.waiters.includes(record.job)) world.fail(`${record.job.id} found no room and is not waiting for it`);
  }

  toString(): string {
    return `${this.isNow ? 'trySubmit' : 'submit'}(${describeOptions(this.options)})${this.count > 1 ? ` × ${this.count}` : ''}`;
  }
}

class CancelCommand extends WorldCommand {
  constructor(
    private readonly pick: number,
    private readonly via: 'handle' | 'signal',
  ) {
    super();
  }

  apply(world: World): void {
    // Live jobs, and blocked producers that can withdraw (through their signal).
    const isCancellable = (record: JobRecord): boolean => (record.isAccepted && !record.job.isSettled) || (record.submitted === 'pending' && record.controller !== undefined);
    const candidates = [...world.records.values()].filter(isCancellable);
    if (candidates.length === 0) return;
    const picked = candidates[this.pick % candidates.length]!;
    const controller = this.via === 'signal' ? picked.controller : undefined;
    if (!controller && !picked.isAccepted) return;
    // A shared signal cancels every job and producer that uses it.
    const targets = controller ? candidates.filter((record) => record.controller === controller) : [picked];
    const onTable = targets.filter((record) => world.model.has(record.job)).length;
    const waiting = targets.filter((record) => world.model.waiters.includes(record.job)).length;
    const statesBefore = new Map([...world.records.values()].map((record) => [record, record.job.state]));
    const inLineBefore = new Set(world.model.waiters);
    const blockedBefore = world.table.blocked;
    const reason = new Error(`cancel ${picked.job.id}${controller === world.shared ? ' and every job of the shared signal' : ''}`);
    if (controller) {
      controller.abort(reason);
      if (controller === world.shared) world.shared = new AbortController();
    } else {
      if (!picked.job.cancel(reason)) world.fail(`cancel() of live ${picked.job.id} returned false`);
      if (picked.job.cancel('again')) world.fail(`a second cancel() of ${picked.job.id} returned true`);
    }
    for (const target of targets) {
      const { job } = target;
      if (target.isAccepted) {
        if (job.state !== 'cancelled') world.fail(`${job.id} is ${job.state} after being cancelled`);
        target.expected = { errorClass: CancelledError, cause: reason };
      } else {
        // 6. A producer that stops waiting leaves no reservation behind.
        world.model.withdraw(job);
      }
    }
    // 7. Cancellation precision: only the targets changed, except producers let in by the room they left
    // (whose jobs may start at once, when the cancelled one held back by a rate limit left a slot idle).
    let admitted = 0;
    let admittedAndStarted = 0;
    let startedFromTable = 0;
    for (const [record, state] of statesBefore) {
      if (targets.includes(record)) continue;
      if (inLineBefore.has(record.job) && (world.model.has(record.job) || record.job.state === 'running')) {
        admitted++;
        if (record.job.state === 'running') admittedAndStarted++;
        continue;
      }
      // A queued job may start: the cancelled one held up the line, by a rate limit, or as the next job a prefetch may not pass.
      // (The table checks that it was the one to go next.)
      if (state === 'queued' && record.job.state === 'running' && !inLineBefore.has(record.job)) {
        startedFromTable++;
        continue;
      }
      if (record.job.state !== state) world.fail(`cancelling ${picked.job.id} moved ${record.job.id} from ${state} to ${record.job.state}`);
    }
    // Each job taken off the table (cancelled, or started) makes room for one producer; one that started at once leaves its room to the next.
    if (admitted - admittedAndStarted > onTable + startedFromTable) {
      world.fail(`cancelling ${targets.length} jobs (${onTable} on the table, ${startedFromTable} started from it) let ${admitted} producers in, ${admittedAndStarted} of them started`);
    }
    if (world.table.blocked !== blockedBefore - waiting - admitted) {
      world.fail(`after withdrawing ${waiting} producers and admitting ${admitted}, ${world.table.blocked} of ${blockedBefore} still wait`);
    }
  }

  toString(): string {
    return `cancel(#${this.pick}, ${this.via})`;
  }
}

class ReplyCommand extends WorldCommand {
  constructor(
    private readonly pick: number,
    private readonly kind: 'complete' | 'fail' | 'crash',
    /** Which jobs of a batch fail (bit i for job i; job 0 always does). */
    private readonly mask = 0,
  ) {
    super();
  }

  apply(world: World): void {
    const runs = world.pool.inFlight;
    if (runs.length === 0) return;
    const run = runs[this.pick % runs.length]!;
    world.schedule(run, this.kind === 'fail' ? { kind: 'fail', mask: this.mask } : { kind: this.kind });
  }

  toString(): string {
    return `${this.kind}(run #${this.pick}${this.kind === 'fail' ? `, mask ${this.mask}` : ''})`;
  }
}

class AdvanceCommand extends WorldCommand {
  constructor(private readonly ms: number) {
    super();
  }

  apply(): void {
    jest.advanceTimersByTime(this.ms);
  }

  toString(): string {
    return `advance(${this.ms}ms)`;
  }
}

class CloseCommand extends WorldCommand {
  constructor(
    private readonly drain: boolean,
    private readonly deadlineMs: number | undefined,
  ) {
    super();
  }

  apply(world: World): void {
    const wasClosing = world.closing !== undefined;
    world.close(this.drain, this.deadlineMs);
    if (wasClosing) return;
    if (world.table.blocked !== 0) world.fail(`close left ${world.table.blocked} producers blocked`);
    for (const record of world.records.values()) {
      const { job } = record;
      if (!record.isAccepted || job.isSettled) continue;
      if (job.state === 'retrying' || job.state === 'scheduled') world.fail(`close left ${job.id} ${job.state}`);
      if (!this.drain) world.fail(`close({ drain: 'none' }) left ${job.id} ${job.state}`);
    }
  }

  toString(): string {
    return `close({ drain: ${this.drain}${this.deadlineMs === undefined ? '' : `, deadlineMs: ${this.deadlineMs}`} })`;
  }
}

/** `arbitrary`'s values one time in `every`, `undefined` the others. */
function sometimes<T>(arbitrary: Arbitrary<T>, every: number): Arbitrary<T | undefined> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });
}

/** Short times, and now and then one longer than a Node timer can wait (2^31−1 ms), which must never fire in a run. */
function times(min: number, max: number): Arbitrary<number> {
  return fc.oneof({ weight: 4, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(LONG, 3 * LONG) });
}

const jobOptions: Arbitrary<JobOptions> = fc.record({
  priority: fc.constantFrom(0, 0, 1, -1),
  signal: fc.constantFrom('none' as const, 'none' as const, 'none' as const, 'own' as const, 'shared' as const),
  retries: sometimes(fc.record({ max: fc.integer({ min: 1, max: 2 }), delay: times(0, 30) }), 3),
  timeout: sometimes(times(5, 60), 5),
  expiresIn: sometimes(times(5, 80), 5),
  delay: sometimes(fc.integer({ min: 1, max: 40 }), 6),
  task: fc.constantFrom('task' as const, 'task' as const, 'limited' as const),
});

/** Jobs with nothing to stop mid-run: the kind the dispatcher may batch. */
const plainJobOptions: Arbitrary<JobOptions> = fc.record({
  priority: fc.constantFrom(0, 1),
  signal: fc.constant('none' as const),
  retries: fc.constant(undefined),
  timeout: fc.constant(undefined),
  expiresIn: fc.constant(undefined),
  delay: fc.constant(undefined),
  task: fc.constant('task' as const),
});

// One arbitrary with weights, so that close comes late in most runs.
const command: Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: jobOptions.map((options) => new SubmitCommand(options, false)) },
  { weight: 3, arbitrary: jobOptions.map((options) => new SubmitCommand(options, true)) },
  { weight: 2, arbitrary: fc.tuple(plainJobOptions, fc.integer({ min: 2, max: 6 })).map(([options, count]) => new SubmitCommand(options, false, count)) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.constantFrom('handle' as const, 'signal' as const)).map(([pick, via]) => new CancelCommand(pick, via)) },
  { weight: 6, arbitrary: fc.nat().map((pick) => new ReplyCommand(pick, 'complete')) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.nat()).map(([pick, mask]) => new ReplyCommand(pick, 'fail', mask)) },
  { weight: 1, arbitrary: fc.nat().map((pick) => new ReplyCommand(pick, 'crash')) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 60 }).map((ms) => new AdvanceCommand(ms)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.boolean(), sometimes(fc.integer({ min: 0, max: 50 }), 2)).map(([drain, deadlineMs]) => new CloseCommand(drain, deadlineMs)),
  },
);

const commands = fc.commands<Model, World, false>([command], { maxCommands: 60, size: 'max', ...(REPLAY && { replayPath: REPLAY }) });

const setup = fc.record({
  capacity: fc.integer({ min: 1, max: 6 }),
  slots: fc.integer({ min: 1, max: 3 }),
  cancelGraceMs: fc.constantFrom(0, 20),
  batching: fc.constantFrom('auto' as const, 'off' as const),
  prefetch: fc.boolean(),
  rateLimit: sometimes(fc.record({ max: fc.integer({ min: 1, max: 2 }), per: fc.integer({ min: 10, max: 50 }) }), 3),
  finalDrain: fc.boolean(),
});

/** Closes the world if the commands did not, and lets every run, timer and reply finish. */
async function finish(world: World, scheduler: Scheduler, drain: boolean): Promise<void> {
  world.close(drain, undefined);
  for (let round = 0; round < 100 && !world.isClosed; round++) {
    const isStuck = world.pool.inFlight.length === 0 && scheduler.count() === 0 && jest.getTimerCount() === 0;
    if (isStuck && round > 0) break;
    for (const run of [...world.pool.inFlight]) world.schedule(run, { kind: 'complete' });
    await scheduler.waitAll();
    jest.advanceTimersByTime(50);
    await tick();
    world.throwIfViolated('finishing');
  }
  await tick();
}

// ── the property ──────────────────────────────────────────────────────

describe('MemoryTable, Lifecycle and Dispatcher over a fake pool', () => {
  let unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

  beforeAll(() => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate'] });
    hostProcess().on('unhandledRejection', onUnhandled);
  });

  afterAll(() => {
    for (const run of unfinishedRuns) {
      run.attempt.control?.close();
      if (run.message.control) run.message.control.close();
    }
    hostProcess().off('unhandledRejection', onUnhandled);
    jest.useRealTimers();
  });

  it('LS1: BP1: keep every invariant of the contract after every command, in every interleaving of replies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), setup, commands, async (scheduler, config, cmds) => {
        jest.clearAllTimers();
        unhandled = [];
        const world = new World(config.capacity, config.slots, config.cancelGraceMs, config.batching, config.prefetch, config.rateLimit, scheduler);
        await world.warmUp();
        await fc.scheduledModelRun(scheduler, () => ({ model: {}, real: world }), cmds);
        await finish(world, scheduler, config.finalDrain);
        world.checkEnd();
        if (STATS) STATS.add(world, [...cmds].length);
        world.throwIfViolated('close');
        // Lets Node report rejections nobody handled during this run.
        await new Promise((resolve) => setImmediate(resolve));
        if (unhandled.length > 0) throw new Error(`${unhandled.length} unhandled rejections, the first: ${String(unhandled[0])}`);
      }),
      { seed: SEED, numRuns: Math.max(RUNS, REPLAY_RUNS), ...(PATH && { path: PATH }) },
    );
    expect(unhandled).toEqual([]);
    // What the runs went through, to see that they reach the interesting states.
    if (STATS) console.log(STATS.totals);
    // About 10 ms a run on a 2-core machine; more runs get more time.
  }, 20_000 + RUNS * 30);
});
