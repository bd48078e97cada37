import { threadId, type MessagePort } from 'node:worker_threads';
import { deserialize, serialize } from 'node:v8';
import { findUncloneablePath, isPlainPrimitive } from './clone-path.js';
import { piscinaSymbols } from './piscina-symbols.js';
import type { ChunkResult, JobFailure, JobReply, JobValue, RetireReason, RunJob, RunReply } from './protocol.js';
import { TransferredResult } from './transfer.js';

export function decodeArgs(job: Pick<RunJob, 'args' | 'isEncoded'>): unknown[] {
  return job.isEncoded ? (deserialize(job.args as Uint8Array) as unknown[]) : (job.args as unknown[]);
}

/**
 * A run's reply in one message. Primitives travel as they are. Anything
 * else is serialized here, so a value that cannot be cloned fails its own
 * job with a clear error instead of failing inside Piscina's postMessage,
 * which kills the thread. The bytes are then moved, not copied, so a value
 * is still cloned only once. `values[i]` is `jobs[i]`'s value (a
 * `ChunkResult` for a chunk).
 */
export function encodeRun(
  jobs: readonly RunJob[],
  values: unknown[],
  failures: (JobFailure | undefined)[] | undefined,
  progress: (unknown[] | undefined)[] | undefined,
  ms: number,
): JobReply {
  const transferList: (ArrayBuffer | MessagePort)[] = [];
  const replies: JobValue[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (failures?.[i]) continue;
    try {
      replies[i] = jobs[i]!.inputs === undefined ? encodeValue(values[i], transferList) : encodeChunk(values[i] as ChunkResult, transferList);
    } catch (failure) {
      failures ??= new Array(values.length);
      failures[i] = failure as JobFailure;
    }
  }
  // Left out when empty: a run of one job crosses often, and every key is cloned.
  const reply: RunReply = { type: 'run', values: replies, ms };
  if (failures) reply.failures = failures;
  if (progress) reply.progress = progress;
  return transferList.length > 0 ? movable(reply, transferList) : reply;
}

/** A chunk's value as it travels, in one piece; a value that cannot be cloned fails only its own input. */
function encodeChunk(result: ChunkResult, transferList: (ArrayBuffer | MessagePort)[]): JobValue {
  // Primitive values (and failures, plain data) always clone: they travel
  // as they are, neither serialized here nor deserialized on the main thread.
  if (result.values.every(isPlainPrimitive)) return { type: 'moved', value: result };
  try {
    return encodeValue(result, transferList);
  } catch {
    const { values } = result;
    for (let i = 0; i < values.length; i++) {
      if (result.failures?.[i]) continue;
      try {
        encodeValue(values[i], []);
      } catch (failure) {
        (result.failures ??= new Array<JobFailure | undefined>(values.length))[i] = failure as JobFailure;
        values[i] = undefined;
      }
    }
    return encodeValue(result, transferList);
  }
}

/** A value as it travels, its buffers added to `transferList`. Throws a `JobFailure` when it cannot be cloned. */
export function encodeValue(result: unknown, transferList: (ArrayBuffer | MessagePort)[]): JobValue {
  if (isPlainPrimitive(result)) return result as JobValue;
  let bytes: Buffer;
  try {
    // A Proxy's traps or a getter may throw anywhere here: the result cannot be copied.
    if (result instanceof TransferredResult) {
      transferList.push(...result.transferList);
      return { type: 'moved', value: result.value };
    }
    bytes = serialize(result);
  } catch (error) {
    const failure: JobFailure = { type: 'result-not-cloneable', path: findUncloneablePath(result, 'result'), detail: describeError(error) };
    throw failure;
  }
  // v8.serialize() returns a Buffer that owns its whole ArrayBuffer, so
  // moving that buffer detaches nothing else.
  transferList.push(bytes.buffer as ArrayBuffer);
  return { type: 'encoded', bytes };
}

function movable(reply: JobReply, transferList: (ArrayBuffer | MessagePort)[]): JobReply {
  return {
    [piscinaSymbols.kMovable]: true,
    [piscinaSymbols.kTransferable]: transferList,
    [piscinaSymbols.kValue]: reply,
  } as unknown as JobReply;
}

/** A run's reply (or failure) marked as this thread's last: moved buffers stay moved. */
export function markRetiring(reply: JobReply | undefined, failure: unknown, reason: RetireReason): JobReply {
  const envelope = reply as Record<symbol, unknown> | undefined;
  if (typeof envelope === 'object' && envelope !== null && envelope[piscinaSymbols.kMovable]) {
    const inner = envelope[piscinaSymbols.kValue] as JobReply;
    return movable({ type: 'retiring', threadId, reason, reply: inner, failure }, envelope[piscinaSymbols.kTransferable] as (ArrayBuffer | MessagePort)[]);
  }
  return { type: 'retiring', threadId, reason, reply, failure };
}

function describeError(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error);
  } catch {
    return 'reading it threw';
  }
}
