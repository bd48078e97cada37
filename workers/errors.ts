import type { JobFailure, SerializedError } from './protocol.js';
import { RetryRequest } from './retry.js';

const MAX_CAUSE_DEPTH = 8;
const OWN_FIELDS = new Set(['name', 'message', 'stack', 'code', 'cause']);

/**
 * Copies what a task threw into plain data that survives the trip to the
 * main thread: name, message, stack, `code`, `cause` (recursively) and the
 * other own fields that can be cloned. Fields that cannot be cloned are
 * stringified rather than failing the whole reply. Never throws: a field
 * whose getter throws, or a Proxy whose traps throw, is described instead,
 * so what a task throws always fails its job as a task error.
 */
export function serializeError(thrown: unknown, depth = 0): SerializedError {
  try {
    return serializeThrown(thrown, depth);
  } catch {
    const description = 'a value that throws when it is read (a Proxy, or a throwing getter)';
    return { type: 'value', value: `[${description}]`, description };
  }
}

function serializeThrown(thrown: unknown, depth: number): SerializedError {
  if (!isErrorLike(thrown)) {
    return { type: 'value', value: cloneOrDescribe(thrown), description: describe(thrown) };
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (!OWN_FIELDS.has(key)) props[key] = cloneOrDescribe(read(() => (thrown as unknown as Record<string, unknown>)[key]));
  }
  const stack = read(() => thrown.stack);
  const serialized: SerializedError = {
    type: 'error',
    name: readString(() => thrown.name, 'Error'),
    message: readString(() => thrown.message, '(its message could not be read: reading it threw)'),
    stack: typeof stack === 'string' ? stack : undefined,
    code: cloneOrDescribe(read(() => (thrown as { code?: unknown }).code)),
    props,
  };
  const cause = read(() => ('cause' in thrown ? thrown.cause : undefined));
  if (cause !== undefined && depth < MAX_CAUSE_DEPTH) serialized.cause = serializeError(cause, depth + 1);
  return serialized;
}

/** The field's value, or a description when reading it throws. */
function read(get: () => unknown): unknown {
  try {
    return get();
  } catch {
    return '[a getter that threw]';
  }
}

function readString(get: () => unknown, fallback: string): string {
  try {
    return String(get());
  } catch {
    return fallback;
  }
}

function isErrorLike(value: unknown): value is Error {
  return (
    value instanceof Error ||
    (typeof value === 'object' && value !== null && typeof (value as Error).message === 'string' && typeof (value as Error).name === 'string')
  );
}

function cloneOrDescribe(value: unknown): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) return value;
  try {
    return structuredClone(value);
  } catch {
    return describe(value);
  }
}

function describe(value: unknown): string {
  try {
    if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
    if (typeof value === 'symbol') return value.toString();
    if (typeof value === 'object' && value !== null) {
      return `[object ${(Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'null-prototype'}]`;
    }
    return String(value);
  } catch {
    return '[a value that throws when it is read]';
  }
}

/** What a task threw, as the failure its job reports: a request to run again (`retry()`), or a task error. */
export function taskFailure(thrown: unknown): JobFailure {
  if (isRetryRequest(thrown)) {
    return { type: 'retry-requested', delay: thrown.delay, reason: thrown.cause === undefined ? undefined : serializeError(thrown.cause) };
  }
  return { type: 'task-error', error: serializeError(thrown) };
}

// `instanceof` runs a Proxy's getPrototypeOf trap, which may throw.
function isRetryRequest(thrown: unknown): thrown is RetryRequest {
  try {
    return thrown instanceof RetryRequest;
  } catch {
    return false;
  }
}

const FAILURE_TYPES: ReadonlySet<unknown> = new Set(['task-error', 'unknown-task', 'load-error', 'result-not-cloneable', 'retry-requested']);

/**
 * What a run throws, as a `JobFailure`: the failures this thread reports
 * pass as they are; anything else came from the task's values (a thrown or
 * returned value that misbehaved as it was read), and is a task error. A
 * thread that is alive never fails a run with anything else, which the main
 * thread would take for the thread's death.
 */
export function asJobFailure(thrown: unknown): JobFailure {
  try {
    if (typeof thrown === 'object' && thrown !== null && !(thrown instanceof Error) && FAILURE_TYPES.has((thrown as { type?: unknown }).type)) {
      return thrown as JobFailure;
    }
  } catch {
    // A Proxy: not one of ours.
  }
  return taskFailure(thrown);
}
