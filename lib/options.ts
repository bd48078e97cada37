import { availableParallelism } from 'node:os';
import type { MessagePort, ResourceLimits } from 'node:worker_threads';
import type { RemoteBroker } from './broker/remote.js';
import type { RateLimit } from './semantics/rate-limit.js';
import type { RetryOptions } from './semantics/retry.js';
import type { TaskModule, TaskName } from './task-types.js';

/*
 * Times. Every duration is an integer number of milliseconds, and means
 * what it says however long it is: a wait past 2^31−1 ms (about 24.8 days),
 * which a Node timer would end after 1 ms, is waited out in steps
 * (workers/long-timer.ts). The exception is `idleTimeout`, which the pool
 * (Piscina) times itself: it is refused above 2^31−1 ms.
 */

/** Options of `createRunner()`. Unknown keys are rejected (they are usually typos). */
export interface RunnerOptions<Tasks = TaskModule> {
  /**
   * The task module: a `file:` URL or a path (relative paths resolve from
   * the current working directory). Its exported functions are the tasks.
   * It must be JavaScript that Node can import in a worker thread.
   */
  tasks: URL | string;
  /**
   * Threads kept alive even when idle, all started when the runner is
   * created (as Celery starts its whole pool), so that the first burst of
   * work does not wait for threads to start. Integer from 0 to `maxThreads`;
   * lower it to save memory (each thread holds its own heap) when the runner
   * is mostly idle.
   * @default `maxThreads`
   */
  minThreads?: number;
  /**
   * Most threads running jobs at once. Integer, at least 1.
   * @default os.availableParallelism()
   */
  maxThreads?: number;
  /**
   * Milliseconds an idle thread above `minThreads` lives before it is
   * stopped. Integer from 0 to 2147483647 (2^31−1: Piscina times it with a
   * plain Node timer, which cannot wait longer). At 0, a thread idle between
   * two bursts of work (two `map` chunks) is stopped and started again,
   * which costs a thread start (~30 ms) each time.
   * @default 1000
   */
  idleTimeout?: number;
  /**
   * Most jobs that may wait on the table. A full table makes `submit()`
   * wait for room and makes `trySubmit()` throw `BAOZI_TABLE_FULL`.
   * Running jobs are not on the table: they are bounded by
   * `maxThreads × concurrentTasksPerWorker`. Integer, at least 1.
   * @default 1024
   */
  capacity?: number;
  /**
   * Jobs one thread runs at once. Above 1 only helps tasks that await I/O;
   * CPU-bound tasks want 1. Integer, at least 1.
   * @default 1
   */
  concurrentTasksPerWorker?: number;
  /**
   * Heap and stack limits of each thread (Node's `ResourceLimits`, in MB).
   * A job that exceeds them fails with `BAOZI_WORKER_CRASHED` (reason
   * `oom`) and its thread is replaced.
   * @default Node's defaults
   */
  resourceLimits?: ResourceLimits;
  /**
   * `process.env` inside the threads.
   * @default a copy of the main thread's `process.env`
   */
  env?: Record<string, string>;
  /**
   * Any structured-cloneable value, readable in tasks as `workerData` from
   * `node:worker_threads`.
   * @default undefined
   */
  workerData?: unknown;
  /**
   * Milliseconds a cancelled running job gets to stop on its own after its
   * in-thread `signal` fires, before its thread is terminated. Applies to
   * jobs submitted with a `signal`; others are terminated at once.
   * Integer, 0 or more, of any length (long waits are taken in steps).
   * @default 1000
   */
  cancelGraceMs?: number;
  /**
   * Milliseconds a thread may take to import the task module (a top-level
   * `await` that never settles would otherwise hang it for good). Past it,
   * `ready()` rejects and the jobs waiting for the module fail with
   * `BAOZI_TASK_LOAD`, later jobs on that thread fail at once, and
   * `health()` reports `taskModule: 'failed'`; should the import finish
   * after all, the thread runs jobs again. Integer, at least 1, of any
   * length.
   * @default 60000 (one minute)
   */
  loadTimeout?: number;
  /**
   * `auto`: when jobs of a task measured to be tiny (well under 2 ms a run)
   * wait next in line, several travel to a thread in one message and come
   * back in one, each still settling on its own handle with its own events.
   * Only jobs without time limits, `onProgress`, `transferList` or a rate
   * limit are batched. Two differences from single jobs: a batched job
   * cancelled while its batch runs settles at once, but its in-thread
   * signal does not fire and its thread finishes the batch; and a thread
   * that dies mid-batch fails every unfinished job of the batch. `off`: one
   * job per message.
   * @default 'auto'
   */
  batching?: 'auto' | 'off';
  /**
   * `auto`: a thread running a quick job (its task measured well under
   * 2 ms a run in its thread; a task that takes far longer now and then,
   * twice within 16 runs, is not quick) is sent the next quick job before it finishes, so it never
   * sits idle waiting for the main thread between two jobs; the next one
   * waits in the thread and starts right after (Celery's prefetch, one job
   * deep). Applies with `concurrentTasksPerWorker: 1` and without
   * `maxJobsPerWorker`, to the same jobs `batching` may batch that also have
   * no `signal`. Such a job counts as running from the moment it is sent.
   * A job waiting behind one whose thread dies (or is terminated, when that
   * one is cancelled) had not started: it is sent again, transparently.
   * Cancelling the waiting job itself settles it at once, but its thread
   * still runs it after the one ahead (as for a batched job), and its
   * result is dropped. A job sent ahead waits for the one
   * before it however long that one turns out to take, even while another
   * thread is idle: give a task that may hang a `timeout`, which keeps its
   * jobs, and any job behind them, out of prefetch. `off`: a thread gets its
   * next job only after it replied.
   * @default 'auto'
   */
  prefetch?: 'auto' | 'off';
  /**
   * Job options per task name, used when a job does not set them itself
   * (its own options win), e.g. `{ resize: { retries: { max: 3 }, timeout: 5000 } }`.
   * @default {}
   */
  defaults?: { [Name in TaskName<Tasks>]?: TaskDefaults };
  /**
   * Most starts per task name in any window of time, shared by all
   * producers: `{ max: 100, per: 1000 }` or `'100/s'` (also `/m`, `/h`).
   * Jobs over the limit stay on the table; others pass them.
   * @default {} (no limits)
   */
  rateLimits?: { [Name in TaskName<Tasks>]?: RateLimit | string };
  /**
   * Milliseconds a finished job stays findable with `getJob(id)` (and
   * dedupes a `jobId` submitted again). Integer, 0 or more.
   * @default 3600000 (one hour)
   */
  resultTtl?: number;
  /**
   * Most finished jobs kept for `getJob(id)`; the oldest go first.
   * Integer, 0 or more.
   * @default 1000
   */
  maxResults?: number;
  /**
   * Most jobs waiting for a `delay`/`runAt` or a retry backoff at once.
   * More makes `submit()` reject with `BAOZI_SCHEDULE_FULL`: delayed jobs
   * stay bounded in memory, as queued ones do. Integer, at least 1.
   * @default 10000
   */
  maxScheduled?: number;
  /**
   * Most bytes a job's arguments may take on their way to a thread, as
   * measured at submit: their serialized size, or, for arguments that
   * travel as they are (primitives only, or with a `transferList`), an
   * estimate: 2 bytes per string character, 8 per other value, and the
   * bytes of every ArrayBuffer (moved or copied). A larger job is refused
   * before anything is queued: `submit()` rejects and `trySubmit()` throws
   * `BAOZI_PAYLOAD_TOO_LARGE`. Integer, at least 1.
   * @default 67108864 (64 MiB)
   */
  maxPayloadBytes?: number;
  /**
   * Jobs a thread runs before it is replaced by a fresh one (Celery's
   * `worker_max_tasks_per_child`): a cure for tasks that leak. The thread
   * finishes its run first, gets no new job, and is terminated once idle;
   * jobs of a transparent batch count one each. Integer, at least 1.
   * @default undefined (threads live on)
   */
  maxJobsPerWorker?: number;
  /**
   * Memory a thread may hold, in MiB, checked after each run: v8's used
   * heap (garbage not yet collected included) plus the memory its
   * ArrayBuffers and other external objects hold. Past it the thread is replaced as
   * with `maxJobsPerWorker` (Celery's `worker_max_memory_per_child`). Unlike
   * `resourceLimits`, which kills a thread mid-job, this one lets the job
   * finish. A number above 0.
   * @default undefined (no limit)
   */
  maxHeapPerWorkerMb?: number;
  /**
   * Where the table lives. By default in this process's memory. Give
   * `bullmq({ queue, connection })` from `baozi/bullmq` for a BullMQ queue
   * on Redis that many processes share: producers put jobs on it, and
   * consumers (runners with `consume` on) run them on their threads. Some
   * options cannot hold over Redis and throw `InvalidOptionError` here
   * (`rateLimits`, `retries.retryOn`); see docs/bullmq.md.
   * @default undefined (in-process memory)
   */
  broker?: RemoteBroker;
  /**
   * With a `broker`: `true` makes this runner a consumer that takes jobs off
   * the shared table whenever one of its thread slots is free; `false`
   * makes it a producer only, which starts no threads. Only with `broker`.
   * @default true
   */
  consume?: boolean;
  /**
   * Writes every accepted job to a journal file on local disk (SQLite, via
   * the optional peer dependency `better-sqlite3` 12), so that jobs survive
   * a crash: a path (`'./jobs.db'`) or `JournalOptions`. With a journal,
   * `submit()` resolves once the job is written; a runner opening a journal
   * left by a dead process runs its unsettled jobs again (at least once) and
   * emits `recovered`; `getJob(id)` finds settled jobs across restarts for
   * `resultTtl`. Two runners may not share a file: the second throws
   * `BAOZI_JOURNAL_LOCKED`. See docs/journal.md for what survives what.
   * @default undefined (jobs live in memory only)
   */
  journal?: string | JournalOptions;
}

/** Options of the journal (`RunnerOptions.journal`). Unknown keys are rejected. */
export interface JournalOptions {
  /**
   * The journal file: created when missing (its directory must exist);
   * relative paths resolve from the current working directory. A file that
   * is not a baozi journal is refused (`BAOZI_JOURNAL_CORRUPT`), never
   * overwritten.
   */
  path: string;
  /**
   * What a resolved `submit()` survives. `'normal'`: each group of writes
   * reaches the operating system before `submit()` resolves, which survives
   * a crash or kill of the process, not a power loss or an OS crash (the
   * last groups may then be lost). `'full'`: each group is also flushed to
   * the disk (fsync) first, which survives power loss too, at the cost of a
   * flush per group, on the main thread.
   * @default 'normal'
   */
  sync?: 'full' | 'normal';
  /**
   * Most megabytes the journal file may take. Past it, writes fail as on a
   * full disk: `submit()` rejects with `BAOZI_JOURNAL` and the runner goes
   * on with the jobs it holds. A number above 0.
   * @default undefined (as much as the disk has)
   */
  maxSizeMb?: number;
  /**
   * Times a job may be given back to a new process after its process died
   * while the job ran. Past it, the job fails with `WorkerCrashedError`
   * (`reason: 'host'`) instead of running again, so that a job that kills
   * the process on every run stops doing so. An integer, 0 or more.
   * @default 2
   */
  maxRedeliveries?: number;
}

/** Job options that can also be set per task in `RunnerOptions.defaults`. */
export interface TaskDefaults {
  /**
   * Higher runs first; equal priorities run first in, first out. Integer
   * from -1000 to 1000. A retried job keeps its priority and goes to the
   * back of its lane.
   * @default 0
   */
  priority?: number;
  /** When a failed job runs again. See `RetryOptions`. @default no retries */
  retries?: RetryOptions;
  /**
   * Hard time limit of one run, in milliseconds, counted from the start
   * (not from submit). Past it the job fails with `BAOZI_TIMEOUT` and its
   * thread is terminated and replaced. Integer, at least 1, of any length
   * (past 24.8 days it is waited out in steps, never cut short).
   * @default undefined (no limit)
   */
  timeout?: number;
  /**
   * Soft time limit of one run, in milliseconds: the task's
   * `jobContext().signal` aborts so it can clean up and return or throw.
   * If it throws, the job fails with `BAOZI_TIMEOUT` (`kind: 'soft'`).
   * The limit counts from dispatch, so on a thread still starting it can
   * pass before the task looks: check `signal.aborted` before listening.
   * Must be below `timeout` when both are set. Integer, at least 1, of any
   * length.
   * @default undefined (no limit)
   */
  softTimeout?: number;
  /**
   * Milliseconds after submit past which a job that has not started
   * settles as `expired` (`BAOZI_EXPIRED`) without running. Integer, at
   * least 1, of any length.
   * @default undefined (never expires)
   */
  expiresIn?: number;
}

/** Options of one job: `submit(name, args, options)`. */
export interface SubmitOptions extends TaskDefaults {
  /**
   * Cancels the job: withdraws a producer still waiting for room, removes
   * a queued job, or stops a running one (its in-thread signal fires, then
   * its thread is terminated after `cancelGraceMs`). The job settles as
   * `cancelled` with `BAOZI_CANCELLED`, the abort reason as `cause`.
   */
  signal?: AbortSignal;
  /**
   * ArrayBuffers (or MessagePorts) in the arguments to move to the thread
   * instead of copying. They are detached in the caller once the job starts.
   */
  transferList?: readonly (ArrayBuffer | MessagePort)[];
  /**
   * The job's id, for `getJob(id)` and idempotency: submitting an id that
   * is still scheduled, queued, running or retrying, or finished and still
   * kept (see `resultTtl`), returns that job's handle and runs nothing. A
   * non-empty string of at most 256 characters. Any string will do: a
   * generated id never equals one in use (live or kept), even when a caller
   * picked an id shaped like a generated one.
   * @default a generated id
   */
  jobId?: string;
  /**
   * Milliseconds to wait before the job enters the table (Celery's
   * countdown). The job is `scheduled` until then. Integer, 0 or more, of
   * any length (it counts against `maxScheduled` while it waits). Not with
   * `runAt`.
   * @default 0
   */
  delay?: number;
  /** When the job enters the table (Celery's ETA), however far ahead. Not with `delay`. @default now */
  runAt?: Date;
  /** When a job that has not started expires, however far ahead. Not with `expiresIn`. @default never */
  expiresAt?: Date;
  /**
   * Called with each progress value the task reports
   * (`reportProgress()` in `baozi/worker`).
   * @default undefined
   */
  onProgress?: (value: unknown) => void;
}

/**
 * What `close()` lets finish: `'all'`, every queued and running job;
 * `'running'`, running jobs (queued ones are cancelled now); `'none'`,
 * nothing (queued jobs are cancelled and running ones stopped now).
 */
export type DrainMode = 'all' | 'running' | 'none';

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * What finishes before the threads stop (see `DrainMode`). Either way,
   * producers still waiting for room get `BAOZI_RUNNER_CLOSED`. `'none'`
   * given to a second `close()` while the first drains escalates that close
   * the same way. `true` and `false` are the deprecated spellings of
   * `'all'` and `'none'` (removed in 1.0).
   * @default 'all'
   */
  drain?: DrainMode | boolean;
  /**
   * Unless `drain` is `'none'`, milliseconds to wait for jobs to finish; then the ones
   * still live are cancelled (`BAOZI_CANCELLED`, cause `BAOZI_RUNNER_CLOSED`):
   * running ones see their in-thread signal abort and are terminated
   * `cancelGraceMs` later. Integer, 0 or more, of any length.
   * @default undefined (wait for every job)
   */
  deadlineMs?: number;
}

export const PRIORITY_RANGE = { min: -1000, max: 1000 } as const;

const parallelism = availableParallelism();

/** Every default, in one place. */
export const DEFAULTS = Object.freeze({
  // minThreads: maxThreads, whatever maxThreads is.
  maxThreads: parallelism,
  idleTimeout: 1000,
  capacity: 1024,
  concurrentTasksPerWorker: 1,
  cancelGraceMs: 1000,
  loadTimeout: 60_000,
  batching: 'auto' as 'auto' | 'off',
  prefetch: 'auto' as 'auto' | 'off',
  resultTtl: 3_600_000,
  maxResults: 1000,
  maxScheduled: 10_000,
  maxPayloadBytes: 64 * 1024 * 1024,
  priority: 0,
  drain: 'all' as DrainMode,
  /** `retries` fields a job or task leaves out (see `RetryOptions`). */
  retries: Object.freeze({
    max: 0,
    backoff: 'exponential' as const,
    delay: 1000,
    maxDelay: 60_000,
    /** By backoff: a fixed delay is exact, an exponential one spread. */
    jitter: Object.freeze({ fixed: 'none', exponential: 'full' } as const),
  }),
  /** Of `schedule()` (see `ScheduleOptions`). */
  schedule: Object.freeze({ overlap: 'skip' as const }),
  /** Of `group()`, `map()` and `stream()` (see their options). */
  workflows: Object.freeze({ settle: 'fail-fast' as const, ordered: true, highWaterMark: 16, batchSize: 'auto' as const }),
  /** Of `journal` (see `JournalOptions`). */
  journal: Object.freeze({ sync: 'normal' as 'full' | 'normal', maxRedeliveries: 2 }),
});
