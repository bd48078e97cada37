import { threadId, type MessagePort } from 'node:worker_threads';
import { deserialize, serialize } from 'node:v8';
import { findUncloneablePath } from './clone-path.js';
import { piscinaSymbols } from './piscina-symbols.js';
import type { JobFailure, JobReply, JobValue, RetireReason, RunJob, RunReply } from './protocol.js';
import { TransferredResult } from './transfer.js';

export function decodeArgs(job: Pick<RunJob, 'args' | 'isEncoded'>): unknown[] {
  return job.isEncoded ? (deserialize(job.args as Uint8Array) as unknown[]) : (job.args as unknown[]);
}

/**
 * A run's reply in one message. Primitives travel as they are. Anything
 * else is serialized here, so a value that cannot be cloned fails its own
 * job with a clear error instead of failing inside Piscina's postMessage,
 * which kills the thread. The bytes are then moved, not copied, so a value
 * is still cloned only once. `encode(i, list)` encodes job i's value.
 */
export function encodeRun(
  values: unknown[],
  failures: (JobFailure | undefined)[] | undefined,
  progress: (unknown[] | undefined)[] | undefined,
  ms: number,
  encode: (value: unknown, transferList: (ArrayBuffer | MessagePort)[], index: number) => JobValue = encodeValue,
): JobReply {
  const transferList: (ArrayBuffer | MessagePort)[] = [];
  const replies: JobValue[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (failures?.[i]) continue;
    try {
      replies[i] = encode(values[i], transferList, i);
    } catch (failure) {
      failures ??= new Array(values.length);
      failures[i] = failure as JobFailure;
    }
  }
  const reply: RunReply = { type: 'run', values: replies, failures, progress, ms };
  return transferList.length > 0 ? movable(reply, transferList) : reply;
}

/** A value as it travels, its buffers added to `transferList`. Throws a `JobFailure` when it cannot be cloned. */
export function encodeValue(result: unknown, transferList: (ArrayBuffer | MessagePort)[]): JobValue {
  if (result === null || (typeof result !== 'object' && typeof result !== 'function' && typeof result !== 'symbol')) {
    return result as JobValue;
  }
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
