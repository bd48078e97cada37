/**
 * What each pool thread runs for a job (or a batch of jobs of one task):
 * find the task, run it in its context, return the result or throw a plain
 * `JobFailure`. Thin on purpose; the main thread owns time limits, retries
 * and bookkeeping.
 */
import { runChunk } from './chunk.js';
import { decodeArgs, encodeBatch, encodeResult, markRetiring } from './codec.js';
import { RunningJob } from './context.js';
import { serializeError, taskFailure } from './errors.js';
import { findTask, loadTaskModule, preloadTaskModule, taskModuleUrl, taskNames, type TaskFunction } from './loader.js';
import type { BatchMessage, JobFailure, JobMessage, JobReply, PoolMessage } from './protocol.js';
import { isRecycling, retireReason } from './recycle.js';

preloadTaskModule();

export default isRecycling ? runCounted : runMessage;

/** With `maxJobsPerWorker` or a heap limit: runs the message, then checks whether this thread should retire. */
async function runCounted(message: PoolMessage): Promise<JobReply> {
  let reply: JobReply | undefined;
  let failure: unknown;
  let failed = false;
  try {
    reply = await runMessage(message);
  } catch (error) {
    failure = error;
    failed = true;
  }
  const reason = retireReason(message.type === 'batch' ? message.jobs.length : 1);
  if (reason) return markRetiring(reply, failure, reason);
  if (failed) throw failure;
  return reply;
}

async function runMessage(message: PoolMessage): Promise<JobReply> {
  if (message.type === 'batch') return runBatch(message);
  if (message.type === 'chunk') return runChunk(message, resolveTask(message.task));
  const job = new RunningJob(message.id, message.task, message.attempt, message.control);
  try {
    const task = await resolveTask(message.task);
    return encodeResult(await runTask(task, job, message));
  } finally {
    job.dispose();
  }
}

async function runBatch(batch: BatchMessage): Promise<JobReply> {
  const task = await resolveTask(batch.task);
  const values: unknown[] = new Array(batch.jobs.length);
  let failures: (JobFailure | undefined)[] | undefined;
  const progress: (unknown[] | undefined)[] | undefined = batch.collectsProgress ? new Array(batch.jobs.length) : undefined;
  for (let i = 0; i < batch.jobs.length; i++) {
    const item = batch.jobs[i]!;
    const job = new RunningJob(item.id, batch.task, item.attempt, undefined);
    if (progress) job.reports = [];
    try {
      values[i] = await runTask(task, job, item);
    } catch (failure) {
      failures ??= new Array(batch.jobs.length);
      failures[i] = failure as JobFailure;
    } finally {
      job.dispose();
      if (progress && job.reports!.length > 0) progress[i] = job.reports;
    }
  }
  return encodeBatch(values, failures, progress);
}

/** The task by name, or a thrown `JobFailure` (load error, unknown task). */
async function resolveTask(name: string): Promise<TaskFunction> {
  let module: Record<string, unknown>;
  try {
    module = await loadTaskModule();
  } catch (error) {
    throw { type: 'load-error', module: taskModuleUrl(), error: serializeError(error) } satisfies JobFailure;
  }
  const task = findTask(module, name);
  if (!task) throw { type: 'unknown-task', task: name, available: taskNames(module) } satisfies JobFailure;
  return task;
}

/** Runs the task in the job's context; what it throws becomes a `JobFailure`. */
async function runTask(task: TaskFunction, job: RunningJob, input: Pick<JobMessage, 'args' | 'isEncoded'>): Promise<unknown> {
  try {
    const args = decodeArgs(input);
    return await job.run(() => task(...args));
  } catch (error) {
    throw taskFailure(error);
  }
}
