import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { encodeArgs } from './codec.js';
import { Dispatcher } from './dispatcher.js';
import { BaoziError, CancelledError, InvalidOptionError, RunnerClosedError, TableFullError } from './errors.js';
import type { RunnerEvents } from './events.js';
import { Job, now, type JobHandle, type JobOwner } from './job.js';
import type { CloseOptions, RunnerOptions, SubmitOptions } from './options.js';
import { Pool } from './pool.js';
import { DurationRecorder, type DurationSummary } from './summary.js';
import { MemoryTable } from './table.js';
import { resolveCloseOptions, resolveRunnerOptions, resolveSubmitOptions, type ResolvedRunnerOptions } from './validate.js';

/** Any task module: its exported functions are the tasks. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskModule = Record<string, any>;
/** The names of the functions a task module exports. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskName<Tasks> = { [K in keyof Tasks]-?: Tasks[K] extends (...args: any[]) => unknown ? K : never }[keyof Tasks] & string;
/** The arguments of a task, as a tuple. */
export type TaskArgs<Tasks, Name extends TaskName<Tasks>> = Tasks[Name] extends (...args: infer Args) => unknown ? Args : never;
/** What a task's job resolves to (its return value, awaited). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskResult<Tasks, Name extends TaskName<Tasks>> = Tasks[Name] extends (...args: any[]) => infer R ? Awaited<R> : never;

/** A snapshot of the runner. Durations in milliseconds. */
export interface RunnerStats {
  /** Jobs on the table. */
  queued: number;
  /** Jobs holding a pool slot. */
  running: number;
  /** Producers waiting for room on the table. */
  blocked: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Live worker threads. */
  threads: number;
  /** Share of the pool's slot time spent running jobs since the runner was created, 0 to 1. */
  utilization: number;
  /** From being put on the table to starting. */
  waitTime: DurationSummary;
  /** From starting to settling. */
  runTime: DurationSummary;
}

/**
 * Creates a runner for a task module. Give the module's type to check task
 * names, arguments and results at compile time:
 *
 * ```ts
 * const runner = createRunner<typeof import('./tasks.js')>({
 *   tasks: new URL('./tasks.js', import.meta.url),
 * });
 * const n = await runner.run('fib', 30); // number
 * ```
 *
 * Throws `InvalidOptionError` for a bad option; starts no thread then.
 */
export function createRunner<Tasks extends object = TaskModule>(options: RunnerOptions): Runner<Tasks> {
  return new Runner<Tasks>(resolveRunnerOptions(options));
}

/** Runs jobs on a pool of worker threads, fed from a bounded table. Create it with `createRunner()`. */
export class Runner<Tasks extends object = TaskModule> extends EventEmitter<RunnerEvents> implements JobOwner {
  readonly #table: MemoryTable<Job>;
  readonly #pool: Pool;
  readonly #dispatcher: Dispatcher;
  readonly #idPrefix = randomBytes(4).toString('hex');
  #nextId = 0;
  readonly #createdAt = now();
  readonly #slots: number;
  #closing: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];
  readonly #counts = { succeeded: 0, failed: 0, cancelled: 0 };
  readonly #waitTime = new DurationRecorder();
  readonly #runTime = new DurationRecorder();

  /** @internal Use `createRunner()`. */
  constructor(options: ResolvedRunnerOptions) {
    super();
    this.#table = new MemoryTable<Job>(options.capacity, {
      added: (job) => this.#accepted(job),
      full: () => this.emit('full'),
      drained: () => this.emit('drained'),
    });
    this.#pool = new Pool(options, (error) => this.emit('workerError', { error }));
    this.#slots = options.maxThreads * options.concurrentTasksPerWorker;
    this.#dispatcher = new Dispatcher(this.#table, this.#pool, this.#slots, options.cancelGraceMs, {
      started: (job) => {
        this.#waitTime.record(job.startedAt! - job.queuedAt);
        this.emit('running', { job });
      },
      settled: (job, outcome) => this.#settled(job, outcome),
      slotFreed: () => this.#checkIdle(),
    });
  }

  /**
   * Puts a job on the table and resolves with its handle. When the table is
   * full it waits for room; waiting producers are admitted in arrival
   * order. Never throws: every problem (bad options, arguments that cannot
   * be cloned, a closed runner, `signal` aborting while waiting) rejects.
   */
  async submit<Name extends TaskName<Tasks>>(
    name: Name,
    args: TaskArgs<Tasks, Name>,
    options?: SubmitOptions,
  ): Promise<JobHandle<TaskResult<Tasks, Name>>> {
    const job = this.#createJob(name, args, options);
    const admitted = this.#table.push(job, job.signal);
    this.#dispatcher.pump();
    await admitted;
    return job as Job<TaskResult<Tasks, Name>>;
  }

  /**
   * Puts a job on the table now or throws: `TableFullError`
   * (`BAOZI_TABLE_FULL`) when there is no room or producers are already
   * waiting, and the errors `submit()` would reject with. Never waits.
   */
  trySubmit<Name extends TaskName<Tasks>>(name: Name, args: TaskArgs<Tasks, Name>, options?: SubmitOptions): JobHandle<TaskResult<Tasks, Name>> {
    const job = this.#createJob(name, args, options);
    if (!this.#table.tryPush(job)) throw new TableFullError(this.#table.capacity);
    this.#dispatcher.pump();
    return job as Job<TaskResult<Tasks, Name>>;
  }

  /** Submits a job and resolves with its result: `submit()` then `result`. */
  async run<Name extends TaskName<Tasks>>(name: Name, ...args: TaskArgs<Tasks, Name>): Promise<TaskResult<Tasks, Name>> {
    const job = await this.submit(name, args);
    return job.result;
  }

  /** Resolves when nothing is queued, running or waiting for room (at once if so now). */
  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  stats(): RunnerStats {
    return {
      queued: this.#table.size,
      running: this.#dispatcher.runningCount,
      blocked: this.#table.blocked,
      ...this.#counts,
      threads: this.#pool.threads,
      utilization: Math.min(1, this.#runTime.totalMs / ((now() - this.#createdAt) * this.#slots)),
      waitTime: this.#waitTime.summary(),
      runTime: this.#runTime.summary(),
    };
  }

  /**
   * Stops the runner. At once, new jobs are refused (`BAOZI_RUNNER_CLOSED`)
   * and producers still waiting for room are rejected the same way. With
   * `drain: true` (default) queued and running jobs finish; with `false`
   * they are cancelled. Resolves once every thread has stopped. Calling it
   * again returns the same promise.
   */
  close(options?: CloseOptions): Promise<void> {
    if (this.#closing) return this.#closing;
    let drain: boolean;
    try {
      drain = resolveCloseOptions(options).drain;
    } catch (error) {
      return Promise.reject(error);
    }
    this.#closing = this.#shutDown(drain);
    return this.#closing;
  }

  /** `await using runner = createRunner(...)` closes it (draining) at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal Called by `JobHandle.cancel()`. */
  cancelJob(job: Job, reason: unknown): boolean {
    if (job.isSettled) return false;
    const error = new CancelledError(`Job ${job.id} (${job.name}) was cancelled.`, { cause: reason, job: job.info });
    if (job.state === 'running') return this.#dispatcher.cancelRunning(job, error, true);
    if (!this.#table.remove(job)) return false;
    job.reject('cancelled', error, now());
    this.#settled(job, error);
    this.#checkIdle();
    return true;
  }

  #createJob(name: unknown, args: unknown, options: SubmitOptions | undefined): Job {
    if (this.#closing) throw new RunnerClosedError();
    if (typeof name !== 'string' || name === '') throw new InvalidOptionError('name', name, 'a task name: a non-empty string');
    if (!Array.isArray(args)) throw new InvalidOptionError('args', args, "the task's arguments as an array");
    const { signal, transferList, priority } = resolveSubmitOptions(options);
    if (signal?.aborted) throw new CancelledError('The job was not submitted: its signal had already aborted.', { cause: signal.reason });
    const encoded = encodeArgs(args, transferList);
    const id = `${this.#idPrefix}-${(this.#nextId++).toString(36)}`;
    return new Job(this, id, name, encoded.args, encoded.isEncoded, priority, signal, transferList);
  }

  #accepted(job: Job): void {
    job.queuedAt = now();
    const { signal } = job;
    if (signal) {
      const onAbort = (): void => void job.cancel(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      job.releaseSignal = () => signal.removeEventListener('abort', onAbort);
    }
    this.emit('queued', { job });
  }

  #settled(job: Job, outcome: unknown): void {
    if (job.startedAt !== undefined) this.#runTime.record(job.finishedAt! - job.startedAt);
    switch (job.state) {
      case 'succeeded':
        this.#counts.succeeded++;
        this.emit('succeeded', { job, result: outcome });
        break;
      case 'failed':
        this.#counts.failed++;
        this.emit('failed', { job, error: outcome });
        break;
      case 'cancelled':
        this.#counts.cancelled++;
        this.emit('cancelled', { job, reason: (outcome as BaoziError).cause });
        break;
    }
  }

  #isIdle(): boolean {
    return this.#table.size === 0 && this.#table.blocked === 0 && this.#dispatcher.runningCount === 0;
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
    this.emit('idle');
  }

  async #shutDown(drain: boolean): Promise<void> {
    this.#table.rejectBlocked(new RunnerClosedError());
    if (!drain) {
      const reason = new RunnerClosedError();
      for (let job = this.#table.shift(); job; job = this.#table.shift()) {
        const error = new CancelledError(`Job ${job.id} (${job.name}) was cancelled: the runner closed without draining.`, { cause: reason, job: job.info });
        if (job.reject('cancelled', error, now())) this.#settled(job, error);
      }
      for (const job of this.#dispatcher.runningJobs()) {
        const error = new CancelledError(`Job ${job.id} (${job.name}) was stopped: the runner closed without draining.`, { cause: reason, job: job.info });
        this.#dispatcher.cancelRunning(job, error, false);
      }
    }
    this.#checkIdle();
    await this.onIdle();
    await this.#pool.destroy();
    this.emit('closed');
  }
}
