/**
 * `baozi`: jobs on a bounded table, run by a pool of worker threads, every
 * result a promise.
 */
export { createRunner, Runner } from './runner.js';
export type { CloseReport, RunnerStats } from './runner.js';
export type { RunnerHealth } from './thread-health.js';
export type { TaskArgs, TaskModule, TaskName, TaskResult } from './task-types.js';
export type { CloseOptions, RunnerOptions, SubmitOptions, TaskDefaults } from './options.js';
export type { RetryOptions } from './retry.js';
export type { RateLimit } from './rate-limit.js';
export type { ScheduleHandle, ScheduleOptions, ScheduleOverlap } from './schedule.js';
export type { JobHandle, JobState } from './job.js';
export type { RunnerEvents } from './events.js';
export type { DurationSummary } from './summary.js';
export type { DurationHistogram, HistogramBucket, JobCounters, MetricsOptions, RunnerGauges, RunnerMetrics, TaskMetrics } from './metrics.js';
export type { JobChannels } from './diagnostics.js';
export {
  BaoziError,
  CancelledError,
  InvalidOptionError,
  JobExpiredError,
  PayloadTooLargeError,
  RetriesExhaustedError,
  RunnerClosedError,
  ScheduleFullError,
  SerializationError,
  TableFullError,
  TaskError,
  TaskLoadError,
  TimeoutError,
  UnknownTaskError,
  WorkerCrashedError,
} from './errors.js';
export type { CrashReason, WorkflowKind } from './errors.js';
export { WorkflowStepError, StreamNullResultError } from './errors.js';
export { sig } from './signature.js';
export type { Signature } from './signature.js';
export type { SettledResult, SettleMode, WorkflowHandle, WorkflowState } from './workflow-types.js';
export type { GroupOptions, MapOptions, StreamOptions } from './workflow-options.js';
