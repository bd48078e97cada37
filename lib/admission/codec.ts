import { deserialize, serialize } from 'node:v8';
import type { JobValue } from '../../workers/protocol.js';
import { findUncloneablePath, isDetached, isPlainPrimitive } from '../../workers/clone-path.js';
import { PayloadTooLargeError, SerializationError, type JobInfo } from '../errors.js';
import { DEFAULTS } from '../options.js';

/** What `encodeArgs` needs besides the arguments. */
export interface EncodeOptions {
  /** Buffers to move rather than copy: the arguments then travel as they are. */
  transferList?: unknown[] | undefined;
  /** @default DEFAULTS.maxPayloadBytes */
  maxPayloadBytes?: number;
  /** The job the arguments are for, named by the errors thrown. */
  job?: JobInfo;
}

/** Arguments as they travel to the thread. */
export interface EncodedArgs {
  args: unknown[] | Uint8Array;
  isEncoded: boolean;
}

/**
 * Arguments made only of primitives travel as they are (the fast path for
 * tiny jobs). Others are serialized now, at submit, so that arguments that
 * cannot be cloned are rejected before the job is accepted, and the table
 * holds bytes rather than the caller's objects. Arguments with a
 * `transferList` travel as they are, so their buffers move without a copy.
 * Throws `PayloadTooLargeError` past `maxPayloadBytes`: the serialized
 * size, or an estimate for arguments that travel as they are.
 */
export function encodeArgs(args: unknown[], options: EncodeOptions = {}): EncodedArgs {
  const { transferList, maxPayloadBytes = DEFAULTS.maxPayloadBytes, job } = options;
  if (transferList || args.every(isPlainPrimitive)) {
    // Arguments that travel as they are must still be checked now, not fail at dispatch.
    if (transferList) {
      const refusal = findTransferProblem(args, transferList, job);
      if (refusal) throw refusal;
    }
    const size = transferList ? estimateSize(args, maxPayloadBytes) : primitivesSize(args);
    if (size > maxPayloadBytes) throw new PayloadTooLargeError(size, maxPayloadBytes, { job });
    // A copy: the caller may reuse its array for the next job while this one waits.
    return { args: [...args], isEncoded: false };
  }
  let bytes: Buffer;
  try {
    bytes = serialize(args);
  } catch (error) {
    throw new SerializationError('argument', findUncloneablePath(args, 'args'), error instanceof Error ? error.message : String(error), { cause: error, job });
  }
  if (bytes.length > maxPayloadBytes) throw new PayloadTooLargeError(bytes.length, maxPayloadBytes, { job });
  return { args: bytes, isEncoded: true };
}

const UNCLONEABLE = 'it cannot be cloned (a function, symbol, WeakMap, WeakSet, Promise, a MessagePort not in transferList, a detached ArrayBuffer, or a getter that throws)';

/**
 * Why arguments that travel as they are with a `transferList` cannot be
 * sent, or undefined: a listed buffer already detached (moved by an earlier
 * transfer; posting it would leave the job's message unreadable in the
 * thread), or a part of the arguments that cannot be cloned. Checked at
 * submit, and again as the job is sent: a buffer may be moved meanwhile.
 */
export function findTransferProblem(args: unknown, transferList: readonly unknown[], job?: JobInfo): SerializationError | undefined {
  for (let i = 0; i < transferList.length; i++) {
    if (isDetached(transferList[i] as ArrayBuffer)) {
      return new SerializationError('argument', `transferList[${i}]`, 'the ArrayBuffer is detached: an earlier transfer moved it away. Send a copy, or a buffer not yet moved', { job });
    }
  }
  const path = findUncloneablePath(args, 'args', new Set(transferList));
  return path ? new SerializationError('argument', path, UNCLONEABLE, { job }) : undefined;
}

/** One job's value as it arrived in its run's reply. */
export function decodeReply(reply: JobValue): unknown {
  if (reply === null || typeof reply !== 'object') return reply;
  if (reply.type === 'encoded') return deserialize(reply.bytes);
  return reply.value;
}

// Values of other types, and the header of each object, as serialization roughly counts them.
const VALUE_BYTES = 8;
// The walk stops there: the estimate is then a lower bound (the whole tree of a huge argument is not walked at submit).
const MAX_NODES = 10_000;

function primitivesSize(args: unknown[]): number {
  let size = 0;
  for (const arg of args) size += typeof arg === 'string' ? arg.length * 2 : VALUE_BYTES;
  return size;
}

/**
 * About how many bytes `value` takes on its way to a thread: 2 per string
 * character, the bytes of each ArrayBuffer (once, however many views share
 * it; a SharedArrayBuffer is shared, not sent), 8 for any other value or
 * object header. Stops early once past `limit`.
 */
function estimateSize(value: unknown, limit: number): number {
  const seen = new Set<object>();
  let size = 0;
  const visit = (current: unknown): void => {
    if (typeof current === 'string') {
      size += current.length * 2;
      return;
    }
    size += VALUE_BYTES;
    if (current === null || typeof current !== 'object' || seen.has(current) || seen.size >= MAX_NODES || size > limit) return;
    seen.add(current);
    if (current instanceof ArrayBuffer) {
      size += current.byteLength;
    } else if (ArrayBuffer.isView(current)) {
      visit(current.buffer);
    } else if (current instanceof Map) {
      for (const [key, entry] of current) {
        visit(key);
        visit(entry);
      }
    } else if (current instanceof Set) {
      for (const entry of current) visit(entry);
    } else if (!(current instanceof SharedArrayBuffer)) {
      for (const key of Object.keys(current)) {
        size += key.length * 2;
        visit((current as Record<string, unknown>)[key]);
      }
    }
  };
  visit(value);
  return size;
}
