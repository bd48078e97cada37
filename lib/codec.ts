import { deserialize, serialize } from 'node:v8';
import type { JobReply } from '../workers/protocol.js';
import { findUncloneablePath } from '../workers/clone-path.js';
import { SerializationError } from './errors.js';

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
 */
export function encodeArgs(args: unknown[], transferList: unknown[] | undefined): EncodedArgs {
  // A copy: the caller may reuse its array for the next job while this one waits.
  if (transferList || args.every(isPlainPrimitive)) return { args: [...args], isEncoded: false };
  try {
    return { args: serialize(args), isEncoded: true };
  } catch (error) {
    throw new SerializationError('argument', findUncloneablePath(args, 'args'), error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** One job's result as it arrived (alone, or as an item of a batch reply). */
export function decodeReply(reply: JobReply): unknown {
  if (reply === null || typeof reply !== 'object') return reply;
  if (reply.type === 'encoded') return deserialize(reply.bytes);
  if (reply.type === 'moved') return reply.value;
  throw new TypeError('A batch reply is not one result.');
}

function isPlainPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol');
}
