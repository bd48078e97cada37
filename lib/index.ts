/**
 * `baozi`: jobs on a bounded table, run by a pool of worker threads, every
 * result a promise.
 */
export { createRunner, Runner } from './runner.js';
export type { CloseReport, RunnerStats } from './runner.js';
export type { RunnerHealth } from './pool/thread-health.js';
export type { TaskArgs, TaskModule, TaskName, TaskResult } from './task-types.js';
export type { CloseOptions, DrainMode, JournalOptions, RunnerOptions, SubmitOptions, TaskDefaults } from './options.js';
export type { RetryOptions } from './semantics/retry.js';
export type { RateLimit } from './semantics/rate-limit.js';
export type { ScheduleHandle, ScheduleOptions, ScheduleOverlap } from './semantics/schedule.js';
export type { JobHandle, JobState } from './job/job.js';
export type { RunnerEvents } from './events.js';
export type { DurationSummary } from './observe/summary.js';
export type { DurationHistogram, HistogramBucket, JobCounters, MetricsOptions, RunnerGauges, RunnerMetrics, TaskMetrics } from './observe/metrics.js';
export type { JobChannels } from './observe/job-channels.js';
export {
  BaoziError,
  CancelledError,
  InvalidOptionError,
  JobExpiredError,
  JournalCorruptError,
  JournalError,
  JournalLockedError,
  OutsideTaskError,
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
export type { CrashReason, FailedJobError, RunError, WorkflowKind } from './errors.js';
export { BrokerUnreachableError, MalformedJobError } from './errors.js';
export { WorkflowStepError, StreamNullResultError } from './errors.js';
export { sig } from './workflows/signature.js';
export type { Signature } from './workflows/signature.js';
export type { SettledResult, SettleMode, WorkflowHandle, WorkflowState } from './workflows/workflow-types.js';
export type { GroupOptions, MapOptions, StreamOptions } from './workflows/workflow-options.js';
