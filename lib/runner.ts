import { deserialize } from 'node:v8';
import { EventEmitter } from 'eventemitter3';
import { encodeArgs, type EncodedArgs } from './admission/codec.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { CancelledError, InvalidOptionError, RunnerClosedError } from './errors.js';
import type { ConsumedJob, ConsumedRun, RemoteConsumer, RemoteProducer } from './broker/remote.js';
import type { RunnerEvents } from './events.js';
import { Job, type JobHandle } from './job/job.js';
import { now } from './clock.js';
import { Lifecycle } from './job/lifecycle.js';
import { resolveMetricsOptions, type MetricsOptions, type RunnerMetrics } from './observe/metrics.js';
import type { CloseOptions, DrainMode, RunnerOptions, SubmitOptions } from './options.js';
import { Pool } from './pool/pool.js';
import type { RunnerHealth } from './pool/thread-health.js';
import type { Duplex } from 'node:stream';
import { chain, checkSignatures, chord, group, type GroupOutput } from './workflows/canvas.js';
import { mapJobs, type AnyIterable, type MapOutput } from './workflows/map.js';
import { registerChunkPath, type ItemFailure } from './workflows/map-chunks.js';
import { failureToError } from './job/remote-error.js';
import type { ChunkResult, JobFailure } from '../workers/protocol.js';
import { PeriodicSchedule, resolveScheduleOptions, scheduleKey, type ScheduleHandle, type ScheduleOptions } from './semantics/schedule.js';
import {
  sig,
  type AnySignature,
  type ChainResult,
  type ChainSteps,
  type GroupMembers,
  type GroupResults,
  type NextSignature,
  type SigArgs,
  type Signature,
  type SignatureResult,
} from './workflows/signature.js';
import { jobStream } from './workflows/stream.js';
import type { GroupOptions, MapOptions, StreamOptions } from './workflows/workflow-options.js';
import type { JobSubmitter, OneArgTaskName, OnlyArg, SettleMode, WorkflowHandle } from './workflows/workflow-types.js';
import type { DurationSummary } from './observe/summary.js';
import { MemoryBroker } from './broker/memory.js';
import { isDurable, type Broker, type DurableBroker, type ScheduleMemory } from './broker/contract.js';
import { JournalBroker } from './broker/journal/broker.js';
import { openJournal } from './broker/journal/store.js';
import { JOB_CODEC } from './job/durable.js';
import { recoverJournal } from './admission/recovery.js';
import { Shutdown } from './shutdown.js';
import { Admission } from './admission/admission.js';
import type { TaskArgs, TaskModule, TaskName, TaskResult } from './task-types.js';

export type { TaskArgs, TaskModule, TaskName, TaskResult };
import { checkRemoteSubmit, resolveCloseOptions, resolveRunnerOptions, resolveSubmitOptions, type ResolvedRunnerOptions, type ResolvedSubmitOptions } from './admission/validate.js';

const ignore = (): void => {};

function resultOf<Result>(job: Job<Result>): Promise<Result> {
  return job.result;
}

/** What happened to the jobs that were live when `close()` began (and to those that came due meanwhile). */
export interface CloseReport {
  succeeded: number;
  failed: number;
  /** Cancelled: not drained, waiting for a delay or retry, or stopped at the deadline. */
  cancelled: number;
  expired: number;
}

/** A snapshot of the runner. Durations in milliseconds. */
export interface RunnerStats {
  /** Jobs on the table. */
  queued: number;
  /**
   * Jobs running (a transparent batch runs several on one thread). A job
   * leaves the count as it settles, before its promise and events report it,
   * even while its thread is still being terminated (a hard timeout, a cancel).
   */
  running: number;
  /** Producers (and due jobs) waiting for room on the table. */
  blocked: number;
  /** Jobs waiting for a `delay`/`runAt` or a retry backoff. */
  scheduled: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  expired: number;
  /** Runs that failed and were retried. */
  retried: number;
  /** Live worker threads. */
  threads: number;
  /** Threads that failed outside any job, e.g. from a timer a finished job left behind (each also a `workerError` event). */
  workerErrors: number;
  /** Results that arrived after their job had settled (it timed out or was cancelled meanwhile) and were dropped. */
  lateResults: number;
  /** Share of the pool's slot time spent running jobs since the runner was created, 0 to 1. */
  utilization: number;
  /** From entering the table to starting. */
  waitTime: DurationSummary;
  /** From starting to settling (the last run of each job). */
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
export function createRunner<Tasks extends object = TaskModule>(options: RunnerOptions<Tasks>): Runner<Tasks> {
  return new Runner<Tasks>(resolveRunnerOptions(options as RunnerOptions<never>));
}

/** Runs jobs on a pool of worker threads, fed from a bounded table. Create it with `createRunner()`. */
export class Runner<Tasks extends object = TaskModule> extends EventEmitter<RunnerEvents> {
  readonly #options: ResolvedRunnerOptions;
  /** Runs at once: threads × jobs per thread. */
  readonly #slots: number;
  readonly #broker: Broker<Job>;
  readonly #pool: Pool;
  readonly #lifecycle: Lifecycle;
  readonly #dispatcher: Dispatcher;
  readonly #schedules = new Set<PeriodicSchedule>();
  readonly #admission: Admission;
  #workerErrors = 0;
  readonly #createdAt = now();
  #closing: Promise<CloseReport> | undefined;
  readonly #shutdown: Shutdown;
  /** With a shared `broker`: the side that puts jobs on it. */
  readonly #producer: RemoteProducer | undefined;
  /** With a shared `broker` and `consume`: the side that runs jobs taken off it. */
  readonly #consumer: RemoteConsumer | undefined;
  /** A pump of consumed jobs is queued (see #pumpConsumed). */
  #isConsumedPumpDue = false;

  /** @internal Use `createRunner()`. */
  constructor(options: ResolvedRunnerOptions) {
    super();
    this.#options = options;
    this.#slots = options.maxThreads * options.concurrentTasksPerWorker;
    let lifecycle: Lifecycle | undefined;
    const observer = {
      added: (job: Job) => lifecycle!.added(job),
      full: () => lifecycle!.full(),
      drained: () => lifecycle!.drained(),
    };
    // Opened first: a journal it cannot use throws before any thread starts.
    this.#broker = options.journal
      ? new JournalBroker<Job>(options.capacity, observer, openJournal({ ...options.journal, resultTtl: options.resultTtl, maxResults: options.maxResults }), JOB_CODEC)
      : new MemoryBroker<Job>(options.capacity, observer);
    lifecycle = this.#lifecycle = new Lifecycle(this.#broker, this, options);
    // A producer of a shared table runs nothing here: it starts no thread.
    this.#pool = new Pool(options.broker && !options.consume ? { ...options, minThreads: 0 } : options, {
      workerError: (error) => {
        this.#workerErrors++;
        this.emit('workerError', { error });
      },
      workerRecycled: (threadId, reason) => this.emit('workerRecycled', { threadId, reason }),
    });
    this.#dispatcher = new Dispatcher(
      this.#broker,
      this.#pool,
      {
        slots: this.#slots,
        batching: options.batching,
        // One job waits in each thread at most, where threads run one job at a
        // time and do not count their jobs (a prefetched job would run past the count).
        prefetchSlots: options.prefetch === 'auto' && options.concurrentTasksPerWorker === 1 && options.maxJobsPerWorker === Infinity ? options.maxThreads : 0,
        slotsPerThread: options.concurrentTasksPerWorker,
        cancelGraceMs: options.cancelGraceMs,
        rateLimits: options.rateLimits,
      },
      this.#lifecycle,
    );
    this.#lifecycle.attach(this.#dispatcher);
    this.#admission = new Admission({ lifecycle: this.#lifecycle, broker: this.#broker, dispatcher: this.#dispatcher, options });
    this.#shutdown = new Shutdown({
      lifecycle: this.#lifecycle,
      broker: this.#broker,
      dispatcher: this.#dispatcher,
      pool: this.#pool,
      stopSchedules: () => {
        for (const schedule of [...this.#schedules]) schedule.stop();
      },
    });
    registerChunkPath(this, {
      slots: this.#slots,
      sizer: this.#dispatcher.sizer,
      // Over a shared broker an input that fails in a chunk is not run again
      // (see #failItem): a task with retries sends its inputs one by one.
      canChunk: (name) => !options.rateLimits.has(name) && !(options.broker && resolveSubmitOptions(undefined, options.defaults.get(name)).retry?.max),
      submit: (name, payload, count) => {
        if (this.#producer) return this.#submitRemoteChunk(name, payload, count);
        try {
          const { job, admitted } = this.#admission.admit<ChunkResult>({ name, args: payload, options: undefined, mode: 'wait', chunkSize: count });
          return (admitted as Promise<Job<ChunkResult>> | undefined) ?? Promise.resolve(job);
        } catch (error) {
          return Promise.reject(error);
        }
      },
      failItem: (chunk, args, failure) => this.#failItem(chunk as Job, args, failure),
    });
    if (isDurable(this.#broker) && this.#broker.recoverable > 0) this.#recoverLater(this.#broker.recoverable);
    if (options.broker) {
      const brokerError = (error: unknown): void => void this.emit('brokerError', { error });
      this.#producer = options.broker.producer({ capacity: options.capacity, resultTtl: options.resultTtl, brokerError });
      if (options.consume) this.#consumer = options.broker.consumer({ slots: this.#slots, run: (job) => this.#runConsumed(job), quickJobMs: (task) => this.#dispatcher.sizer.quickEstimate(task), brokerError });
    }
  }

  /** Most jobs the table holds (the `capacity` option). */
  get capacity(): number {
    return this.#options.capacity;
  }

  /**
   * Puts a job on the table and resolves with its handle. When the table is
   * full it waits for room; waiting producers are admitted in arrival order.
   * A job with `delay`/`runAt` resolves at once, `scheduled`. A `jobId` that
   * is live or still kept resolves with that job instead. Never throws:
   * every problem (bad options, arguments that cannot be cloned, a closed
   * runner, `signal` aborting while waiting) rejects.
   */
  submit<Name extends TaskName<Tasks>>(
    name: Name,
    args: TaskArgs<Tasks, Name>,
    options?: SubmitOptions,
  ): Promise<JobHandle<TaskResult<Tasks, Name>>> {
    if (this.#producer) return this.#submitRemote(name, args, options) as Promise<JobHandle<TaskResult<Tasks, Name>>>;
    let job: Job<TaskResult<Tasks, Name>>;
    let admitted: Promise<Job<TaskResult<Tasks, Name>>> | undefined;
    try {
      ({ job, admitted } = this.#admission.admit<TaskResult<Tasks, Name>>({ name, args, options, mode: 'wait' }));
    } catch (error) {
      return Promise.reject(error);
    }
    return admitted ?? Promise.resolve(job);
  }

  /**
   * Puts a job on the table now or throws: `TableFullError`
   * (`BAOZI_TABLE_FULL`) when there is no room or producers already wait,
   * and every error `submit()` would reject with. Never waits.
   */
  trySubmit<Name extends TaskName<Tasks>>(name: Name, args: TaskArgs<Tasks, Name>, options?: SubmitOptions): JobHandle<TaskResult<Tasks, Name>> {
    if (this.#producer) return this.#producer.tryPut(this.#remoteJob(name, args, options)) as JobHandle<TaskResult<Tasks, Name>>;
    return this.#admission.admit<TaskResult<Tasks, Name>>({ name, args, options, mode: 'now' }).job;
  }

  /** Submits a job and resolves with its result: `submit()` then `result`. */
  run<Name extends TaskName<Tasks>>(name: Name, ...args: TaskArgs<Tasks, Name>): Promise<TaskResult<Tasks, Name>> {
    if (this.#producer) return this.submit(name, args).then((job) => job.result);
    let job: Job<TaskResult<Tasks, Name>>;
    let admitted: Promise<Job<TaskResult<Tasks, Name>>> | undefined;
    try {
      ({ job, admitted } = this.#admission.admit<TaskResult<Tasks, Name>>({ name, args, options: undefined, mode: 'wait' }));
    } catch (error) {
      return Promise.reject(error);
    }
    // One shared function, not a closure per waiting call: a million waiting producers are a million of these.
    return admitted ? admitted.then(resultOf) : job.result;
  }

  /**
   * A job by id while it is live, and for `resultTtl` (at most `maxResults`
   * jobs) after it settled; `undefined` otherwise.
   */
  getJob(id: string): JobHandle | undefined {
    return this.#producer?.find(id) ?? this.#admission.find(id);
  }

  /**
   * A job by id from the table: with a shared `broker`, any process's job
   * that Redis still holds (live, or finished within `resultTtl`), with its
   * state and result; in memory, what `getJob(id)` finds. Rejects with
   * `BAOZI_BROKER_UNREACHABLE` when Redis does not answer.
   */
  fetchJob(id: string): Promise<JobHandle | undefined> {
    if (this.#producer) return this.#producer.fetch(id);
    return Promise.resolve(this.#admission.find(id));
  }

  /**
   * Submits `name(...args)` periodically (Celery beat): `{ every: ms }` or
   * `{ cron: '*\/5 * * * *', timezone? }`. Each tick is a normal job through
   * the table. A tick whose previous job is still live is skipped (and
   * counted) unless `overlap: 'queue'`. Stops on `stop()` or `close()`.
   * Throws `InvalidOptionError` for bad options.
   */
  schedule<Name extends TaskName<Tasks>>(name: Name, args: TaskArgs<Tasks, Name>, options: ScheduleOptions): ScheduleHandle<TaskResult<Tasks, Name>> {
    if (this.#admission.isClosed) throw new RunnerClosedError();
    if (this.#producer) return this.#scheduleRemote(name, args, options) as ScheduleHandle<TaskResult<Tasks, Name>>;
    const spec = resolveScheduleOptions(options);
    let memory: ScheduleMemory | undefined;
    let key: string | undefined;
    if (isDurable(this.#broker)) {
      // Two schedules sharing a key would share one memory of their last tick.
      key = scheduleKey(name, args, spec);
      for (const other of this.#schedules) {
        if (other.key === key) throw new InvalidOptionError('key', spec.key, `a key no other live schedule of this runner has (${JSON.stringify(key)} is taken): give each schedule of the same task, timing and arguments its own \`key\``);
      }
      memory = this.#broker.scheduleMemory(key);
    }
    // The tick's signal withdraws only its wait for room: a job already on
    // the table (its submit not yet resolved) is left alone by stop().
    const submitTick = (signal: AbortSignal): Promise<JobHandle<TaskResult<Tasks, Name>>> => {
      try {
        const { job, admitted } = this.#admission.admit<TaskResult<Tasks, Name>>({ name, args, options: undefined, mode: 'wait', waitSignal: signal });
        return admitted ?? Promise.resolve(job);
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const schedule: PeriodicSchedule<TaskResult<Tasks, Name>> = new PeriodicSchedule(
      submitTick,
      spec,
      { stopped: () => this.#schedules.delete(schedule as PeriodicSchedule) },
      memory,
      key,
    );
    this.#schedules.add(schedule as PeriodicSchedule);
    return schedule;
  }

  /**
   * A signature: a task with its arguments, not yet run, for `chain`,
   * `group` and `chord`. A chain step after the first leaves out its first
   * argument: the previous step's result takes its place.
   */
  sig<Name extends TaskName<Tasks>, Args extends SigArgs<Tasks, Name>>(name: Name, ...args: Args): Signature<Name, Args> {
    return sig(name, args) as Signature<Name, Args>;
  }

  /** Runs the steps one after another, each result the next step's first argument; resolves with the last result. */
  chain<Steps extends readonly AnySignature[]>(...steps: Steps & ChainSteps<Tasks, Steps>): WorkflowHandle<ChainResult<Tasks, Steps>> {
    // Spreading a generic tuple into a generic function needs this cast.
    const run = chain as (submitter: JobSubmitter<Tasks>, ...steps: readonly AnySignature[]) => WorkflowHandle<ChainResult<Tasks, Steps>>;
    return run(this, ...steps);
  }

  /** Runs the members in parallel; resolves with their results in order (or settled results with `settle: 'all'`). */
  group<const Members extends readonly AnySignature[], Settle extends SettleMode = 'fail-fast'>(
    members: Members & GroupMembers<Tasks, Members>,
    options?: GroupOptions<Settle>,
  ): WorkflowHandle<GroupOutput<GroupResults<Tasks, Members>, Settle>> {
    return group<Tasks, Members, Settle>(this, members, options);
  }

  /** Runs the group, then `callback` with the list of its results as first argument. */
  chord<const Members extends readonly AnySignature[], Callback extends AnySignature>(
    members: Members & GroupMembers<Tasks, Members>,
    callback: Callback & NextSignature<Tasks, Callback, GroupResults<Tasks, Members>>,
  ): WorkflowHandle<SignatureResult<Tasks, Callback>> {
    if (this.#producer) return this.#chordRemote(members, callback) as WorkflowHandle<SignatureResult<Tasks, Callback>>;
    return chord<Tasks, Members, Callback>(this, members, callback);
  }

  /**
   * Runs `name` once per input, reading `inputs` lazily (at most `capacity`
   * in flight), and yields the results, in input order unless
   * `ordered: false`. Each input is the task's one argument, or give
   * `args: (item, index) => [...]`. See `MapOptions`.
   */
  map<Name extends TaskName<Tasks>, Item, Settle extends SettleMode = 'fail-fast'>(
    name: Name,
    inputs: AnyIterable<Item>,
    options: Omit<MapOptions<Item, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args: (item: Item, index: number) => [...TaskArgs<Tasks, Name>] },
  ): AsyncIterableIterator<MapOutput<TaskResult<Tasks, Name>, Settle>>;
  map<Name extends OneArgTaskName<Tasks>, Settle extends SettleMode = 'fail-fast'>(
    name: Name,
    inputs: AnyIterable<OnlyArg<TaskArgs<Tasks, Name>>>,
    options?: Omit<MapOptions<never, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args?: undefined },
  ): AsyncIterableIterator<MapOutput<TaskResult<Tasks, Name>, Settle>>;
  map(name: string, inputs: AnyIterable<unknown>, options?: MapOptions<unknown>): AsyncIterableIterator<unknown> {
    return mapJobs(this as never, name as never, inputs as never, options as never);
  }

  /**
   * A Duplex in object mode: each chunk written becomes a job, results come
   * out (in order unless `ordered: false`). In a `pipeline()`, a full table
   * stops the stream reading its source. See `StreamOptions`.
   */
  stream<Name extends TaskName<Tasks>, Item, Settle extends SettleMode = 'fail-fast'>(
    name: Name,
    options: Omit<StreamOptions<Item, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args: (chunk: Item, index: number) => [...TaskArgs<Tasks, Name>] },
  ): Duplex;
  stream<Name extends OneArgTaskName<Tasks>, Settle extends SettleMode = 'fail-fast'>(
    name: Name,
    options?: Omit<StreamOptions<never, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args?: undefined },
  ): Duplex;
  stream(name: string, options?: StreamOptions<unknown>): Duplex {
    return jobStream(this as never, name as never, options as never);
  }

  /**
   * Resolves once a thread has imported the task module. Rejects with
   * `TaskLoadError` when the import throws or takes longer than
   * `loadTimeout`, or when threads keep dying as they load it; with
   * `RunnerClosedError` once closed. With `minThreads: 0`
   * no thread starts before the first job, so it waits for that job's thread
   * (and, until then, does not keep the process alive).
   */
  ready(): Promise<void> {
    if (this.#producer && !this.#consumer) return this.#producer.ready();
    if (this.#consumer) return Promise.all([this.#pool.health.ready(), this.#producer!.ready(), this.#consumer.ready()]).then(() => {});
    return this.#pool.health.ready();
  }

  /**
   * Whether the runner can run jobs: the task module loads and threads are
   * not dying as they start. For a service's health endpoint.
   */
  health(): RunnerHealth {
    return this.#pool.health.snapshot(this.#pool.threads, this.#pool.recycledThreads);
  }

  /** Resolves when no job is live and nothing waits for room (at once if so now). */
  onIdle(): Promise<void> {
    if (this.#producer) return Promise.all([this.#lifecycle.onIdle(), this.#producer.onIdle()]).then(() => {});
    return this.#lifecycle.onIdle();
  }

  stats(): RunnerStats {
    return {
      queued: this.#producer?.size ?? this.#broker.size,
      running: this.#lifecycle.runningCount,
      blocked: this.#broker.blocked + (this.#producer?.blocked ?? 0),
      scheduled: this.#lifecycle.scheduledCount,
      ...this.#lifecycle.counts,
      threads: this.#pool.threads,
      workerErrors: this.#workerErrors,
      lateResults: this.#dispatcher.lateResults,
      utilization: Math.min(1, this.#lifecycle.runTime.totalMs / ((now() - this.#createdAt) * this.#slots)),
      waitTime: this.#lifecycle.waitTime.summary(),
      runTime: this.#lifecycle.runTime.summary(),
    };
  }

  /**
   * Counters per task name (submitted, succeeded, failed, retried,
   * cancelled, expired), wait and run time histograms with percentiles,
   * and gauges of the table and the pool, for one period: since the runner
   * was created or since the last `metrics({ reset: true })`, which returns
   * the ending period and starts a new one. Cheap enough to call every
   * second; jobs pay a few increments for it whether it is called or not.
   * Throws `InvalidOptionError` for bad options.
   */
  metrics(options?: MetricsOptions): RunnerMetrics {
    const { reset } = resolveMetricsOptions(options);
    const gauges = {
      queued: this.#producer?.size ?? this.#broker.size,
      running: this.#lifecycle.runningCount,
      blocked: this.#broker.blocked + (this.#producer?.blocked ?? 0),
      scheduled: this.#lifecycle.scheduledCount,
      threads: this.#pool.threads,
      utilization: Math.min(1, this.#dispatcher.runningCount / this.#slots),
    };
    return this.#lifecycle.metrics.snapshot(gauges, reset);
  }

  /**
   * Stops the runner. At once: new jobs are refused (`BAOZI_RUNNER_CLOSED`),
   * producers still waiting for room are rejected the same way, schedules
   * stop, and jobs waiting for a delay or a retry are cancelled. With
   * `drain: 'all'` (default) queued and running jobs finish; with
   * `'running'` queued ones are cancelled and running ones finish; with
   * `'none'` all are cancelled and their threads stopped. With `deadlineMs`, jobs
   * still live at the deadline are cancelled: running ones are told to stop
   * (their in-thread signal), then terminated after `cancelGraceMs`.
   * Resolves, once every thread has stopped, with a report of what became
   * of the jobs. Calling it again returns the same promise; called with
   * `drain: 'none'` while a draining close waits, it escalates that close:
   * the jobs still live are cancelled and their threads stopped at once.
   */
  close(options?: CloseOptions): Promise<CloseReport> {
    let resolved: ReturnType<typeof resolveCloseOptions>;
    try {
      resolved = resolveCloseOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#closing) {
      // Asked not to drain while draining: the close escalates, stopping what still runs now.
      if (resolved.drain === 'none') this.#shutdown.stopNow();
      return this.#closing;
    }
    this.#admission.close();
    this.#closing = this.#shutDown(resolved.drain, resolved.deadlineMs);
    return this.#closing;
  }

  /** `await using runner = createRunner(...)` closes it (draining) at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Re-queues, after a tick (listeners first), the jobs a dead process left in the journal. */
  #recoverLater(count: number): void {
    setImmediate(() => {
      if (this.#admission.isClosed) return;
      this.emit('recovered', { count });
      void recoverJournal(this.#broker as DurableBroker<Job>, this.#admission, this.#options.capacity);
    });
  }

  /** See `ChunkSubmitter.failItem`. */
  #failItem(chunk: Job, args: unknown[], failure: JobFailure): ItemFailure {
    // Over a shared broker no local job can run it again; canChunk keeps tasks with retries out of chunks.
    if (this.#producer) return { error: failureToError(failure, chunk.info) };
    const requestedDelay = failure.type === 'retry-requested' ? (failure.delay ?? null) : undefined;
    const options = resolveSubmitOptions(undefined, this.#options.defaults.get(chunk.name));
    if (requestedDelay === undefined && !options.retry?.max) return { error: failureToError(failure, chunk.info) };
    // It may run again: from here on it is a job of its own that has just
    // failed its first run, and the lifecycle decides as for any such job.
    let encoded: EncodedArgs;
    try {
      encoded = encodeArgs(args, { maxPayloadBytes: this.#options.maxPayloadBytes });
    } catch {
      return { error: failureToError(failure, chunk.info) };
    }
    const job = new Job(this.#lifecycle, this.#admission.newId(), chunk.name, encoded.args, encoded.isEncoded, options, now());
    this.#lifecycle.adoptFailed(job, failureToError(failure, job.info), requestedDelay);
    return { job };
  }

  /** Checks and encodes a job for the shared broker. Throws for every refusal, as `trySubmit` does. */
  #remoteJob(name: unknown, args: unknown, options: SubmitOptions | undefined): { name: string; args: unknown[] | Uint8Array; isEncoded: boolean; options: ResolvedSubmitOptions } {
    if (this.#closing) throw new RunnerClosedError();
    if (typeof name !== 'string' || name === '') throw new InvalidOptionError('name', name, 'a task name: a non-empty string');
    if (!Array.isArray(args)) throw new InvalidOptionError('args', args, "the task's arguments as an array");
    const resolved = resolveSubmitOptions(options, this.#options.defaults.get(name));
    checkRemoteSubmit(resolved);
    if (resolved.signal?.aborted) throw new CancelledError('The job was not submitted: its signal had already aborted.', { cause: resolved.signal.reason });
    const job = resolved.jobId === undefined ? undefined : { jobId: resolved.jobId, task: name, attempt: 1 };
    const encoded = encodeArgs(args, { maxPayloadBytes: this.#options.maxPayloadBytes, job });
    return { name, args: encoded.args, isEncoded: encoded.isEncoded, options: resolved };
  }

  #submitRemote(name: unknown, args: unknown, options: SubmitOptions | undefined): Promise<JobHandle> {
    try {
      const job = this.#remoteJob(name, args, options);
      return this.#producer!.put(job, job.options.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A chord kept by the shared broker (a BullMQ flow): the callback runs once every member completed. Throws for bad steps. */
  #chordRemote(members: readonly AnySignature[], callback: AnySignature): WorkflowHandle<unknown> {
    checkSignatures('members', members, 0);
    checkSignatures('callback', [callback], 1);
    const steps = [...members, callback].map((step) => this.#remoteJob(step.name, [...step.args], step.options));
    return this.#producer!.chord(steps.slice(0, -1), steps[steps.length - 1]!);
  }

  /**
   * A schedule kept by the shared broker (a BullMQ job scheduler): one job
   * per due time across the fleet. Refuses what cannot hold there.
   */
  #scheduleRemote(name: string, args: unknown, options: ScheduleOptions): ScheduleHandle {
    if (typeof options === 'object' && options !== null && (options as { overlap?: unknown }).overlap !== undefined) {
      throw new InvalidOptionError(
        'overlap',
        (options as { overlap?: unknown }).overlap,
        'no `overlap` over a shared broker: BullMQ makes the next job of a schedule when one starts, so ticks never pile up, but one may start while the last still runs on another consumer',
      );
    }
    const spec = resolveScheduleOptions(options);
    const job = this.#remoteJob(name, args, undefined);
    if (job.options.expiresAt !== undefined) {
      throw new InvalidOptionError(`defaults.${name}.expiresIn`, job.options.expiresAt, 'no expiry on scheduled jobs over a shared broker: every job of the schedule carries the same data');
    }
    return this.#producer!.schedule(job, spec);
  }

  /** Puts a `map` chunk on the shared table: one BullMQ job for `count` inputs, its time limits scaled as in-process. */
  #submitRemoteChunk(name: string, payload: unknown[], count: number): Promise<JobHandle<ChunkResult>> {
    try {
      const job = this.#remoteJob(name, payload, undefined);
      const { timeout, softTimeout } = job.options;
      const scale = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.min(ms * count, Number.MAX_SAFE_INTEGER));
      const options = timeout === undefined && softTimeout === undefined ? job.options : { ...job.options, timeout: scale(timeout), softTimeout: scale(softTimeout) };
      // Plain primitives travel flat and unencoded (see Chunk.payload); the consumer needs to know which.
      const put = this.#producer!.put({ ...job, options, chunk: { size: count, isFlat: !job.isEncoded } }) as Promise<JobHandle<ChunkResult>>;
      // The consumer reports the chunk's run time: the sizer here, which no local run feeds, sizes the next chunks by it.
      return put.then((handle) => {
        handle.result.then((result) => result.ms !== undefined && this.#dispatcher.sizer.record(name, count, result.ms), ignore);
        return handle;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs a job a consumer took off the shared table, on this runner's pool,
   * as a local job without retries (BullMQ retries it) under the time
   * limits it came with. Not refused while the runner closes: the consumer
   * stops taking jobs before the local table closes.
   */
  #runConsumed(consumed: ConsumedJob): ConsumedRun {
    // No `signal` on the job: a job with one (or with onProgress) gets a
    // MessageChannel of its own, which costs more than a tiny job. A stop
    // cancels it through its handle instead, which stops its thread.
    const options: ResolvedSubmitOptions = {
      ...resolveSubmitOptions(undefined),
      timeout: consumed.timeout,
      softTimeout: consumed.softTimeout,
      onProgress: consumed.onProgress,
    };
    // Plain arguments reach the thread as they came; a flat chunk's as the
    // flat list it was (see Chunk.payload), not as one list per input.
    const isPlain = Array.isArray(consumed.args);
    const isFlat = consumed.chunk?.isFlat === true;
    const args = isPlain || !isFlat ? consumed.args : (deserialize(consumed.args as Uint8Array) as unknown[]);
    const job = new Job(this.#lifecycle, consumed.id, consumed.name, args, !isPlain && !isFlat, options, now());
    job.attempt = consumed.attempt;
    if (consumed.chunk) job.chunkSize = consumed.chunk.size;
    // A chunk's result carries its run time back, for the producer's sizer:
    // as this runner's sizer measured it in the thread (waits in this
    // process must not make the task look slow), or failing that end to end.
    const { chunk } = consumed;
    const result = chunk
      ? job.result.then((value) => {
          const perInput = this.#dispatcher.sizer.estimate(consumed.name);
          return { ...(value as ChunkResult), ms: perInput === undefined ? job.finishedAt! - job.startedAt! : perInput * chunk.size };
        })
      : job.result;
    if (this.#broker.tryPut(job)) {
      this.#pumpConsumed();
      return { result, stop: (reason) => void job.cancel(reason) };
    }
    // The local table is full (a `capacity` below the slots): wait for room, unless stopped first.
    const waiting = new AbortController();
    return {
      result: this.#broker.put(job, waiting.signal).then(() => result),
      stop: (reason) => {
        waiting.abort(reason);
        void job.cancel(reason);
      },
    };
  }

  /**
   * Starts consumed jobs once those handed over with this one are on the
   * table: the consumer hands over the jobs Redis answered in one turn of
   * the event loop together, one microtask after another (see
   * BullmqConsumer#startArrivals), so they go to the threads together,
   * several to a message when their task is tiny (transparent batching),
   * instead of each alone to whichever thread is free as it arrives.
   */
  #pumpConsumed(): void {
    if (this.#isConsumedPumpDue) return;
    this.#isConsumedPumpDue = true;
    queueMicrotask(() => {
      this.#isConsumedPumpDue = false;
      this.#dispatcher.pump();
    });
  }

  /** Closes the shared broker's sides: the consumer first (it stops taking jobs), then the producer. */
  async #closeRemote(drain: DrainMode, deadlineMs: number | undefined): Promise<void> {
    const deadline = deadlineMs === undefined ? undefined : setTimeout(() => void this.#consumer?.close(false), deadlineMs);
    try {
      await this.#consumer?.close(drain !== 'none');
      this.#producer!.rejectBlocked(new RunnerClosedError());
      if (drain !== 'none') {
        await (deadlineMs === undefined ? this.#producer!.onIdle() : Promise.race([this.#producer!.onIdle(), new Promise((resolve) => setTimeout(resolve, deadlineMs).unref())]));
      }
    } finally {
      clearTimeout(deadline);
    }
    await this.#producer!.close(new RunnerClosedError());
  }

  async #shutDown(drain: DrainMode, deadlineMs: number | undefined): Promise<CloseReport> {
    const before = { ...this.#lifecycle.counts };
    if (this.#producer) await this.#closeRemote(drain, deadlineMs);
    await this.#shutdown.close(drain, deadlineMs);
    this.emit('closed');
    const after = this.#lifecycle.counts;
    return {
      succeeded: after.succeeded - before.succeeded,
      failed: after.failed - before.failed,
      cancelled: after.cancelled - before.cancelled,
      expired: after.expired - before.expired,
    };
  }
}
