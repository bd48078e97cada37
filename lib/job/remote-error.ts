import type { JobFailure, SerializedError } from '../../workers/protocol.js';
import { SerializationError, TaskError, TaskLoadError, UnknownTaskError, type JobInfo, type RunError } from '../errors.js';

const BUILT_IN_ERRORS: Record<string, ErrorConstructor> = {
  Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
};

/**
 * Rebuilds what a task threw: an Error with the original name, message,
 * worker stack, `code`, `cause` and cloneable fields (a built-in class when
 * the name is a built-in's), or the thrown value itself when it was not an
 * error.
 */
export function rebuildError(serialized: SerializedError): unknown {
  if (serialized.type === 'value') return serialized.value;
  const Constructor = Object.hasOwn(BUILT_IN_ERRORS, serialized.name) ? BUILT_IN_ERRORS[serialized.name]! : Error;
  const error = new Constructor(serialized.message) as Error & Record<string, unknown>;
  Object.assign(error, serialized.props);
  if (serialized.name !== Constructor.name) error.name = serialized.name;
  if (serialized.stack !== undefined) error.stack = serialized.stack;
  if (serialized.code !== undefined) error.code = serialized.code;
  if (serialized.cause !== undefined) error.cause = rebuildError(serialized.cause);
  return error;
}

/** The error a job settles with when its worker reported a failure. */
export function failureToError(failure: JobFailure, job: JobInfo): RunError {
  switch (failure.type) {
    case 'task-error':
      return new TaskError({ cause: rebuildError(failure.error), job });
    case 'unknown-task':
      return new UnknownTaskError(failure.task, failure.available, { job });
    case 'load-error':
      return new TaskLoadError(failure.module, { cause: rebuildError(failure.error), job });
    case 'result-not-cloneable':
      return new SerializationError('result', failure.path, failure.detail, { job });
    case 'retry-requested':
      // The attempt's error when the retry is granted, and the last one when it is not.
      return new TaskError({ cause: failure.reason ? rebuildError(failure.reason) : new Error('The task asked to be retried.'), job });
  }
}

/** Whether a rejection from the pool is a failure our worker entry reported. */
export function isJobFailure(value: unknown): value is JobFailure {
  if (typeof value !== 'object' || value === null || value instanceof Error) return false;
  const type = (value as { type?: unknown }).type;
  return type === 'task-error' || type === 'unknown-task' || type === 'load-error' || type === 'result-not-cloneable' || type === 'retry-requested';
}
