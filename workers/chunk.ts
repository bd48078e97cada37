/**
 * What a thread runs for a `map` chunk (see lib/map-chunks.ts): the task
 * once per input, one after another, each outcome kept apart, and all of
 * them back in one reply. The chunk is one job: its inputs share its
 * context (job id, attempt, signal) and its control port.
 */
import { decodeArgs, encodeResult } from './codec.js';
import { RunningJob } from './context.js';
import { taskFailure } from './errors.js';
import type { TaskFunction } from './loader.js';
import type { ChunkMessage, ChunkResult, JobFailure, JobReply } from './protocol.js';
import { isThenable } from './thenable.js';
import { TransferredResult } from './transfer.js';

/** Runs a chunk; `resolving` is its task, or a thrown `JobFailure` that fails the whole chunk. */
export async function runChunk(message: ChunkMessage, resolving: Promise<TaskFunction>): Promise<JobReply> {
  const job = new RunningJob(message.id, message.task, message.attempt, message.control);
  try {
    const task = await resolving;
    const args = decodeArgs(message);
    const count = message.isEncoded ? args.length : (args[0] as number);
    const result: ChunkResult = { values: new Array(count), failures: undefined, ms: 0 };
    const started = performance.now();
    await job.run(() => runEach(count, callerOf(task, args, message.isEncoded), result));
    result.ms = performance.now() - started;
    return encodeChunk(result);
  } finally {
    job.dispose();
  }
}

/** Calls the task with input `i`'s arguments, from either form of a chunk's `args` (see `ChunkMessage`). */
function callerOf(task: TaskFunction, args: unknown[], isEncoded: boolean): (i: number) => unknown {
  if (isEncoded) return (i) => task(...(args[i] as unknown[]));
  const arity = args[1] as number;
  if (arity === 1) return (i) => task(args[2 + i]);
  if (arity === 2) return (i) => task(args[2 + 2 * i], args[3 + 2 * i]);
  return (i) => task(...args.slice(2 + arity * i, 2 + arity * (i + 1)));
}

async function runEach(count: number, call: (i: number) => unknown, result: ChunkResult): Promise<void> {
  const { values } = result;
  for (let i = 0; i < count; i++) {
    try {
      let value = call(i);
      // A synchronous task costs no promise.
      if (isThenable(value)) value = await value;
      // Buffers inside a chunk's reply are copied, not moved.
      values[i] = isTransferred(value) ? value.value : value;
    } catch (error) {
      (result.failures ??= new Array<JobFailure | undefined>(count))[i] = taskFailure(error);
    }
  }
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

// `instanceof` runs a Proxy's getPrototypeOf trap: a result that throws there is the reply's to refuse, not a task error.
function isTransferred(value: unknown): value is TransferredResult {
  try {
    return value instanceof TransferredResult;
  } catch {
    return false;
  }
}
