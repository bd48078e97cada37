/**
 * What each pool thread runs for a job: find the task, run it in its
 * context, return the result or throw a plain `JobFailure`. Thin on
 * purpose; the main thread owns time limits, retries and bookkeeping.
 */
import { decodeArgs, encodeResult } from './codec.js';
import { RunningJob } from './context.js';
import { serializeError } from './errors.js';
import { findTask, loadTaskModule, preloadTaskModule, taskModuleUrl, taskNames } from './loader.js';
import type { JobFailure, JobMessage, JobReply } from './protocol.js';
import { RetryRequest } from './retry.js';

preloadTaskModule();

export default async function runJob(message: JobMessage): Promise<JobReply> {
  const job = new RunningJob(message.id, message.task, message.attempt, message.control);
  try {
    let module: Record<string, unknown>;
    try {
      module = await loadTaskModule();
    } catch (error) {
      throw { type: 'load-error', module: taskModuleUrl(), error: serializeError(error) } satisfies JobFailure;
    }
    const task = findTask(module, message.task);
    if (!task) throw { type: 'unknown-task', task: message.task, available: taskNames(module) } satisfies JobFailure;
    let result: unknown;
    try {
      const args = decodeArgs(message);
      result = await job.run(() => task(...args));
    } catch (error) {
      if (error instanceof RetryRequest) {
        const reason = error.cause === undefined ? undefined : serializeError(error.cause);
        throw { type: 'retry-requested', delay: error.delay, reason } satisfies JobFailure;
      }
      throw { type: 'task-error', error: serializeError(error) } satisfies JobFailure;
    }
    return encodeResult(result);
  } finally {
    job.dispose();
  }
}
