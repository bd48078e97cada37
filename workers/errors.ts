import type { JobFailure, SerializedError } from './protocol.js';
import { RetryRequest } from './retry.js';

const MAX_CAUSE_DEPTH = 8;
const OWN_FIELDS = new Set(['name', 'message', 'stack', 'code', 'cause']);

/**
 * Copies what a task threw into plain data that survives the trip to the
 * main thread: name, message, stack, `code`, `cause` (recursively) and the
 * other own fields that can be cloned. Fields that cannot be cloned are
 * stringified rather than failing the whole reply.
 */
export function serializeError(thrown: unknown, depth = 0): SerializedError {
  if (!isErrorLike(thrown)) {
    return { type: 'value', value: cloneOrDescribe(thrown), description: describe(thrown) };
  }
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(thrown)) {
    if (!OWN_FIELDS.has(key)) props[key] = cloneOrDescribe((thrown as unknown as Record<string, unknown>)[key]);
  }
  const serialized: SerializedError = {
    type: 'error',
    name: String(thrown.name),
    message: String(thrown.message),
    stack: typeof thrown.stack === 'string' ? thrown.stack : undefined,
    code: cloneOrDescribe((thrown as { code?: unknown }).code),
    props,
  };
  if ('cause' in thrown && thrown.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    serialized.cause = serializeError(thrown.cause, depth + 1);
  }
  return serialized;
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
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'object' && value !== null) {
    return `[object ${(Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'null-prototype'}]`;
  }
  return String(value);
}

/** What a task threw, as the failure its job reports: a request to run again (`retry()`), or a task error. */
export function taskFailure(thrown: unknown): JobFailure {
  if (thrown instanceof RetryRequest) {
    return { type: 'retry-requested', delay: thrown.delay, reason: thrown.cause === undefined ? undefined : serializeError(thrown.cause) };
  }
  return { type: 'task-error', error: serializeError(thrown) };
}
