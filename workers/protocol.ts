/**
 * Messages between lib/pool.ts and workers/entry.ts (types only; both sides
 * import nothing else from each other). Every object crossing is tagged
 * with a string `type`.
 */
import type { MessagePort } from 'node:worker_threads';


/** What the pool sends a thread: one job, several of one task (a transparent batch), or a `map` chunk. */
export type PoolMessage = JobMessage | BatchMessage | ChunkMessage;

/** A job as the worker thread receives it. */
export interface JobMessage {
  type: 'job';
  id: string;
  task: string;
  attempt: number;
  /** The arguments: as they are, or v8-serialized bytes (see lib/codec.ts). */
  args: unknown[] | Uint8Array;
  isEncoded: boolean;
  /** Present when the job can be told to stop cooperatively (see JobControl). */
  control?: MessagePort;
}

/**
 * Several jobs of one task, run one after another in one thread: tiny jobs
 * then cost one message each way between them. Batched jobs have no control
 * port (no signal, time limit or `onProgress`): their progress, when the
 * runner has a 'progress' listener, comes back with the reply.
 */
export interface BatchMessage {
  type: 'batch';
  task: string;
  /** Someone listens to every job's progress: keep each job's reports and send them with the reply. */
  collectsProgress: boolean;
  jobs: { id: string; attempt: number; args: unknown[] | Uint8Array; isEncoded: boolean }[];
}

/** The outcome of each job of a batch, in order: a value (as in `JobReply`) or, where `failures[i]` is set, a failure. */
export interface BatchReply {
  type: 'batch';
  values: JobReply[];
  failures: (JobFailure | undefined)[] | undefined;
  /** With `collectsProgress`: the values each job reported, in order (where it reported any). */
  progress: (unknown[] | undefined)[] | undefined;
  /** Milliseconds the thread spent running the batch's tasks: what the dispatcher sizes batches by. */
  ms: number;
}

/**
 * One job that runs its task once per input of a `map` chunk (see
 * workers/chunk.ts). Its `args`, when every input has the same number of
 * arguments and all are primitives: `[count, arity, ...each input's
 * arguments, one input after another]`, as they are (`isEncoded: false`);
 * otherwise the list of each input's arguments, serialized
 * (`isEncoded: true`).
 */
export interface ChunkMessage extends Omit<JobMessage, 'type'> {
  type: 'chunk';
}

/**
 * What a chunk job resolves with: the value of each input, in order, or,
 * where `failures[i]` is set, that input's failure.
 */
export interface ChunkResult {
  values: unknown[];
  failures: (JobFailure | undefined)[] | undefined;
  /** Milliseconds the thread spent running the inputs (what `batchSize: 'auto'` sizes chunks by). */
  ms: number;
}

/** Sent to the thread on a job's control port. */
export type JobControl = { type: 'abort'; reason: string };

/** Sent from the thread on a job's control port. */
export type JobReport = { type: 'progress'; value: unknown };

/**
 * What the worker returns for a job. A primitive result comes back as it
 * is (the fast path); anything else in an envelope.
 */
export type JobReply =
  | string
  | number
  | boolean
  | bigint
  | null
  | undefined
  | { type: 'encoded'; bytes: Uint8Array }
  | { type: 'moved'; value: unknown }
  | BatchReply
  | RetiringReply;

/**
 * The reply (or failure) of the last run of a thread that reached
 * `maxJobsPerWorker` or its heap limit: the main thread stops giving it
 * jobs and terminates it once idle.
 */
export interface RetiringReply {
  type: 'retiring';
  threadId: number;
  reason: RetireReason;
  reply: JobReply | undefined;
  failure: unknown;
}

export type RetireReason = 'jobs' | 'heap';

/** A job that did not produce a result. The worker throws this plain object. */
export type JobFailure =
  | { type: 'task-error'; error: SerializedError }
  | { type: 'unknown-task'; task: string; available: string[] }
  | { type: 'load-error'; module: string; error: SerializedError }
  | { type: 'result-not-cloneable'; path: string | undefined; detail: string }
  | { type: 'retry-requested'; delay: number | undefined; reason: SerializedError | undefined };

/** A thrown value, copied faithfully enough to rebuild on the main thread. */
export type SerializedError =
  | {
      type: 'error';
      name: string;
      message: string;
      stack: string | undefined;
      code: unknown;
      cause?: SerializedError;
      /** Other own enumerable fields that survived structured clone. */
      props: Record<string, unknown>;
    }
  | { type: 'value'; value: unknown; description: string };

/** The argv flag before the task module's URL (see workers/loader.ts). */
export type TasksArgvFlag = '--baozi-tasks';

/** The argv flag present when a thread runs one job at a time (see workers/context.ts). */
export type SingleJobArgvFlag = '--baozi-single-job';

/** The argv flag before the key of the pool's `ThreadSettings` in Node's environment data (see workers/settings.ts). */
export type SettingsArgvFlag = '--baozi-settings';

/**
 * What a thread reads once as it starts. It travels as Node's environment
 * data, which each new thread copies at spawn: the pool changes
 * `preloadDelayMs` for threads not yet started.
 */
export interface ThreadSettings {
  /** Jobs after which the thread retires (Infinity: never). */
  maxJobs: number;
  /** Heap use, checked after each run, past which the thread retires (Infinity: never). */
  maxHeapBytes: number;
  /** How long a new thread waits before importing the task module: grows while threads die starting. */
  preloadDelayMs: number;
  /** How long an import of the task module may take before it counts as failed (`loadTimeout`). */
  loadTimeoutMs: number;
}

/** What a thread tells the pool outside any job, on its parentPort (Piscina re-emits it as a pool 'message'). */
export type ThreadNotice =
  | { type: 'baozi:loaded'; threadId: number }
  | { type: 'baozi:load-failed'; threadId: number; module: string; error: SerializedError };
