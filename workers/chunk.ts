/**
 * A `map` chunk, one job of a run (see lib/workflows/map-chunks.ts): its
 * task once per input, one after another, each outcome kept apart. The
 * inputs share the chunk job's context (job id, attempt, signal).
 */
import { taskFailure } from './errors.js';
import type { TaskFunction } from './loader.js';
import type { ChunkResult, JobFailure, RunJob } from './protocol.js';
import { isThenable } from './thenable.js';
import { TransferredResult } from './transfer.js';

/** Runs each input of a chunk (`args` decoded) in the caller's job context. */
export async function runInputs(task: TaskFunction, job: RunJob, args: unknown[]): Promise<ChunkResult> {
  const count = job.isEncoded ? args.length : (args[0] as number);
  // Filled by push, so that it stays packed: an array without holes is
  // cloned element by element, not as a sparse list of keys.
  const values: unknown[] = [];
  const result: ChunkResult = { values, failures: undefined };
  const call = callerOf(task, args, job.isEncoded === true);
  for (let i = 0; i < count; i++) {
    try {
      let value = call(i);
      // A synchronous task costs no promise.
      if (isThenable(value)) value = await value;
      // Buffers inside a chunk's reply are copied, not moved.
      values.push(isTransferred(value) ? value.value : value);
    } catch (error) {
      values.push(undefined);
      (result.failures ??= new Array<JobFailure | undefined>(count))[i] = taskFailure(error);
    }
  }
  return result;
}

/** Calls the task with input `i`'s arguments, from either form of a chunk's `args` (see `RunJob.inputs`). */
function callerOf(task: TaskFunction, args: unknown[], isEncoded: boolean): (i: number) => unknown {
  if (isEncoded) return (i) => task(...(args[i] as unknown[]));
  const arity = args[1] as number;
  if (arity === 1) return (i) => task(args[2 + i]);
  if (arity === 2) return (i) => task(args[2 + 2 * i], args[3 + 2 * i]);
  return (i) => task(...args.slice(2 + arity * i, 2 + arity * (i + 1)));
}

// `instanceof` runs a Proxy's getPrototypeOf trap: a result that throws there is the reply's to refuse, not a task error.
function isTransferred(value: unknown): value is TransferredResult {
  try {
    return value instanceof TransferredResult;
  } catch {
    return false;
  }
}
