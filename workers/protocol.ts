/**
 * Messages between lib/pool/pool.ts and workers/entry.ts (types only; both sides
 * import nothing else from each other). Every object crossing is tagged
 * with a string `type`.
 */
import type { MessagePort } from 'node:worker_threads';


/**
 * What the pool sends a thread: a run, one or more jobs of one task that
 * the thread runs one after another, each in its own turn. One job, a
 * transparent batch of tiny jobs and a `map` chunk all travel so.
 */
export interface RunMessage {
  type: 'run';
  task: string;
  jobs: RunJob[];
  /**
   * Someone listens to every job's progress: a job without a control port
   * keeps its reports and sends them with the reply. Absent for no.
   */
  collectsProgress?: boolean;
  /** Present when the run's one job can be told to stop cooperatively, or reports progress as it goes (see JobControl). */
  control?: MessagePort;
}

/** One job of a run. */
export interface RunJob {
  id: string;
  attempt: number;
  /** The arguments: as they are, or v8-serialized bytes (see lib/admission/codec.ts). */
  args: unknown[] | Uint8Array;
  /** `args` are v8-serialized bytes; absent when they travel as they are. */
  isEncoded?: boolean;
  /**
   * Set for a `map` chunk: the task runs once per input, this many, and
   * the job's value is a `ChunkResult`. Its `args`, when every input has
   * the same number of arguments and all are primitives: `[count, arity,
   * ...each input's arguments, one input after another]`, as they are
   * (no `isEncoded`); otherwise the list of each input's arguments,
   * serialized (`isEncoded: true`).
   */
  inputs?: number;
}

/**
 * What a run replies: each job's outcome, in order, a value (`JobValue`)
 * or, where `failures[i]` is set, a failure. A failure of the whole run
 * (the task module did not load, the task is unknown) rejects instead.
 */
export interface RunReply {
  type: 'run';
  values: JobValue[];
  /** Absent when every job has a value. */
  failures?: (JobFailure | undefined)[] | undefined;
  /** With `collectsProgress`: the values each job without a control port reported, in order (where it reported any); absent when none did. */
  progress?: (unknown[] | undefined)[] | undefined;
  /** Milliseconds the thread spent in the run's tasks, one input after another: what runs are sized by. */
  ms: number;
}

/** The value of a `map` chunk job: each input's value, in order, or, where `failures[i]` is set, its failure. */
export interface ChunkResult {
  values: unknown[];
  failures: (JobFailure | undefined)[] | undefined;
  /** Over a shared broker: milliseconds the chunk ran on its consumer, which sizes the producer's next chunks. */
  ms?: number;
}

/** Sent to the thread on a job's control port. */
export type JobControl = { type: 'abort'; reason: string };

/** Sent from the thread on a job's control port. */
export type JobReport = { type: 'progress'; value: unknown };

/**
 * A job's value as it travels. A primitive comes back as it is (the fast
 * path); anything else in an envelope.
 */
export type JobValue = string | number | boolean | bigint | null | undefined | { type: 'encoded'; bytes: Uint8Array } | { type: 'moved'; value: unknown };

/** What the worker returns for a run. */
export type JobReply = RunReply | RetiringReply;

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
