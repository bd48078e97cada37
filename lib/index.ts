/**
 * `baozi`: jobs on a bounded table, run by a pool of worker threads, every
 * result a promise.
 */
export { createRunner, Runner } from './runner.js';
export type { RunnerStats, TaskArgs, TaskModule, TaskName, TaskResult } from './runner.js';
export type { CloseOptions, RunnerOptions, SubmitOptions } from './options.js';
export type { JobHandle, JobState } from './job.js';
export type { RunnerEvents } from './events.js';
export type { DurationSummary } from './summary.js';
export {
  BaoziError,
  CancelledError,
  InvalidOptionError,
  RunnerClosedError,
  SerializationError,
  TableFullError,
  TaskError,
  TaskLoadError,
  UnknownTaskError,
  WorkerCrashedError,
} from './errors.js';
export type { CrashReason } from './errors.js';
