import { receiveMessageOnPort } from 'node:worker_threads';
import type { JobControl, JobFailure, JobReply, JobReport, JobValue, RetireReason, RunJob, RunMessage, RunReply } from '../../workers/protocol.js';
import type { MessagePort } from 'node:worker_threads';
import { Attempt } from './attempt.js';
import { RunSizer } from './run-sizer.js';
import { decodeReply, findTransferProblem } from '../admission/codec.js';
import { BaoziError, describeValue, SerializationError, TaskLoadError, TimeoutError, WorkerCrashedError, type RunError } from '../errors.js';
import { type Job } from '../job/job.js';
import { now } from '../clock.js';
import { transition } from '../job/states.js';
import { classifyCrash, type Pool } from '../pool/pool.js';
import { StartWindow, type RateLimit } from '../semantics/rate-limit.js';
import { failureToError, isJobFailure } from '../job/remote-error.js';
import type { Broker, TakeFilter } from '../broker/contract.js';
import { clearLongTimeout, setLongTimeout, type Timer } from '../../workers/long-timer.js';

/** What the dispatcher tells the runner, which owns the jobs' states. */
export interface DispatcherHooks {
  /** The job left the table and runs. */
  started(job: Job): void;
  /** Its run returned a result. */
  succeeded(job: Job, result: unknown): void;
  /**
   * Its run failed (or passed its hard time limit). `requestedDelay` is set
   * when the task asked to be retried (`retry()` in the worker), to the
   * delay it asked for, or `null` for "use the job's backoff".
   */
  failed(job: Job, error: RunError, requestedDelay: number | null | undefined): void;
  /** It reached its `expiresAt` while on the table. */
  expired(job: Job): void;
  /** It reported progress. */
  progress(job: Job, value: unknown): void;
  /** Whether progress should flow back for jobs that did not ask for it (the runner has listeners). */
  wantsProgress(): boolean;
  /** A pool slot freed. */
  slotFreed(): void;
}

export interface DispatcherOptions {
  slots: number;
  /** `auto`: jobs of a task measured to be tiny travel several to a message. */
  batching: 'auto' | 'off';
  /**
   * Runs allowed past `slots`, each waiting in a busy thread behind a quick
   * run (`prefetch: 'auto'`): one per thread, or 0 for none.
   */
  prefetchSlots: number;
  /** `concurrentTasksPerWorker`: at 1, any run can be stopped by terminating its thread. */
  slotsPerThread: number;
  cancelGraceMs: number;
  rateLimits: Map<string, RateLimit>;
}

// Most jobs in a transparent batch.
const MAX_BATCH = 256;

/**
 * Moves jobs from the table to the pool while a pool slot is free, applies
 * rate limits and time limits, and reports what each run ended with.
 * Owns the running count: it never exceeds `slots`, so Piscina's own queue
 * stays empty and priorities hold.
 *
 * Every message to a thread is a run (see `RunMessage`): one job, or
 * several. Transparent batching: when jobs of a task whose runs are
 * measured to be tiny (see `RunSizer`) wait next in line, several go to a
 * thread in one run and come back in one reply, each settling on its own.
 * A `map` chunk is one job of a run whose task runs once per input; the
 * same `RunSizer`, fed by every run's thread time, sizes batches and
 * chunks.
 * Only jobs with nothing to stop mid-run are batched (no time limit,
 * `onProgress`, transfer list or rate limit), so time limits, retries and
 * priorities mean what they mean for single jobs. While the runner has a
 * 'progress' listener, a batched job's reports come back with the batch,
 * just before its result (it ran in well under a few ms). A batched
 * job cancelled while its batch runs settles at once; its in-thread
 * signal does not fire and its thread finishes the batch.
 *
 * Prefetch: with one job per thread at a time, a run of such jobs (one job
 * or a batch) whose task is measured quick goes without a stop signal, and
 * while only such runs are out, each thread may take one more, which waits
 * in the thread instead of the thread waiting for the main thread. Only the
 * next job in line is prefetched, never one behind it, so priorities hold.
 */
export class Dispatcher {
  private readonly running = new Set<Attempt>();
  /** Slots held for retiring threads until they exit, so that Piscina never has to queue a job. */
  private retiringSlots = 0;
  private jobsRunning = 0;
  /** Runs out with a stop signal, or whose thread is being terminated: a prefetched run must not wait behind one (it may be slow, or be stopped with its thread). */
  private stoppableRuns = 0;
  /** Sizes transparent batches (and `map` chunks, see lib/workflows/map.ts) from the thread time of every run. */
  readonly sizer = new RunSizer();
  /** Runs' jobs prefetched to a thread that died before they started: sent again first, as they went, running all along to the outside. */
  private readonly resends: Job[][] = [];
  /** Thread deaths a run failed with already: Piscina fails every run of the thread with one error. */
  private readonly crashes = new WeakSet<object>();
  private readonly windows = new Map<string, StartWindow>();
  /** Tasks measured quick and not rate limited: their jobs may be prefetched (a broker filter is data). */
  private readonly quickTasks = new Set<string>();
  private isPumping = false;
  private rateTimer: Timer | undefined;
  private scanAt = 0;

  constructor(
    private readonly table: Broker<Job>,
    private readonly pool: Pool,
    private readonly options: DispatcherOptions,
    private readonly hooks: DispatcherHooks,
  ) {
    for (const [task, limit] of options.rateLimits) this.windows.set(task, new StartWindow(limit));
  }

  /** Results that arrived after their job had settled (timed out, cancelled) and were dropped. */
  lateResults = 0;

  /** Pool slots taken, including by stopped runs whose thread is still going. */
  get runningCount(): number {
    return this.running.size;
  }

  /** Jobs running (a batch runs several in one slot). */
  get runningJobCount(): number {
    return this.jobsRunning;
  }

  /** Starts queued jobs while slots are free. Safe to call from any event listener. */
  pump(): void {
    if (this.isPumping) return;
    this.isPumping = true;
    try {
      for (;;) {
        const taken = this.running.size + this.retiringSlots;
        const isPrefetch = taken >= this.options.slots;
        if (isPrefetch && !this.hasPrefetchRoom(taken)) break;
        if (this.resends.length > 0) {
          // They go as they went, prefetched or not (a thread's death says
          // nothing of how quick they are); those settled meanwhile
          // (cancelled, closed) stay out.
          const jobs = this.resends.shift()!.filter((job) => job.state === 'running');
          if (jobs.length > 0) this.startRun(jobs, isPrefetch, true);
          continue;
        }
        const filter = isPrefetch ? this.prefetchFilter() : this.startFilter();
        const [job] = this.table.take(1, filter);
        if (!job) break;
        if (this.hasExpired(job)) continue;
        const loadError = this.pool.health.failFastError();
        if (loadError) {
          this.failFast(job, loadError);
          continue;
        }
        const size = this.batchSize(job, (isPrefetch ? this.options.slots + this.options.prefetchSlots : this.options.slots) - taken);
        if (size <= 1) {
          this.startRun([job], isPrefetch, false);
          continue;
        }
        // Held jobs the first one was taken past are passed over again: they keep their places.
        const more = this.table.take(size - 1, { heldTasks: filter?.heldTasks, tasks: new Set([job.name]), sharing: isPrefetch ? 'any' : 'batch', inLine: true });
        this.startRun([job, ...more.filter((next) => !this.hasExpired(next))], isPrefetch, false);
      }
      if (this.windows.size > 0) this.wakeForRateLimits();
    } finally {
      this.isPumping = false;
    }
  }

  /**
   * Stops a running job's thread, whose job the runner has already settled.
   * With `graceful`, a job that has a stop channel is told first (its
   * in-thread signal aborts with `reason`) and its thread terminated only
   * after `cancelGraceMs`; a second, forced stop terminates it at once.
   */
  stop(job: Job, reason: unknown, graceful: boolean): void {
    const run = job.run;
    if (!run) return;
    // Terminating a batch's thread would fail the other jobs of the batch:
    // the cancelled job has settled; the thread finishes the batch.
    if (run.jobs.length > 1 && run.jobs.some((other) => other !== job && other.run === run && other.state === 'running')) return;
    if (!run.isStoppable && this.options.slotsPerThread === 1) {
      // No stop signal to it: its thread is terminated (a run prefetched
      // behind it had not started, and is sent again), unless it waits
      // behind another run itself; then the thread finishes it. Decided a
      // turn later: a reply already read but not yet handled would make a
      // finished run look like one to stop. Meanwhile nothing is prefetched.
      this.countAsStoppable(run);
      run.abort(reason);
      setImmediate(() => {
        if (this.running.has(run)) this.pool.terminateThreadOf(run, run.mayWait);
      });
      return;
    }
    if (graceful && run.control && this.options.cancelGraceMs > 0 && !run.graceTimer) {
      run.control.postMessage({ type: 'abort', reason: reasonText(reason) } satisfies JobControl);
      run.graceTimer = setLongTimeout(() => run.abort(reason), this.options.cancelGraceMs);
    } else {
      run.abort(reason);
    }
  }

  /** Terminates every run's thread now, also runs already cancelled and in their grace period. */
  stopAll(reason: unknown): void {
    for (const run of this.running) run.abort(reason);
    this.stopAbandoned();
  }

  /**
   * Terminates the threads of runs sent without a stop signal whose jobs
   * have all settled (cancelled at close), also those a prefetched run
   * shares: nothing else would ever end a run that hangs.
   */
  stopAbandoned(): void {
    for (const run of this.running) {
      const { jobs } = run;
      if (!run.isStoppable && !jobs.some((job) => job.run === run && job.state === 'running')) this.pool.terminateThreadOf(run, false);
    }
  }

  /** Clears the rate-limit timer (the runner is closing). */
  dispose(): void {
    clearLongTimeout(this.rateTimer);
    this.rateTimer = undefined;
  }

  private hasExpired(job: Job): boolean {
    const { expiresAt } = job.options;
    if (expiresAt === undefined || expiresAt > Date.now()) return false;
    this.hooks.expired(job);
    return true;
  }

  // A signal does not keep a job out: cancelling a batched job settles it at once.
  private isBatchable(job: Job): boolean {
    return job.sharing !== 'alone' && !this.windows.has(job.name);
  }

  /**
   * Whether the job may go without a stop signal and wait in a busy thread:
   * nothing to stop mid-run (what batching asks, and no `signal`), and its
   * task measured quick, so that whatever waits behind it waits briefly.
   */
  private isPrefetchable(job: Job): boolean {
    return this.options.prefetchSlots > 0 && job.sharing === 'any' && this.quickTasks.has(job.name);
  }

  /**
   * Jobs of rate-limited tasks keep their places while their window is
   * spent. One clock reading per scan: read afresh for each job, a later job
   * of a task could pass its limit just after an earlier one failed it.
   */
  private startFilter(): TakeFilter | undefined {
    if (this.windows.size === 0) return undefined;
    this.scanAt = now();
    const held = this.heldTasksAt(this.scanAt);
    return held && { heldTasks: held };
  }

  /** Rate-limited tasks that may not start at `at`, or none. */
  private heldTasksAt(at: number): Set<string> | undefined {
    let held: Set<string> | undefined;
    for (const [task, window] of this.windows) {
      if (window.waitTime(at) > 0) (held ??= new Set()).add(task);
    }
    return held;
  }

  // The next job in line or none: passing over it would let later jobs
  // overtake it. (A rate-limited task is never quick, see recordRunTime.)
  private prefetchFilter(): TakeFilter {
    return { tasks: this.quickTasks, sharing: 'any', inLine: true };
  }

  // Every run out can have a run wait behind it, and no thread is retiring
  // (its slots are held while it finishes what it has).
  private hasPrefetchRoom(taken: number): boolean {
    return this.options.prefetchSlots > 0 && this.stoppableRuns === 0 && this.retiringSlots === 0 && taken < this.options.slots + this.options.prefetchSlots;
  }

  /**
   * How many jobs of this job's task to send together, 1 for none.
   * `openSlots`: the runs that could start now, this one included.
   */
  private batchSize(job: Job, openSlots: number): number {
    if (this.options.batching === 'off' || !this.isBatchable(job)) return 1;
    const line = this.table.size + 1;
    // A line one run finishes within its target goes whole: split, it would
    // cost a message and a thread's wake-up each way, and save under a run's
    // time. A longer one is shared among the slots that could take it now:
    // a busy slot would find it gone or take it late.
    const share = this.sizer.fitsOneRun(job.name, line) ? line : Math.ceil(line / Math.max(1, openSlots));
    return this.sizer.size(job.name, Math.min(share, MAX_BATCH));
  }

  /** Feeds the run's thread time into its task's estimate; a `map` chunk counts its inputs. */
  private recordRunTime(run: Attempt, ms: number): void {
    let inputs = 0;
    for (const job of run.jobs) inputs += job.chunkSize || 1;
    const task = run.job.name;
    this.sizer.record(task, inputs, ms);
    // Prefetch sends a job without a stop signal to wait behind another: only for tasks measured quick and never held back by a rate limit.
    if (this.sizer.isQuick(task) && !this.windows.has(task)) this.quickTasks.add(task);
    else this.quickTasks.delete(task);
  }

  private begin(job: Job, run: Attempt, at: number): void {
    transition(job, 'running');
    job.startedAt = at;
    this.resume(job, run);
  }

  /** A job sent again already runs, from when it was first sent. */
  private resume(job: Job, run: Attempt): void {
    job.run = run;
    this.jobsRunning++;
  }

  /**
   * Sends jobs of one task as one run. A run of one job carries what only a
   * job alone may have: a control channel, time limits, a transfer list.
   * `isResend`: jobs that already count as running (see `resends`): no
   * second start.
   */
  private startRun(jobs: Job[], isPrefetch: boolean, isResend: boolean): void {
    const run = new Attempt(jobs);
    const job = run.job;
    const at = now();
    const message: RunMessage = { type: 'run', task: job.name, jobs: new Array<RunJob>(jobs.length) };
    // Keys that say nothing are left out: every key is cloned, and a run of one job crosses often.
    if (this.hooks.wantsProgress()) message.collectsProgress = true;
    for (let i = 0; i < jobs.length; i++) {
      const next = jobs[i]!;
      if (isResend) this.resume(next, run);
      else {
        this.begin(next, run, at);
        this.windows.get(next.name)?.record(at);
      }
      const entry: RunJob = { id: next.id, attempt: next.attempt, args: next.args };
      if (next.isEncoded) entry.isEncoded = true;
      if (next.chunkSize > 0) entry.inputs = next.chunkSize;
      message.jobs[i] = entry;
    }
    this.running.add(run);
    const { options } = job;
    let transferList: readonly (ArrayBuffer | MessagePort)[] | undefined;
    let refusal: BaoziError | undefined;
    if (jobs.length === 1) {
      transferList = options.transferList;
      // A channel only for runs that can be told to stop, or whose progress someone wants as it comes.
      if (options.signal || options.softTimeout || options.onProgress || message.collectsProgress) {
        const channel = new MessageChannel();
        run.control = channel.port1;
        channel.port1.on('message', (report: JobReport) => this.report(run, report));
        message.control = channel.port2;
        transferList = [...(transferList ?? []), channel.port2];
      }
      if (options.timeout) run.hardTimer = setLongTimeout(() => this.timeOut(job, run), options.timeout);
      if (options.softTimeout) run.softTimer = setLongTimeout(() => this.warnSoftTimeout(run), options.softTimeout);
      // A listed buffer may have been moved since submit (by a job sent
      // before this one): posted, it would leave the message unreadable.
      refusal = options.transferList && findTransferProblem(job.args, options.transferList, job.info);
    }
    // A thread that shares jobs cannot be terminated for one of them, and
    // Piscina never gives a run with a signal a shared thread: only a job
    // alone that may need stopping gets one there. With one job per thread,
    // all runs do but those of prefetchable jobs; runs sent again past the
    // slots go as they went, prefetches: without one.
    const isStoppable =
      this.options.slotsPerThread === 1
        ? !((isResend && isPrefetch) || jobs.every((next) => this.isPrefetchable(next)))
        : jobs.length === 1 && (options.signal !== undefined || options.timeout !== undefined || options.softTimeout !== undefined);
    if (!isResend) for (const started of jobs) this.hooks.started(started);
    this.send(run, message, transferList, isStoppable, isPrefetch, refusal);
  }

  private countAsStoppable(run: Attempt): void {
    run.isStoppable = true;
    this.stoppableRuns++;
  }

  /** `mayWait`: sent past the slots, to wait in a busy thread (a prefetch). */
  /** `refusal`: the run is not sent, and fails with it. */
  private send(
    run: Attempt,
    message: RunMessage,
    transferList: readonly (ArrayBuffer | MessagePort)[] | undefined,
    isStoppable: boolean,
    mayWait: boolean,
    refusal?: BaoziError,
  ): void {
    if (isStoppable) this.countAsStoppable(run);
    run.mayWait = mayWait;
    let reply: Promise<JobReply>;
    try {
      reply = refusal ? Promise.reject(refusal) : this.pool.run(message, isStoppable ? run : undefined, transferList, run);
    } catch (error) {
      reply = Promise.reject(error);
    }
    reply.then(
      (value) => this.finish(run, value, undefined),
      (error: unknown) => this.finish(run, undefined, error ?? new Error('The pool rejected without a reason.')),
    );
  }

  // Reports before freeing the slot: a listener that submits on `succeeded`
  // must find the job already settled and the counts already right.
  private finish(run: Attempt, reply: JobReply | undefined, error: unknown): void {
    const death = error === undefined ? 'none' : this.threadDeath(error);
    if (death === 'seen' && run.mayWait) {
      this.sendAgain(run);
      return;
    }
    if (typeof reply === 'object' && reply !== null && reply.type === 'retiring') {
      this.retire(reply.threadId, reply.reason);
      error = reply.failure;
      reply = reply.reply;
    }
    // The reply and the reports travel on different ports, and Node may
    // deliver the reply first: take the reports the task sent before it.
    for (let left = run.control && receiveMessageOnPort(run.control); left; left = receiveMessageOnPort(run.control!)) {
      this.report(run, left.message as JobReport);
    }
    const { jobs } = run;
    const ran = error === undefined ? (reply as RunReply) : undefined;
    if (ran) this.recordRunTime(run, ran.ms);
    this.release(run, jobs);
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      // A stale run (its job settled, timed out or retried meanwhile) reports
      // nothing; a result it still brought is counted.
      if (job.run !== run || job.state !== 'running') {
        if (job.run === run) job.run = undefined;
        if (error === undefined) this.lateResults++;
        continue;
      }
      job.run = undefined;
      if (!ran) this.fail(job, run, error);
      else {
        const { values, failures, progress } = ran;
        const reports = progress?.[i];
        if (reports) for (const value of reports) this.hooks.progress(job, value);
        const failure = failures?.[i];
        if (failure) this.fail(job, run, failure);
        else this.succeed(job, values[i]);
      }
    }
    this.running.delete(run);
    this.pool.terminateIdleRetirees();
    this.hooks.slotFreed();
    // After a thread's death, a run prefetched there is heard of next, and
    // is to be sent again into the slot this one frees, before any new job.
    if (death === 'new') queueMicrotask(() => this.pump());
    else this.pump();
  }

  /**
   * Whether a failure is a thread's death heard of for the first time, or
   * again. A prefetched run that hears of it again never started: a thread
   * runs one job at a time, and starts the next only once the reply of the
   * one before is out (workers/entry.ts), and the pool reads such a reply
   * even as the thread exits; so when the run ahead fails with the same
   * death (Piscina fails every run of a thread with one error, oldest
   * first), the prefetched one never ran.
   */
  private threadDeath(error: unknown): 'none' | 'new' | 'seen' | 'refused' {
    if (error instanceof BaoziError) return 'refused';
    if (typeof error !== 'object' || error === null || isJobFailure(error)) return 'none';
    if (this.crashes.has(error)) return 'seen';
    this.crashes.add(error);
    return 'new';
  }

  /** Its timers, channel and counts go; the slot is freed by the caller. */
  private release(run: Attempt, jobs: readonly Job[]): void {
    run.dispose();
    if (run.isStoppable) this.stoppableRuns--;
    this.jobsRunning -= jobs.length;
  }

  // Its jobs go out again first, as they are (same attempt, no new events).
  private sendAgain(run: Attempt): void {
    const { jobs } = run;
    this.release(run, jobs);
    const again: Job[] = [];
    for (const job of jobs) {
      if (job.run !== run) continue;
      job.run = undefined;
      if (job.state === 'running') again.push(job);
    }
    if (again.length > 0) this.resends.push(again);
    this.running.delete(run);
    this.hooks.slotFreed();
    this.pump();
  }

  // The thread's slots stay taken until it exits: Piscina would otherwise
  // queue a job while the replacement starts.
  private retire(threadId: number, reason: RetireReason): void {
    const held = this.options.slotsPerThread;
    if (this.pool.retire(threadId, reason, () => {
      this.retiringSlots -= held;
      this.pump();
    })) {
      this.retiringSlots += held;
    }
  }

  // The job never reaches a thread: one that started would die loading the module.
  private failFast(job: Job, error: TaskLoadError): void {
    this.hooks.failed(job, new TaskLoadError(error.module, { cause: error.cause, job: job.info }), undefined);
  }

  private report(run: Attempt, report: JobReport): void {
    if (run.job.run === run && report.type === 'progress') this.hooks.progress(run.job, report.value);
  }

  private succeed(job: Job, reply: JobValue): void {
    let result: unknown;
    try {
      result = decodeReply(reply);
    } catch (error) {
      this.hooks.failed(job, new SerializationError('result', undefined, describeValue(error), { cause: error, job: job.info }), undefined);
      return;
    }
    this.hooks.succeeded(job, result);
  }

  private fail(job: Job, run: Attempt, error: unknown): void {
    if (!isJobFailure(error)) {
      this.hooks.failed(job, this.crashError(job, error), undefined);
      return;
    }
    const failure: JobFailure = error;
    let settledWith = failureToError(failure, job.info);
    if (run.isPastSoftLimit && failure.type === 'task-error') {
      settledWith = new TimeoutError('soft', job.options.softTimeout!, { cause: settledWith, job: job.info });
    }
    this.hooks.failed(job, settledWith, failure.type === 'retry-requested' ? (failure.delay ?? null) : undefined);
  }

  private timeOut(job: Job, run: Attempt): void {
    if (job.run !== run || job.state !== 'running') return;
    const error = new TimeoutError('hard', job.options.timeout!, { job: job.info });
    job.run = undefined;
    this.hooks.failed(job, error, undefined);
    run.abort(error);
  }

  private warnSoftTimeout(run: Attempt): void {
    run.isPastSoftLimit = true;
    run.control?.postMessage({ type: 'abort', reason: `soft timeout of ${run.job.options.softTimeout} ms` } satisfies JobControl);
  }

  private crashError(job: Job, error: unknown): RunError {
    // A run refused before it was sent (see `send`), with its job's info.
    if (error instanceof SerializationError) return error;
    // Until an error's stack is read, V8 keeps its call sites, and with them
    // the dead thread's Worker: a kept job (getJob) would hold ~10 KB per crash.
    void (error as Error | null)?.stack;
    // Piscina throws DataCloneError synchronously when arguments sent with a
    // transferList cannot be cloned.
    if ((error as { name?: unknown } | null)?.name === 'DataCloneError') {
      return new SerializationError('argument', undefined, String((error as Error).message), { cause: error, job: job.info });
    }
    const { reason, exitCode } = classifyCrash(error);
    return new WorkerCrashedError(reason, exitCode, { cause: error, job: job.info });
  }

  // Jobs held back by a rate limit stay on the table; wake when the first
  // of them may start.
  private wakeForRateLimits(): void {
    if (this.rateTimer || this.table.size === 0 || this.running.size >= this.options.slots) return;
    // At the time the last scan held them back: read afresh, a window that
    // opened since would show no wait, and no timer would ever wake them.
    const at = this.scanAt;
    let wait = Infinity;
    for (const window of this.windows.values()) {
      const ms = window.waitTime(at);
      if (ms > 0) wait = Math.min(wait, ms);
    }
    if (wait === Infinity) return;
    this.rateTimer = setLongTimeout(() => {
      this.rateTimer = undefined;
      this.pump();
    }, Math.ceil(wait));
  }
}

// Any value can be an abort reason, and String() throws for some (a
// null-prototype object): that must not stop the thread from being stopped.
function reasonText(reason: unknown): string {
  if (reason === undefined || reason === null) return 'cancelled';
  try {
    return reason instanceof Error ? reason.message : String(reason);
  } catch {
    return describeValue(reason);
  }
}
