import { deserialize, serialize } from 'node:v8';
import type { SerializedError } from '../../../workers/protocol.js';
import {
  BaoziError,
  BrokerUnreachableError,
  CancelledError,
  JobExpiredError,
  MalformedJobError,
  SerializationError,
  TaskError,
  TaskLoadError,
  TimeoutError,
  UnknownTaskError,
  WorkerCrashedError,
  type CrashReason,
  type JobInfo,
} from '../../errors.js';
import { rebuildError } from '../../job/remote-error.js';
import type { RetryPolicy } from '../../semantics/retry.js';
import { isPlainValue, type PlainValue } from '../plain-value.js';

/**
 * What travels through Redis, as JSON: a job's data, its result and its
 * error. Arguments and results are v8-serialized (what a thread receives)
 * and base64-encoded, so a `Uint8Array`, a `Map` or a `Date` arrives as it
 * left; errors travel as their class, `code` and fields, rebuilt as the
 * same class on the other side. Arguments that are all plain values
 * (`PlainValue`) travel as themselves, and so does a plain result of such a
 * job: JSON carries them exactly, and a tiny job is spared a v8 pass and a
 * base64 pass on each side.
 */

/** A job's data on the queue. Its BullMQ name is the task name. */
export interface WireJob {
  /** Marks data written by baozi, and its format's version. */
  baozi: 1;
  /**
   * v8-serialized arguments, base64; or the arguments themselves when all
   * are plain values. A producer that sends them plain reads plain results.
   */
  args: string | PlainValue[];
  timeout?: number;
  softTimeout?: number;
  /** Epoch ms; a job that has not started by then fails as expired when a consumer takes it. */
  expiresAt?: number;
  /** The backoff between runs; BullMQ's `attempts` counts them. */
  retry?: Omit<RetryPolicy, 'retryOn' | 'max'>;
  /** A `map` chunk: one job of `size` inputs, its `args` flat or one list per input (see `Chunk.payload`). */
  chunk?: { size: number; isFlat: boolean };
  /** Set when the producer gave `onProgress`: only then does the consumer send progress back (a channel per job costs a tiny job dearly). */
  progress?: true;
  /** A chord's callback: its members' job ids, in order; their results become its first argument. */
  chord?: string[];
}

/** A job's BullMQ return value: v8-serialized, base64; or, for a job whose arguments came plain, a plain value as itself. */
export type WireResult = { v8: string } | { plain: PlainValue };

/** A failed job's BullMQ `failedReason`: this, as JSON. */
export interface WireFailure {
  baozi: 1;
  error: WireError;
}

interface WireError {
  /** The `BaoziError` subclass. */
  class: string;
  code: string;
  message: string;
  fields: Record<string, unknown>;
  cause?: SerializedError;
}

/** BullMQ's 1 runs first and larger numbers later; baozi's higher runs first (-1000 to 1000). */
export function toBullPriority(priority: number): number {
  return 1001 - priority;
}

export function encodeArgsForWire(args: unknown[] | Uint8Array, isEncoded: boolean): string | PlainValue[] {
  if (!isEncoded && (args as unknown[]).every(isPlainValue)) return args as PlainValue[];
  return encodeArgsAsV8(args, isEncoded);
}

/** Arguments v8-serialized, base64: the form they always had on the wire, which names a schedule (see `schedulerId`). */
export function encodeArgsAsV8(args: unknown[] | Uint8Array, isEncoded: boolean): string {
  const bytes = isEncoded ? (args as Uint8Array) : serialize(args);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Checks data read off the queue. Throws `MalformedJobError`. `args`:
 * v8-serialized (`isEncoded`), or the plain values that came.
 */
export function decodeWireJob(data: unknown): Omit<WireJob, 'args'> & { args: Uint8Array | PlainValue[]; isEncoded: boolean } {
  if (typeof data !== 'object' || data === null || (data as { baozi?: unknown }).baozi !== 1) {
    throw new MalformedJobError('its data has no `baozi: 1` mark (it was not written by a baozi runner)');
  }
  const job = data as Record<string, unknown>;
  let args: Uint8Array | PlainValue[];
  if (Array.isArray(job.args)) {
    if (!job.args.every(isPlainValue)) throw new MalformedJobError('its `args` list holds a value that is not plain (a string, a finite number, a boolean or null)');
    args = job.args;
  } else if (typeof job.args === 'string') {
    args = decodeBase64Args(job.args);
  } else {
    throw new MalformedJobError('its `args` is neither a base64 string nor a list of plain values');
  }
  for (const key of ['timeout', 'softTimeout', 'expiresAt'] as const) {
    const value = job[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)) {
      throw new MalformedJobError(`its \`${key}\` is not a positive number`);
    }
  }
  const chunk = job.chunk as WireJob['chunk'] | undefined;
  if (chunk !== undefined && (typeof chunk !== 'object' || chunk === null || !Number.isInteger(chunk.size) || chunk.size < 1 || typeof chunk.isFlat !== 'boolean')) {
    throw new MalformedJobError('its `chunk` is not `{ size, isFlat }`');
  }
  if (chunk?.isFlat === false && Array.isArray(args)) throw new MalformedJobError('its `args` are plain values, but its `chunk` says one list per input');
  const chord = job.chord;
  if (chord !== undefined && (!Array.isArray(chord) || !chord.every((id) => typeof id === 'string'))) throw new MalformedJobError('its `chord` is not a list of job ids');
  return { ...(job as unknown as WireJob), args, isEncoded: !Array.isArray(args) };
}

function decodeBase64Args(text: string): Uint8Array {
  // Its own ArrayBuffer: a small Buffer is a view of an 8 KB pool, all of which a postMessage would copy.
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  let args: unknown;
  try {
    args = deserialize(bytes);
  } catch (error) {
    throw new MalformedJobError('its `args` do not decode (not v8-serialized)', { cause: error });
  }
  if (!Array.isArray(args)) throw new MalformedJobError('its `args` decode to something other than an array');
  return bytes;
}

/** `isPlainReader`: the job's producer reads plain results (it sent plain arguments). */
export function encodeResult(value: unknown, isPlainReader: boolean): WireResult {
  if (isPlainReader && isPlainValue(value)) return { plain: value };
  return { v8: serialize(value).toString('base64') };
}

export function decodeResult(value: unknown): unknown {
  if (typeof value === 'string') value = JSON.parse(value) as unknown;
  if (typeof value !== 'object' || value === null) return value;
  if (typeof (value as { v8?: unknown }).v8 === 'string') return deserialize(Buffer.from((value as { v8: string }).v8, 'base64'));
  if ('plain' in value && isPlainValue(value.plain)) return value.plain;
  return value;
}

// Fields of each class worth carrying; the rest is rebuilt from them.
const FIELDS = ['kind', 'limitMs', 'reason', 'exitCode', 'direction', 'path', 'module', 'taskName', 'available', 'operation', 'waitedMs', 'detail'] as const;

export function encodeFailure(error: unknown): string {
  const wire: WireError =
    error instanceof BaoziError
      ? {
          class: error.name,
          code: error.code,
          message: error.message,
          fields: Object.fromEntries(FIELDS.filter((key) => key in error).map((key) => [key, (error as unknown as Record<string, unknown>)[key]])),
          ...(error.cause === undefined ? {} : { cause: toSerialized(error.cause) }),
        }
      : { class: 'TaskError', code: 'BAOZI_TASK_FAILED', message: String(error), fields: {}, cause: toSerialized(error) };
  return JSON.stringify({ baozi: 1, error: wire } satisfies WireFailure);
}

/**
 * The error a producer settles a failed job with: the consumer's error as
 * the same class, `code` and fields, for this job. A `failedReason` baozi
 * did not write (a job failed by hand, or by BullMQ itself: stalled too
 * often) becomes a `WorkerCrashedError` when it says the job stalled, a
 * `TaskError` otherwise.
 */
export function decodeFailure(failedReason: string | undefined, job: JobInfo): BaoziError {
  let wire: WireError | undefined;
  try {
    const parsed = JSON.parse(failedReason ?? '') as Partial<WireFailure>;
    if (parsed?.baozi === 1 && typeof parsed.error === 'object') wire = parsed.error;
  } catch {
    // Not ours: handled below.
  }
  if (!wire) {
    const reason = failedReason ?? 'no reason given';
    if (/stalled/i.test(reason)) return new WorkerCrashedError('exit', undefined, { cause: new Error(reason), job });
    return new TaskError({ cause: new Error(reason), job });
  }
  const cause = wire.cause === undefined ? undefined : rebuildError(wire.cause);
  const f = wire.fields;
  let error: BaoziError;
  switch (wire.class) {
    case 'TimeoutError':
      error = new TimeoutError(f.kind as 'soft' | 'hard', f.limitMs as number, { cause, job });
      break;
    case 'WorkerCrashedError':
      error = new WorkerCrashedError(f.reason as CrashReason, f.exitCode as number | undefined, { cause, job });
      break;
    case 'JobExpiredError':
      error = new JobExpiredError({ job, expiredAt: Date.now() });
      break;
    case 'SerializationError':
      error = new SerializationError(f.direction as 'argument' | 'result', f.path as string | undefined, '', { cause, job });
      break;
    case 'UnknownTaskError':
      error = new UnknownTaskError(f.taskName as string, (f.available as string[]) ?? [], { job });
      break;
    case 'TaskLoadError':
      error = new TaskLoadError(f.module as string, { cause, job });
      break;
    case 'CancelledError':
      error = new CancelledError(wire.message, { cause, job });
      break;
    case 'MalformedJobError':
      error = new MalformedJobError(f.detail as string, { cause, job });
      break;
    case 'BrokerUnreachableError':
      error = new BrokerUnreachableError(f.operation as string, f.waitedMs as number, { cause, job });
      break;
    default:
      error = new TaskError({ cause, job });
  }
  // The consumer's own words (a JobExpiredError's time, a SerializationError's detail).
  error.message = wire.message;
  return error;
}

/** Whether BullMQ may retry a run that failed with this error: only a task's own errors, as in-process. */
export function isRetryable(error: unknown): boolean {
  return error instanceof TaskError;
}

/** A thrown value as JSON-safe `SerializedError`, for `rebuildError`. */
export function toSerialized(value: unknown, depth = 0): SerializedError {
  if (!(value instanceof Error)) return { type: 'value', value: jsonSafe(value), description: describe(value) };
  const props: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (key === 'code' || key === 'cause') continue;
    const safe = jsonSafe(entry);
    if (safe !== undefined) props[key] = safe;
  }
  const code = (value as { code?: unknown }).code;
  return {
    type: 'error',
    name: value.name,
    message: value.message,
    stack: value.stack,
    code: jsonSafe(code),
    ...(value.cause !== undefined && depth < 8 ? { cause: toSerialized(value.cause, depth + 1) } : {}),
    props,
  };
}

function jsonSafe(value: unknown): unknown {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return describe(value);
  }
}

function describe(value: unknown): string {
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}
