/**
 * What a thread runs for a `map` chunk (see lib/map-chunks.ts): the task
 * once per input, one after another, each outcome kept apart, and all of
 * them back in one reply. The chunk is one job: its inputs share its
 * context (job id, attempt, signal) and its control port.
 */
import { decodeArgs, encodeResult } from './codec.js';
import { RunningJob } from './context.js';
import { serializeError } from './errors.js';
import type { TaskFunction } from './loader.js';
import type { ChunkMessage, ChunkResult, JobFailure, JobReply } from './protocol.js';
import { RetryRequest } from './retry.js';
import { TransferredResult } from './transfer.js';

/** Runs a chunk; `resolving` is its task, or a thrown `JobFailure` that fails the whole chunk. */
export async function runChunk(message: ChunkMessage, resolving: Promise<TaskFunction>): Promise<JobReply> {
  const job = new RunningJob(message.id, message.task, message.attempt, message.control);
  try {
    const task = await resolving;
    const argLists = decodeArgs(message) as unknown[][];
    const result: ChunkResult = { values: new Array(argLists.length), failures: undefined, ms: 0 };
    const started = performance.now();
    await job.run(() => runEach(task, argLists, result));
    result.ms = performance.now() - started;
    return encodeChunk(result);
  } finally {
    job.dispose();
  }
}

async function runEach(task: TaskFunction, argLists: unknown[][], result: ChunkResult): Promise<void> {
  const { values } = result;
  for (let i = 0; i < argLists.length; i++) {
    try {
      let value = task(...argLists[i]!);
      // A synchronous task costs no promise.
      if (isThenable(value)) value = await value;
      // Buffers inside a chunk's reply are copied, not moved.
      values[i] = value instanceof TransferredResult ? value.value : value;
    } catch (error) {
      (result.failures ??= new Array<JobFailure | undefined>(argLists.length))[i] = toFailure(error);
    }
  }
}

function toFailure(error: unknown): JobFailure {
  if (error instanceof RetryRequest) {
    return { type: 'retry-requested', delay: error.delay, reason: error.cause === undefined ? undefined : serializeError(error.cause) };
  }
  return { type: 'task-error', error: serializeError(error) };
}

/** The whole result in one message; a value that cannot be cloned fails only its own input. */
function encodeChunk(result: ChunkResult): JobReply {
  try {
    return encodeResult(result);
  } catch {
    const { values } = result;
    for (let i = 0; i < values.length; i++) {
      if (result.failures?.[i]) continue;
      try {
        encodeResult(values[i]);
      } catch (failure) {
        (result.failures ??= new Array<JobFailure | undefined>(values.length))[i] = failure as JobFailure;
        values[i] = undefined;
      }
    }
    return encodeResult(result);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}
