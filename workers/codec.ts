import type { MessagePort } from 'node:worker_threads';
import { deserialize, serialize } from 'node:v8';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { findUncloneablePath } from './clone-path.js';
import type { JobFailure, JobMessage, JobReply } from './protocol.js';
import { TransferredResult } from './transfer.js';

export function decodeArgs(message: JobMessage): unknown[] {
  return message.isEncoded ? (deserialize(message.args as Uint8Array) as unknown[]) : (message.args as unknown[]);
}

/**
 * Primitives travel as they are. Anything else is serialized here, so a
 * result that cannot be cloned fails its job with a clear error instead of
 * failing inside Piscina's postMessage, which kills the thread. The bytes
 * are then moved, not copied, so the result is still cloned only once.
 */
export function encodeResult(result: unknown): JobReply {
  if (result === null || (typeof result !== 'object' && typeof result !== 'function' && typeof result !== 'symbol')) {
    return result as JobReply;
  }
  if (result instanceof TransferredResult) {
    return movable({ type: 'moved', value: result.value }, [...result.transferList]);
  }
  let bytes: Buffer;
  try {
    bytes = serialize(result);
  } catch (error) {
    const failure: JobFailure = {
      type: 'result-not-cloneable',
      path: findUncloneablePath(result, 'result'),
      detail: error instanceof Error ? error.message : String(error),
    };
    throw failure;
  }
  // v8.serialize() returns a Buffer that owns its whole ArrayBuffer, so
  // moving that buffer detaches nothing else.
  return movable({ type: 'encoded', bytes }, [bytes.buffer as ArrayBuffer]);
}

interface PiscinaSymbols {
  kMovable: symbol;
  kTransferable: symbol;
  kValue: symbol;
}

// Piscina's worker runtime, already loaded in this thread, recognises a
// reply to move by these symbols. Reading them from its (cached) symbols
// module spares every thread the ~20 ms import of Piscina's main module,
// which would only be needed for Piscina.move().
const require = createRequire(import.meta.url);
const piscinaSymbols = require(join(dirname(require.resolve('piscina')), 'symbols.js')) as PiscinaSymbols;

function movable(reply: JobReply, transferList: (ArrayBuffer | MessagePort)[]): JobReply {
  return {
    [piscinaSymbols.kMovable]: true,
    [piscinaSymbols.kTransferable]: transferList,
    [piscinaSymbols.kValue]: reply,
  } as unknown as JobReply;
}
