/**
 * Every error baozi raises. Each class has a stable `code` that is never
 * reused or renamed; match on `code` (or `instanceof`), never on messages.
 *
 * Codes, by area:
 * - Options:   BAOZI_INVALID_OPTION
 * - Table:     BAOZI_TABLE_FULL, BAOZI_RUNNER_CLOSED
 * - Jobs:      BAOZI_CANCELLED, BAOZI_SERIALIZATION, BAOZI_PAYLOAD_TOO_LARGE
 * - Tasks:     BAOZI_UNKNOWN_TASK, BAOZI_TASK_FAILED, BAOZI_TASK_LOAD
 * - Threads:   BAOZI_WORKER_CRASHED
 * - Workflows: BAOZI_WORKFLOW_STEP_FAILED, BAOZI_STREAM_NULL_RESULT
 * - Lifecycle: BAOZI_TIMEOUT, BAOZI_EXPIRED, BAOZI_RETRIES_EXHAUSTED, BAOZI_SCHEDULE_FULL
 * - Journal:   BAOZI_JOURNAL, BAOZI_JOURNAL_CORRUPT, BAOZI_JOURNAL_LOCKED
 * - Worker API (`baozi/worker`, defined in workers/api-errors.ts): BAOZI_OUTSIDE_TASK
 * - Broker:    BAOZI_BROKER_UNREACHABLE, BAOZI_MALFORMED_JOB
 */
import { BaoziError, type JobInfo } from '../workers/baozi-error.js';

// Both sides of the thread boundary throw baozi errors: the base lives where
// workers/ may import it, and so do the errors baozi/worker throws.
export { BaoziError, type JobInfo };
export { OutsideTaskError } from '../workers/api-errors.js';

/** A runner or job option has a wrong type, range or name. */
export class InvalidOptionError extends BaoziError {
  readonly code = 'BAOZI_INVALID_OPTION';
  constructor(
    /** Dotted name of the option, e.g. `maxThreads` or `submit.priority`. */
    readonly option: string,
    readonly value: unknown,
    /** What would have been accepted, in words. */
    readonly expected: string,
  ) {
    super(`Invalid option \`${option}\`: expected ${expected}, got ${describeValue(value)}.`);
  }
}

/** `trySubmit()` found the table full. */
export class TableFullError extends BaoziError {
  readonly code = 'BAOZI_TABLE_FULL';
  constructor(readonly capacity: number) {
    super(`Table is full (capacity ${capacity}). Await submit() to wait for room, or raise \`capacity\`.`);
  }
}

/** The runner is closing or closed and accepts no more jobs. */
export class RunnerClosedError extends BaoziError {
  readonly code = 'BAOZI_RUNNER_CLOSED';
  constructor() {
    super('The runner is closed and accepts no new jobs. Create a new runner to submit more.');
  }
}

/** The job (or a producer's wait for room) was cancelled; `cause` holds the reason. */
export class CancelledError extends BaoziError {
  readonly code = 'BAOZI_CANCELLED';
  constructor(message: string, options?: { cause?: unknown; job?: JobInfo }) {
    super(message, options);
  }
}

/**
 * Arguments or a result could not be copied between threads (structured
 * clone). Arguments are checked at submit: the job (its `jobId` and `task`
 * set) was never queued.
 */
export class SerializationError extends BaoziError {
  readonly code = 'BAOZI_SERIALIZATION';
  constructor(
    /** `argument`: what the producer passed; `result`: what the task returned. */
    readonly direction: 'argument' | 'result',
    /** Where in the value the first uncloneable part sits, e.g. `args[0].onDone`. */
    readonly path: string | undefined,
    /** Why, in words (V8's message, say); its closing period is dropped. */
    detail: string,
    options?: { cause?: unknown; job?: JobInfo },
  ) {
    const job = options?.job;
    super(
      `Cannot copy the ${direction === 'argument' ? 'arguments' : 'result'}` +
        `${job ? ` of job ${job.jobId} (${JSON.stringify(job.task)})` : ''} between threads` +
        `${path ? ` at ${path}` : ''}: ${detail.replace(/[.\s]+$/, '')}. Pass only structured-cloneable data ` +
        '(no functions, symbols or class instances with behaviour).',
      options,
    );
  }
}

/** The task module has no exported function of that name. */
export class UnknownTaskError extends BaoziError {
  readonly code = 'BAOZI_UNKNOWN_TASK';
  constructor(
    readonly taskName: string,
    /** The exported functions the task module does have. */
    readonly available: readonly string[],
    options?: { job?: JobInfo },
  ) {
    super(
      `No task named ${JSON.stringify(taskName)} in the task module. ` +
        `Available tasks: ${available.length ? available.join(', ') : '(none: export functions from the module)'}.`,
      options,
    );
  }
}

/** The task ran and threw (or rejected). `cause` is a faithful copy of what it threw. */
export class TaskError extends BaoziError {
  readonly code = 'BAOZI_TASK_FAILED';
  constructor(options: { cause: unknown; job: JobInfo }) {
    super(`Task ${JSON.stringify(options.job.task)} failed in job ${options.job.jobId}: ${describeThrown(options.cause)}`, options);
  }
}

/** The task module could not be imported in the worker thread. */
export class TaskLoadError extends BaoziError {
  readonly code = 'BAOZI_TASK_LOAD';
  constructor(readonly module: string, options: { cause: unknown; job?: JobInfo }) {
    super(
      `Cannot load the task module ${module}: ${describeThrown(options.cause)}. ` +
        'Fix the module (it must import cleanly in a worker thread); the next job tries again.',
      options,
    );
  }
}

/**
 * Why a worker thread died while it ran a job. `unreadable-message`: it
 * could not deserialize a job message sent to it (the job's arguments did
 * not survive the copy), and died of it so that no job on it is left
 * unsettled. `host`: with a journal, the whole process died while the job
 * ran, more than `journal.maxRedeliveries` times; it is not run again.
 */
export type CrashReason = 'exit' | 'oom' | 'uncaught' | 'unreadable-message' | 'host';

const CRASH_DESCRIPTIONS: Record<Exclude<CrashReason, 'exit' | 'host'>, string> = {
  oom: 'out of memory under resourceLimits',
  uncaught: 'uncaught exception',
  'unreadable-message': 'it could not read a job message sent to it: arguments that did not survive the copy',
};

/** The thread running the job died; the pool replaced it. */
export class WorkerCrashedError extends BaoziError {
  readonly code = 'BAOZI_WORKER_CRASHED';
  constructor(
    readonly reason: CrashReason,
    /** Exit code when `reason` is `exit`. */
    readonly exitCode: number | undefined,
    options: { cause?: unknown; job?: JobInfo },
  ) {
    super(
      reason === 'host'
        ? 'The process running this job died while it ran, more times than the journal allows (`journal.maxRedeliveries`): it is not run again. ' +
            'Find what kills the process (out of memory, a native crash) and submit it again.'
        : `The worker thread running this job died (${reason === 'exit' ? `process.exit(${exitCode})` : CRASH_DESCRIPTIONS[reason]}). ` +
            'The pool replaced the thread; other jobs go on.',
      options,
    );
  }
}

/** A run of the job passed its time limit. */
export class TimeoutError extends BaoziError {
  readonly code = 'BAOZI_TIMEOUT';
  constructor(
    /** `hard`: the thread was terminated. `soft`: the task was told to stop and threw. */
    readonly kind: 'soft' | 'hard',
    /** The limit that passed, in milliseconds. */
    readonly limitMs: number,
    options: { cause?: unknown; job: JobInfo },
  ) {
    super(
      kind === 'hard'
        ? `Job ${options.job.jobId} (${options.job.task}) ran past its ${limitMs} ms timeout; its thread was terminated. Raise \`timeout\` or make the task faster.`
        : `Job ${options.job.jobId} (${options.job.task}) stopped after its ${limitMs} ms soft timeout. Raise \`softTimeout\` or make the task faster.`,
      options,
    );
  }
}

/** The job did not start before its `expiresAt`/`expiresIn`; it never ran (this time). */
export class JobExpiredError extends BaoziError {
  readonly code = 'BAOZI_EXPIRED';
  constructor(options: { job: JobInfo; expiredAt: number }) {
    super(
      `Job ${options.job.jobId} (${options.job.task}) expired at ${new Date(options.expiredAt).toISOString()} before it could start. ` +
        'Give it a later expiry, or more threads or capacity.',
      options,
    );
  }
}

/** Every run the retry policy allowed failed. `cause` is the last error; `errors` has them all. */
export class RetriesExhaustedError extends BaoziError {
  readonly code = 'BAOZI_RETRIES_EXHAUSTED';
  constructor(
    /** Runs made. */
    readonly attempts: number,
    /** Each run's error, first to last. */
    readonly errors: readonly RunError[],
    options: { job: JobInfo },
  ) {
    super(`Job ${options.job.jobId} (${options.job.task}) failed ${attempts} times; no retries are left. The last error is the cause.`, {
      cause: errors.at(-1),
      job: options.job,
    });
  }
}

/**
 * What one failed run of a job is: what `retries.retryOn(error, attempt)`
 * decides on and the `retrying` event carries, and, unless its retries ran
 * out, what the job fails with. Narrow it on `code`:
 * `error.code === 'BAOZI_TIMEOUT'` makes it a `TimeoutError`.
 */
export type RunError = TaskError | TimeoutError | WorkerCrashedError | SerializationError | TaskLoadError | UnknownTaskError;

/** What a job that failed settles with (the `failed` event): its last run's error, or `RetriesExhaustedError` once its retries ran out. */
export type FailedJobError = RunError | RetriesExhaustedError;

/** Too many jobs wait for a delay or a retry (`maxScheduled`). */
export class ScheduleFullError extends BaoziError {
  readonly code = 'BAOZI_SCHEDULE_FULL';
  constructor(readonly maxScheduled: number) {
    super(`${maxScheduled} jobs already wait for a delay or a retry (maxScheduled). Submit it later, or raise \`maxScheduled\`.`);
  }
}

function describeThrown(thrown: unknown): string {
  if (thrown instanceof Error) return `${thrown.name}: ${thrown.message}`;
  return `threw ${describeValue(thrown)}`;
}

/** A short, safe rendering of any value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `a function${value.name ? ` (${value.name})` : ''}`;
  if (typeof value === 'symbol') return `a symbol (${value.description ?? ''})`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  const name = proto?.constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** Which kind of workflow a step belonged to. */
export type WorkflowKind = 'chain' | 'group' | 'chord';

/**
 * A step of a workflow (`chain`, `group`, `chord`) failed, so the workflow
 * did: its job failed or was cancelled, or it could not be submitted. `cause`
 * is the step's own error (a `TaskError`, a `CancelledError`, a
 * `RunnerClosedError`...); `jobId` is set when the step had become a job.
 */
export class WorkflowStepError extends BaoziError {
  readonly code = 'BAOZI_WORKFLOW_STEP_FAILED';
  /** The task the step runs. Always set, even when the step never became a job. */
  declare task: string;
  constructor(
    readonly workflow: WorkflowKind,
    /**
     * 0-based position of the step: in a chain, its place in the chain; in a
     * group, the member's place; in a chord, the member's place, or the
     * number of members for the callback.
     */
    readonly step: number,
    task: string,
    options: { cause: unknown; job?: JobInfo },
  ) {
    super(
      `Step ${step} (${JSON.stringify(task)}) of the ${workflow} failed${options.job ? ` in job ${options.job.jobId}` : ' before it became a job'}: ` +
        `${describeThrown(options.cause)}. The ${workflow} stopped: no later step was submitted and the steps still pending were cancelled. ` +
        'See `cause` for the step\'s own error.',
      options,
    );
    this.task = task;
  }
}

/**
 * A job of a stream (`stream()`) resolved with `null`, which a Node stream
 * cannot carry (`null` ends it), so the stream was destroyed with this error.
 */
export class StreamNullResultError extends BaoziError {
  readonly code = 'BAOZI_STREAM_NULL_RESULT';
  constructor(options: { job: JobInfo }) {
    super(
      `Task ${JSON.stringify(options.job.task)} returned null in job ${options.job.jobId}, and a Node stream cannot carry null (it ends the stream). ` +
        "Return another value (undefined, an object), or create the stream with settle: 'all' so that results come wrapped.",
      options,
    );
  }
}

/** A job's arguments are larger than the runner's `maxPayloadBytes`; nothing was queued. */
export class PayloadTooLargeError extends BaoziError {
  readonly code = 'BAOZI_PAYLOAD_TOO_LARGE';
  constructor(
    /** The arguments' size in bytes: serialized, or estimated for arguments that travel as they are. */
    readonly size: number,
    /** The runner's `maxPayloadBytes`. */
    readonly limit: number,
    options?: { job?: JobInfo },
  ) {
    super(
      `The arguments of ${options?.job ? `job ${options.job.jobId} (${JSON.stringify(options.job.task)})` : 'the job'} take about ${size} bytes, over maxPayloadBytes (${limit}). ` +
        'Split the job, share large data through a SharedArrayBuffer or a file, or raise `maxPayloadBytes`.',
      options,
    );
  }
}

// ── Journal ─────────────────────────────────────────────────────────────

/**
 * The journal could not be opened, read or written: `better-sqlite3` is not
 * installed, the directory is not writable, the disk (or `maxSizeMb`) is
 * full. `cause` is the underlying error (SQLite's carries a `code` such as
 * `SQLITE_FULL` or `SQLITE_READONLY`). A `submit()` whose job could not be
 * written rejects with it, and that job is cancelled; the runner goes on
 * with the jobs it holds.
 */
export class JournalError extends BaoziError {
  readonly code = 'BAOZI_JOURNAL';
  constructor(
    /** The journal file. */
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`Journal ${path}: ${message}`, options);
  }
}

/**
 * The file at the journal's path is not a baozi journal, or is damaged
 * (truncated, overwritten). Nothing was written to it: move it away or give
 * another path.
 */
export class JournalCorruptError extends BaoziError {
  readonly code = 'BAOZI_JOURNAL_CORRUPT';
  constructor(
    readonly path: string,
    /** What was found, in words. */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${path} is not a usable baozi journal: ${detail}. Nothing was written to it; move it away or give the runner another journal path.`, options);
  }
}

/** Another runner (in this process or another) has the journal open; two must never share one. */
export class JournalLockedError extends BaoziError {
  readonly code = 'BAOZI_JOURNAL_LOCKED';
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`${path} is in use by another runner (in this process or another). Close that runner first, or give this one its own journal path.`, options);
  }
}

/** The broker (Redis, under BullMQ) did not answer in time; the job was not accepted. */
export class BrokerUnreachableError extends BaoziError {
  readonly code = 'BAOZI_BROKER_UNREACHABLE';
  constructor(
    /** What was being asked of the broker, e.g. `add job` or `count waiting jobs`. */
    readonly operation: string,
    /** Milliseconds waited for an answer. */
    readonly waitedMs: number,
    options?: { cause?: unknown; job?: JobInfo },
  ) {
    super(
      `The broker did not answer \`${operation}\` within ${waitedMs} ms: it is down or unreachable. ` +
        'Check that Redis runs and the connection is right, then submit again (give a `jobId` so a job that did land is not added twice).',
      options,
    );
  }
}

/** A job on the broker's queue is not one baozi wrote (its data does not decode); it failed without running. */
export class MalformedJobError extends BaoziError {
  readonly code = 'BAOZI_MALFORMED_JOB';
  constructor(
    /** What is wrong with it, in words. */
    readonly detail: string,
    options?: { cause?: unknown; job?: JobInfo },
  ) {
    super(`The job's data is not a baozi job: ${detail}. Submit jobs through a baozi runner (runner.submit), not by writing to the queue by hand.`, options);
  }
}
