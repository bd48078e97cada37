/**
 * What a thread does with a run (see `RunMessage`): its jobs one after
 * another, each in its own context, every outcome kept apart and all of
 * them back in one reply, with the time the tasks took.
 */
import { isPromise } from 'node:util/types';
import { runInputs } from './chunk.js';
import { decodeArgs, encodeRun } from './codec.js';
import { RunningJob } from './context.js';
import { serializeError, taskFailure } from './errors.js';
import { loadedTask, loadTaskModule, taskModuleUrl, taskNames, type TaskFunction } from './loader.js';
import type { JobFailure, JobReply, RunJob, RunMessage } from './protocol.js';
import { isThenable } from './thenable.js';

/** Runs a run; a run whose tasks all return values (not promises) costs no promise. */
export function runRun(message: RunMessage): JobReply | Promise<JobReply> {
  const task = loadedTask(message.task);
  if (task) return runJobs(task, message);
  return resolveTask(message.task).then((resolved) => runJobs(resolved, message));
}

function runJobs(task: TaskFunction, message: RunMessage): JobReply | Promise<JobReply> {
  return message.jobs.length === 1 ? runOne(task, message) : new RunState(task, message).next(0);
}

/** A run of one job, the most frequent message: as `RunState` does, without its bookkeeping. */
function runOne(task: TaskFunction, message: RunMessage): JobReply | Promise<JobReply> {
  const job = message.jobs[0]!;
  const context = new RunningJob(job.id, message.task, job.attempt, message.control);
  const collects = message.collectsProgress && !message.control;
  if (collects) context.reports = [];
  const startedAt = performance.now();
  let value: unknown;
  try {
    value = context.run(() => callJob(task, job));
  } catch (failure) {
    return endOne(message, context, failure, true, startedAt);
  }
  // isPromise reads no property: the value may be a Proxy whose traps throw.
  if (!isPromise(value)) return endOne(message, context, value, false, startedAt);
  return value.then(
    (settled) => endOne(message, context, settled, false, startedAt),
    (failure: unknown) => endOne(message, context, failure, true, startedAt),
  );
}

function endOne(message: RunMessage, context: RunningJob, outcome: unknown, hasFailed: boolean, startedAt: number): JobReply {
  const ms = performance.now() - startedAt;
  context.dispose();
  const reports = context.reports;
  const progress = reports && reports.length > 0 ? [reports] : undefined;
  return hasFailed ? encodeRun(message.jobs, [undefined], [outcome as JobFailure], progress, ms) : encodeRun(message.jobs, [outcome], undefined, progress, ms);
}

/** The outcomes of a run so far. */
class RunState {
  readonly values: unknown[];
  failures: (JobFailure | undefined)[] | undefined;
  readonly progress: (unknown[] | undefined)[] | undefined;
  readonly startedAt = performance.now();

  constructor(
    readonly task: TaskFunction,
    readonly message: RunMessage,
  ) {
    const count = message.jobs.length;
    this.values = new Array(count);
    // A job with a control port sends its reports as they come.
    this.progress = message.collectsProgress && !message.control ? new Array(count) : undefined;
  }

  /** Runs jobs from `first` on; continues asynchronously from the first job that returns a promise. */
  next(first: number): JobReply | Promise<JobReply> {
    const { jobs } = this.message;
    for (let i = first; i < jobs.length; i++) {
      const job = jobs[i]!;
      const context = new RunningJob(job.id, this.message.task, job.attempt, this.message.control);
      if (this.progress) context.reports = [];
      let value: unknown;
      try {
        value = context.run(() => callJob(this.task, job));
      } catch (failure) {
        this.end(i, context, failure, true);
        continue;
      }
      // isPromise reads no property: the value may be a Proxy whose traps throw.
      if (isPromise(value)) {
        return value
          .then(
            (settled) => this.end(i, context, settled, false),
            (failure: unknown) => this.end(i, context, failure, true),
          )
          .then(() => this.next(i + 1));
      }
      this.end(i, context, value, false);
    }
    return encodeRun(jobs, this.values, this.failures, this.progress, performance.now() - this.startedAt);
  }

  /** Job `index` ended with `outcome`: its value, or with `hasFailed` the `JobFailure` it threw. */
  end(index: number, context: RunningJob, outcome: unknown, hasFailed: boolean): void {
    context.dispose();
    if (this.progress && context.reports!.length > 0) this.progress[index] = context.reports;
    if (hasFailed) (this.failures ??= new Array(this.message.jobs.length))[index] = outcome as JobFailure;
    else this.values[index] = outcome;
  }
}

/**
 * Calls the task for one job of a run, in its context: its value, or a
 * Promise of it when it returned a thenable (a chunk: a Promise of its
 * `ChunkResult`). What it throws or rejects with (also a `then` that
 * throws) becomes a `JobFailure`.
 */
function callJob(task: TaskFunction, job: RunJob): unknown {
  let result: unknown;
  try {
    const args = decodeArgs(job);
    if (job.inputs !== undefined) return runInputs(task, job, args);
    result = task(...args);
    if (!isThenable(result)) return result;
  } catch (error) {
    throw taskFailure(error);
  }
  return Promise.resolve(result).catch((error: unknown) => {
    throw taskFailure(error);
  });
}

/** The task by name, or a thrown `JobFailure` (load error, unknown task) that fails the whole run. */
async function resolveTask(name: string): Promise<TaskFunction> {
  let module: Record<string, unknown>;
  try {
    module = await loadTaskModule();
  } catch (error) {
    throw { type: 'load-error', module: taskModuleUrl(), error: serializeError(error) } satisfies JobFailure;
  }
  const task = loadedTask(name);
  if (!task) throw { type: 'unknown-task', task: name, available: taskNames(module) } satisfies JobFailure;
  return task;
}
