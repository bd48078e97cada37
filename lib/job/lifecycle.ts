import type { EventEmitter } from 'eventemitter3';
import { watchAbort } from '../abort-watch.js';
import type { Dispatcher, DispatcherHooks } from '../dispatch/dispatcher.js';
import {
  CancelledError,
  JobExpiredError,
  RetriesExhaustedError,
  RunnerClosedError,
  ScheduleFullError,
  TaskError,
  type FailedJobError,
  type RunError,
  type WorkerCrashedError,
} from '../errors.js';
import type { RunnerEvents } from '../events.js';
import { type Job, type JobOwner } from './job.js';
import { now } from '../clock.js';
import { ResultStore } from './results.js';
import { transition } from './states.js';
import { computeBackoff, REQUESTED_RETRY_MAX, type RetryOptions } from '../semantics/retry.js';
import { publishJobEvent } from '../observe/diagnostics.js';
import { MetricsRecorder } from '../observe/metrics.js';
import { DurationRecorder } from '../observe/summary.js';
import { isDurable, type Broker, type BrokerObserver, type DurableBroker } from '../broker/contract.js';
import { RETRY_DEFAULTS, type ResolvedRunnerOptions } from '../admission/validate.js';
import { clearLongTimeout, setLongTimeout } from '../../workers/long-timer.js';

/** Counts of settled jobs and retries since the runner started. */
export interface JobCounts {
  succeeded: number;
  failed: number;
  cancelled: number;
  expired: number;
  /** Runs that failed and were retried. */
  retried: number;
}

const ignore = (): void => {};

/**
 * Every state change of every job, in one place: accepting, scheduling,
 * retrying, expiring, cancelling and settling, each with its one event.
 * Keeps the live jobs by id, the finished ones for `getJob()`, and the
 * counts. The dispatcher reports runs to it; the runner hands it jobs.
 */
export class Lifecycle implements DispatcherHooks, JobOwner, BrokerObserver<Job> {
  readonly counts: JobCounts = { succeeded: 0, failed: 0, cancelled: 0, expired: 0, retried: 0 };
  readonly waitTime = new DurationRecorder();
  readonly runTime = new DurationRecorder();
  readonly metrics = new MetricsRecorder();
  /** Accepted jobs that have not settled, by id. */
  private readonly live = new Map<string, Job>();
  private readonly results: ResultStore<Job>;
  /** Jobs waiting for a delay or a retry backoff (bounded by `maxScheduled`). */
  private waitingCount = 0;
  /**
   * Jobs in the `running` state. Counted here, where a job settles, and not
   * by its run: a run outlives its job while its thread is terminated (a
   * hard timeout, a cancel), and a listener must read the job already out.
   */
  private runningJobs = 0;
  private idleWaiters: (() => void)[] = [];
  private dispatcher!: Dispatcher;
  /** The broker, when it outlives this process: it keeps jobs waiting off the table too. */
  private readonly durable: DurableBroker<Job> | undefined;
  isClosing = false;

  constructor(
    private readonly broker: Broker<Job>,
    private readonly events: EventEmitter<RunnerEvents>,
    private readonly options: ResolvedRunnerOptions,
  ) {
    this.results = new ResultStore(options.maxResults, options.resultTtl);
    this.durable = isDurable(broker) ? broker : undefined;
  }

  attach(dispatcher: Dispatcher): void {
    this.dispatcher = dispatcher;
  }

  get scheduledCount(): number {
    return this.waitingCount;
  }

  get runningCount(): number {
    return this.runningJobs;
  }

  /** A live or recently finished job. */
  find(id: string): Job | undefined {
    return this.live.get(id) ?? this.results.get(id, Date.now());
  }

  isIdle(): boolean {
    return this.live.size === 0 && this.broker.size === 0 && this.broker.blocked === 0 && this.dispatcher.runningCount === 0;
  }

  onIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Holds a job until its `runAt`. Throws `ScheduleFullError` past `maxScheduled`. */
  schedule(job: Job, runAt: number): void {
    if (this.waitingCount >= this.options.maxScheduled) throw new ScheduleFullError(this.options.maxScheduled);
    this.scheduleUnbounded(job, runAt);
  }

  /**
   * Holds a job until its `runAt`, past `maxScheduled` if need be: for a
   * job a dead process left, which the process that accepted it kept
   * within its bound.
   */
  scheduleUnbounded(job: Job, runAt: number): void {
    this.accept(job);
    this.wait(job, 'scheduled', runAt - Date.now());
    this.emit('scheduled', { job, runAt: new Date(runAt) });
  }

  // ── broker observer ──────────────────────────────────────────────────

  added(job: Job): void {
    if (!this.live.has(job.id)) this.accept(job);
    transition(job, 'queued');
    job.queuedAt = now();
    this.emit('queued', { job });
  }

  full(): void {
    this.emit('full');
  }

  drained(): void {
    this.emit('drained');
  }

  // ── dispatcher hooks ────────────────────────────────────────────────

  started(job: Job): void {
    this.runningJobs++;
    this.waitTime.record(job.startedAt! - job.queuedAt!);
    this.metrics.started(job);
    this.emit('running', { job });
  }

  succeeded(job: Job, result: unknown): void {
    this.leaveRunning(job);
    if (job.succeed(result, now())) this.settled(job, result);
  }

  failed(job: Job, error: RunError, requestedDelay: number | null | undefined): void {
    this.leaveRunning(job);
    job.addError(error);
    const decision = this.retryDecision(job, error, requestedDelay);
    if (decision.delay !== undefined) {
      this.counts.retried++;
      this.metrics.retried(job);
      job.attempt++;
      this.wait(job, 'retrying', decision.delay);
      this.armExpiry(job);
      this.emit('retrying', { job, error, delay: decision.delay });
      return;
    }
    const settledWith = decision.isExhausted ? new RetriesExhaustedError(job.attempt, [...job.errors], { job: job.info }) : error;
    if (job.reject('failed', settledWith, now())) this.settled(job, settledWith);
  }

  /**
   * An input of a `map` chunk failed its run inside the chunk and may run
   * again: it becomes a job of its own, accepted now, that has just failed
   * its first run, and goes where such a job goes (`retrying`, or settled).
   */
  adoptFailed(job: Job, error: RunError, requestedDelay: number | null | undefined): void {
    this.accept(job);
    this.failed(job, error, requestedDelay);
  }

  /**
   * A job a dead process left that is not run again: processes died while
   * it ran more often than `journal.maxRedeliveries` allows.
   */
  abandoned(job: Job, error: WorkerCrashedError): void {
    this.accept(job);
    job.addError(error);
    if (job.reject('failed', error, now())) this.settled(job, error);
  }

  expired(job: Job): void {
    const error = new JobExpiredError({ job: job.info, expiredAt: job.options.expiresAt! });
    if (job.reject('expired', error, now())) this.settled(job, error);
  }

  progress(job: Job, value: unknown): void {
    job.progress = value;
    const { onProgress } = job.options;
    if (onProgress) this.guard(() => onProgress(value));
    this.emit('progress', { job, value });
  }

  wantsProgress(): boolean {
    return this.events.listenerCount('progress') > 0;
  }

  slotFreed(): void {
    this.checkIdle();
  }

  // ── cancelling ──────────────────────────────────────────────────────

  cancelJob(job: Job, reason: unknown): boolean {
    return this.cancel(job, new CancelledError(`Job ${job.id} (${job.name}) was cancelled.`, { cause: reason, job: job.info }), true);
  }

  /** Cancels a job wherever it is. `graceful`: a running job with a stop channel gets `cancelGraceMs` to stop. */
  cancel(job: Job, error: CancelledError, graceful: boolean): boolean {
    if (job.isSettled) return false;
    const wasRunning = job.state === 'running';
    this.leaveRunning(job);
    this.leaveWaitingPlace(job);
    if (!job.reject('cancelled', error, now())) return false;
    this.settled(job, error);
    if (wasRunning) this.dispatcher.stop(job, error.cause, graceful);
    // Its room on the table may have let a producer's job on: start it.
    else this.dispatcher.pump();
    return true;
  }

  /**
   * Cancels live jobs as the runner closes: `waiting` ones (scheduled or
   * retrying: their time has not come), `queued` ones (every one not
   * running), or `all`. With `graceful`, running
   * jobs with a stop channel get `cancelGraceMs` to stop.
   */
  cancelForClose(which: 'waiting' | 'queued' | 'all', graceful: boolean, why: string): void {
    const reason = new RunnerClosedError();
    // Jobs that have not started go first, so none of them starts meanwhile.
    const isToCancel = (job: Job): boolean =>
      which === 'waiting' ? job.state === 'scheduled' || job.state === 'retrying' : which === 'all' || job.state !== 'running';
    const jobs = [...this.live.values()].filter(isToCancel).sort((a, b) => Number(a.state === 'running') - Number(b.state === 'running'));
    const errors = withoutStacks(() => jobs.map((job) => new CancelledError(`Job ${job.id} (${job.name}) was cancelled at close: ${why}.`, { cause: reason, job: job.info })));
    // Checked again: cancelling one may have started another.
    jobs.forEach((job, index) => isToCancel(job) && this.cancel(job, errors[index]!, graceful));
  }

  // ── internals ───────────────────────────────────────────────────────

  // Before the state changes and anything is emitted or settled.
  private leaveRunning(job: Job): void {
    if (job.state === 'running') this.runningJobs--;
  }

  private accept(job: Job): void {
    this.live.set(job.id, job);
    this.metrics.submitted(job);
    const { signal } = job.options;
    if (signal) {
      job.releaseSignal = watchAbort(signal, () => void job.cancel(signal.reason));
    }
    this.armExpiry(job);
  }

  /**
   * Expires the job at its `expiresAt` if it is not running then. A job
   * running at that moment is armed again when it waits for a retry, so it
   * does not wait out its backoff only to expire when it is due.
   */
  private armExpiry(job: Job): void {
    const { expiresAt } = job.options;
    if (expiresAt === undefined || job.expiryTimer) return;
    job.expiryTimer = setLongTimeout(() => {
      job.expiryTimer = undefined;
      if (job.state === 'running' || job.isSettled) return;
      this.leaveWaitingPlace(job);
      this.expired(job);
      this.dispatcher.pump();
    }, Math.max(0, expiresAt - Date.now()));
  }

  /** Takes a job that has not started out of its timer or the table. */
  private leaveWaitingPlace(job: Job): void {
    if (job.waitTimer) {
      clearLongTimeout(job.waitTimer);
      job.waitTimer = undefined;
      this.waitingCount--;
    } else if (job.state !== 'running') {
      this.broker.remove(job.id);
    }
  }

  private wait(job: Job, state: 'scheduled' | 'retrying', delay: number): void {
    transition(job, state);
    this.durable?.hold(job, Date.now() + Math.max(0, delay));
    this.waitingCount++;
    job.waitTimer = setLongTimeout(() => {
      job.waitTimer = undefined;
      this.waitingCount--;
      this.enqueue(job);
    }, Math.max(0, delay));
  }

  /** Puts an accepted job (due, or retrying) back on the table, waiting for room behind producers. */
  private enqueue(job: Job): void {
    this.broker.put(job).then(ignore, (error: unknown) => {
      // Rejected as the runner closed; taken out by cancel() or expiry, it is already settled.
      if (!job.isSettled) {
        this.cancel(job, new CancelledError(`Job ${job.id} (${job.name}) was cancelled: the runner closed before it could run again.`, { cause: error, job: job.info }), false);
      }
    });
    this.dispatcher.pump();
  }

  private retryDecision(job: Job, error: RunError, requestedDelay: number | null | undefined): { delay?: number; isExhausted: boolean } {
    const policy = job.options.retry;
    if (requestedDelay !== undefined) {
      // The task asked for it: only the count limits it, and a closing
      // runner, which must not wait for the delay the task asked for.
      if (this.isClosing) return { isExhausted: false };
      const max = policy ? policy.max : REQUESTED_RETRY_MAX;
      if (job.attempt > max) return { isExhausted: true };
      return { delay: requestedDelay ?? computeBackoff(policy ?? RETRY_DEFAULTS, job.attempt), isExhausted: false };
    }
    if (!policy || policy.max === 0 || !this.isRetryable(error, job.attempt, policy.retryOn)) return { isExhausted: false };
    if (job.attempt > policy.max) return { isExhausted: true };
    return { delay: computeBackoff(policy, job.attempt), isExhausted: false };
  }

  private isRetryable(error: RunError, attempt: number, retryOn: RetryOptions['retryOn']): boolean {
    if (this.isClosing) return false;
    if (!retryOn) return error instanceof TaskError;
    try {
      return retryOn(error, attempt) === true;
    } catch (thrown) {
      this.rethrowLater(thrown);
      return false;
    }
  }

  private settled(job: Job, outcome: unknown): void {
    this.live.delete(job.id);
    // A job cancelled only because this runner closes stays in a journal, to run in the next runner.
    if (this.durable && job.state === 'cancelled' && this.isClosing && (outcome as CancelledError).cause instanceof RunnerClosedError) this.durable.release(job.id);
    else this.broker.settle(job.id, job.state === 'succeeded' ? { state: 'succeeded', result: outcome } : { state: job.state as 'failed' | 'cancelled' | 'expired', error: outcome });
    this.metrics.settled(job);
    this.results.add(job.id, job, job.finishedAt!);
    if (job.startedAt !== undefined && job.state !== 'cancelled') this.runTime.record(job.finishedAt! - job.startedAt);
    switch (job.state) {
      case 'succeeded':
        this.counts.succeeded++;
        this.emit('succeeded', { job, result: outcome });
        break;
      case 'failed':
        this.counts.failed++;
        this.emit('failed', { job, error: outcome as FailedJobError });
        break;
      case 'cancelled':
        this.counts.cancelled++;
        this.emit('cancelled', { job, reason: (outcome as CancelledError).cause });
        break;
      case 'expired':
        this.counts.expired++;
        this.emit('expired', { job });
        break;
    }
    this.checkIdle();
  }

  checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
    this.emit('idle');
  }

  private emit<Name extends keyof RunnerEvents>(name: Name, ...payload: Parameters<RunnerEvents[Name]>): void {
    publishJobEvent(this.events, name, payload[0]);
    if (this.events.listenerCount(name) === 0) return;
    this.guard(() => (this.events.emit as (name: string, ...args: unknown[]) => boolean)(name, ...payload));
  }

  // A throwing listener or callback must not leave a job half-settled or a
  // slot taken: its error surfaces on its own, as a throwing timer's would.
  private guard(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.rethrowLater(error);
    }
  }

  private rethrowLater(error: unknown): void {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/**
 * Builds errors without capturing stacks. A close cancels every job it
 * holds, and each stack would show only the close's own frames; capturing
 * them took ~0.35 s for 100k jobs. No user code runs inside `build`.
 */
function withoutStacks<T>(build: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return build();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
