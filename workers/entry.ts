/**
 * What each pool thread runs for a job (or a batch of jobs of one task):
 * find the task, run it in its context, return the result or throw a plain
 * `JobFailure`. Thin on purpose; the main thread owns time limits, retries
 * and bookkeeping.
 */
import { isPromise } from 'node:util/types';
import { runChunk } from './chunk.js';
import { decodeArgs, encodeBatch, encodeResult, markRetiring } from './codec.js';
import { RunningJob } from './context.js';
import { asJobFailure, serializeError, taskFailure } from './errors.js';
import { loadedTask, loadTaskModule, preloadTaskModule, taskModuleUrl, taskNames, type TaskFunction } from './loader.js';
import type { BatchMessage, JobFailure, JobMessage, JobReply, PoolMessage } from './protocol.js';
import { isRecycling, retireReason } from './recycle.js';
import { isSingleJob } from './settings.js';
import { isThenable } from './thenable.js';
import { watchForUnreadableMessages } from './unreadable-messages.js';

preloadTaskModule();
watchForUnreadableMessages();

const runOne = isRecycling ? runCounted : runMessage;
const run = isSingleJob ? runInTurn : runOne;
export default runGuarded;

/** Every failure leaves as a `JobFailure`: anything else would read as this thread's death. */
function runGuarded(message: PoolMessage): JobReply | Promise<JobReply> {
  let reply: JobReply | Promise<JobReply>;
  try {
    reply = run(message);
  } catch (error) {
    throw asJobFailure(error);
  }
  return reply instanceof Promise ? reply.catch(rethrowAsFailure) : reply;
}

function rethrowAsFailure(error: unknown): never {
  throw asJobFailure(error);
}

// One job at a time: a message prefetched while another job runs (see
// lib/dispatcher.ts) waits for it, so that an async task never interleaves
// with the next and the job context stays a plain variable. And it waits
// until a later turn of the event loop: Piscina posts a job's reply a few
// microtasks after the job returns, and a next job that killed the thread
// before that would take the finished job's result down with it.
let isBusy = false;
const turns: (() => void)[] = [];

function runInTurn(message: PoolMessage): JobReply | Promise<JobReply> {
  if (!isBusy) return runNow(message);
  return new Promise<void>((resolve) => turns.push(resolve)).then(() => runNow(message));
}

function runNow(message: PoolMessage): JobReply | Promise<JobReply> {
  isBusy = true;
  let reply: JobReply | Promise<JobReply>;
  try {
    reply = runOne(message);
  } catch (error) {
    endTurn();
    throw error;
  }
  if (!(reply instanceof Promise)) {
    endTurn();
    return reply;
  }
  return reply.finally(endTurn);
}

function endTurn(): void {
  setImmediate(passTurn);
}

function passTurn(): void {
  const next = turns.shift();
  if (next) next();
  else isBusy = false;
}

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
  if (reason) return markRetiring(reply, failed ? asJobFailure(failure) : undefined, reason);
  if (failed) throw failure;
  return reply;
}

/** Runs a message; a job whose task returns its value (not a promise) costs no promise. */
function runMessage(message: PoolMessage): JobReply | Promise<JobReply> {
  if (message.type === 'batch') return runBatch(message);
  if (message.type === 'chunk') return runChunk(message, resolveTask(message.task));
  const task = loadedTask(message.task);
  if (task) return runJob(task, message);
  return resolveTask(message.task).then((resolved) => runJob(resolved, message));
}

function runJob(task: TaskFunction, message: JobMessage): JobReply | Promise<JobReply> {
  const job = new RunningJob(message.id, message.task, message.attempt, message.control);
  let result: unknown;
  try {
    result = callTask(task, job, message);
  } catch (failure) {
    job.dispose();
    throw failure;
  }
  // isPromise reads no property: the result may be a Proxy whose traps throw.
  if (!isPromise(result)) {
    try {
      return encodeResult(result);
    } finally {
      job.dispose();
    }
  }
  return result.then(encodeResult).finally(() => job.dispose());
}

async function runBatch(batch: BatchMessage): Promise<JobReply> {
  const task = await resolveTask(batch.task);
  const values: unknown[] = new Array(batch.jobs.length);
  let failures: (JobFailure | undefined)[] | undefined;
  const progress: (unknown[] | undefined)[] | undefined = batch.collectsProgress ? new Array(batch.jobs.length) : undefined;
  const startedAt = performance.now();
  for (let i = 0; i < batch.jobs.length; i++) {
    const item = batch.jobs[i]!;
    const job = new RunningJob(item.id, batch.task, item.attempt, undefined);
    if (progress) job.reports = [];
    try {
      const value = callTask(task, job, item);
      values[i] = isPromise(value) ? await value : value;
    } catch (failure) {
      failures ??= new Array(batch.jobs.length);
      failures[i] = failure as JobFailure;
    } finally {
      job.dispose();
      if (progress && job.reports!.length > 0) progress[i] = job.reports;
    }
  }
  return encodeBatch(values, failures, progress, performance.now() - startedAt);
}

/** The task by name, or a thrown `JobFailure` (load error, unknown task). */
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

/**
 * Calls the task in the job's context: its value, or a Promise of it when
 * it returned a thenable. What it throws or rejects with (also a `then`
 * that throws) becomes a `JobFailure`.
 */
function callTask(task: TaskFunction, job: RunningJob, input: Pick<JobMessage, 'args' | 'isEncoded'>): unknown {
  let result: unknown;
  try {
    const args = decodeArgs(input);
    result = job.run(() => task(...args));
    if (!isThenable(result)) return result;
  } catch (error) {
    throw taskFailure(error);
  }
  return Promise.resolve(result).catch((error: unknown) => {
    throw taskFailure(error);
  });
}
