import { deserialize, serialize } from 'node:v8';
import type { Outcome } from '../contract.js';
import { isPlainValue } from '../plain-value.js';

/**
 * How values sit in the journal's columns. Arguments and results made only
 * of JSON-safe primitives (the common, tiny case) are written as JSON text,
 * which costs a fraction of `v8.serialize()`; anything else as v8 bytes, the
 * format arguments travel in already. Errors as JSON of their name, message,
 * `code`, stack and cause: enough to match on `code` after a restart.
 */

/** A column's value: JSON text, or v8 bytes. */
export type Column = string | Uint8Array;

/** The arguments as a column. Arguments already encoded are written as they are. */
export function argsColumn(args: unknown[] | Uint8Array, isEncoded: boolean): Column {
  if (isEncoded) return args as Uint8Array;
  const list = args as unknown[];
  return list.every(isPlainValue) ? JSON.stringify(list) : serialize(list);
}

/** Arguments read back: as given (JSON) or still encoded (the thread decodes them). */
export function argsFromColumn(column: Column): { args: unknown[] | Uint8Array; isEncoded: boolean } {
  if (typeof column === 'string') return { args: JSON.parse(column) as unknown[], isEncoded: false };
  return { args: column, isEncoded: true };
}

/** The value an outcome keeps: the result, or the error. */
export function outcomeColumn(outcome: Outcome): Column | null {
  if (outcome.state !== 'succeeded') return JSON.stringify(plainError(outcome.error, 0));
  const { result } = outcome;
  if (isPlainValue(result)) return JSON.stringify([result]);
  try {
    return serialize(result);
  } catch {
    // It came back from a thread, so it clones; a result that still does not serialize is not kept.
    return null;
  }
}

export function outcomeFromColumn(state: Outcome['state'], column: Column | null): Outcome {
  if (state === 'succeeded') {
    const result = column === null ? undefined : typeof column === 'string' ? (JSON.parse(column) as unknown[])[0] : deserialize(column);
    return { state, result };
  }
  return { state, error: rebuildError(column === null ? undefined : (JSON.parse(column as string) as PlainError)) };
}

interface PlainError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  cause?: PlainError;
  /** A thrown value that was not an error, described. */
  value?: string;
}

// Causes nest; a few levels carry what matters.
const MAX_CAUSES = 4;

function plainError(error: unknown, depth: number): PlainError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(describe(error)), value: describe(error) };
  const plain: PlainError = { name: error.name, message: error.message };
  const { code } = error as { code?: unknown };
  if (typeof code === 'string') plain.code = code;
  if (typeof error.stack === 'string') plain.stack = error.stack;
  if (error.cause !== undefined && depth < MAX_CAUSES) plain.cause = plainError(error.cause, depth + 1);
  return plain;
}

function describe(value: unknown): string {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function rebuildError(plain: PlainError | undefined): Error {
  if (!plain) return new Error('The journal kept no error for this job.');
  const error = new Error(plain.message, plain.cause ? { cause: rebuildError(plain.cause) } : undefined) as Error & { code?: string };
  error.name = plain.name;
  if (plain.code !== undefined) error.code = plain.code;
  if (plain.stack !== undefined) error.stack = plain.stack;
  return error;
}
