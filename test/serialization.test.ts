import { MessageChannel } from 'node:worker_threads';
import { types } from 'node:util';
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from '@jest/globals';
import { decodeReply, encodeArgs } from '../lib/admission/codec.js';
import { SerializationError, TaskError, TaskLoadError, UnknownTaskError, type JobInfo } from '../lib/errors.js';
import { failureToError, isJobFailure, rebuildError } from '../lib/job/remote-error.js';
import { findUncloneablePath } from '../workers/clone-path.js';
import { serializeError } from '../workers/errors.js';
import type { JobFailure, JobValue } from '../workers/protocol.js';

/** What a thrown value becomes after the trip from the worker thread. */
function roundTrip(thrown: unknown): unknown {
  return rebuildError(structuredClone(serializeError(thrown)));
}

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a synchronous throw');
}

type Loose = Error & Record<string, unknown>;

describe('encodeArgs()', () => {
  it('passes arguments made only of primitives through unencoded', () => {
    const args = [1, 'bun', true, null, undefined, 10n];
    const encoded = encodeArgs(args);
    expect(encoded.isEncoded).toBe(false);
    expect(encoded.args).toEqual([1, 'bun', true, null, undefined, 10n]);
  });

  it('passes no arguments through unencoded', () => {
    expect(encodeArgs([])).toEqual({ args: [], isEncoded: false });
  });

  it('keeps its own copy of primitive arguments, so reusing the array after submit changes nothing', () => {
    const args = [1, 2];
    const encoded = encodeArgs(args);
    args[0] = 100;
    expect(encoded.args).toEqual([1, 2]);
  });

  it('v8-encodes object arguments, which then round-trip', () => {
    const args = [{ filling: 'pork', count: 3 }, [1, 2], new Map([['steam', 8]]), new Date(0), 'plain'];
    const encoded = encodeArgs(args);
    expect(encoded.isEncoded).toBe(true);
    expect(encoded.args).toBeInstanceOf(Uint8Array);
    expect(deserialize(encoded.args as Uint8Array)).toEqual(args);
  });

  it('takes a snapshot: changing an object argument after encoding changes nothing', () => {
    const order = { count: 3 };
    const encoded = encodeArgs([order]);
    order.count = 99;
    expect(deserialize(encoded.args as Uint8Array)).toEqual([{ count: 3 }]);
  });

  it.each([
    ['a function', (): void => {}],
    ['a symbol', Symbol('cb')],
    ['a WeakMap', new WeakMap()],
  ])('rejects %s nested in the arguments with SerializationError naming its path', (_, uncloneable) => {
    const error = thrownBy(() => encodeArgs([1, { cb: uncloneable }]));
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as SerializationError).code).toBe('BAOZI_SERIALIZATION');
    expect((error as SerializationError).direction).toBe('argument');
    expect((error as SerializationError).path).toBe('args[1].cb');
    // v8's DataCloneError comes from outside jest's realm: check it is an error, not its class.
    expect(types.isNativeError((error as SerializationError).cause)).toBe(true);
  });

  it('rejects an uncloneable argument at the top level with its index as the path', () => {
    const error = thrownBy(() => encodeArgs(['ok', Symbol('top')])) as SerializationError;
    expect(error.code).toBe('BAOZI_SERIALIZATION');
    expect(error.path).toBe('args[1]');
  });

  it('passes arguments through unencoded when there is a transferList, so buffers move', () => {
    const buffer = new ArrayBuffer(8);
    const payload = { buffer };
    const encoded = encodeArgs([payload], { transferList: [buffer] });
    expect(encoded.isEncoded).toBe(false);
    expect((encoded.args as unknown[])[0]).toBe(payload);
  });
});

describe('decodeReply()', () => {
  it('gives a primitive reply back as it is', () => {
    for (const reply of [3, 'bun', true, null, undefined, 7n] as JobValue[]) expect(decodeReply(reply)).toBe(reply);
  });

  it('decodes an encoded reply', () => {
    expect(decodeReply({ type: 'encoded', bytes: serialize({ steamed: [1, 2] }) })).toEqual({ steamed: [1, 2] });
  });

  it('unwraps a moved reply', () => {
    const value = new Uint8Array([1, 2]);
    expect(decodeReply({ type: 'moved', value })).toBe(value);
  });
});

describe('findUncloneablePath()', () => {
  it('returns undefined for a cloneable value, cycles included', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    expect(findUncloneablePath([1, { nested: [loop] }, new Map([[1, loop]]), new Set([loop])], 'args')).toBeUndefined();
  });

  it('names object keys with dots and array indexes with brackets', () => {
    expect(findUncloneablePath([1, { order: { items: [0, () => 1] } }], 'args')).toBe('args[1].order.items[1]');
  });

  it('returns the root when the value itself cannot be cloned', () => {
    expect(findUncloneablePath(() => 1, 'result')).toBe('result');
    expect(findUncloneablePath(Symbol('s'), 'result')).toBe('result');
  });

  it.each([
    ['WeakMap', new WeakMap()],
    ['WeakSet', new WeakSet()],
    ['Promise', Promise.resolve()],
  ])('finds a %s', (_, value) => {
    expect(findUncloneablePath({ pending: value }, 'result')).toBe('result.pending');
  });

  it('finds a MessagePort, which crosses only when transferred', () => {
    const { port1, port2 } = new MessageChannel();
    expect(findUncloneablePath([{ reply: port1 }], 'args')).toBe('args[0].reply');
    port1.close();
    port2.close();
  });

  it('finds a value inside a Map by its key, and a key that cannot be cloned', () => {
    expect(findUncloneablePath(new Map([['steam', { cb: () => 1 }]]), 'args[0]')).toBe('args[0].get(steam).cb');
    expect(findUncloneablePath(new Map([[Symbol('k'), 1]]), 'args[0]')).toBe('args[0].<key>');
  });

  it('finds an entry of a Set', () => {
    expect(findUncloneablePath(new Set([1, () => 1]), 'args[0]')).toBe('args[0].<entry>');
  });

  it('finds a function inside a cycle', () => {
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    loop.cb = () => 1;
    expect(findUncloneablePath({ loop }, 'result')).toBe('result.loop.cb');
  });
});

describe('serializeError() and rebuildError()', () => {
  it('keep the name, message and worker stack', () => {
    const original = new Error('the steamer cracked');
    const rebuilt = roundTrip(original) as Error;
    expect(rebuilt).toBeInstanceOf(Error);
    expect(rebuilt.name).toBe('Error');
    expect(rebuilt.message).toBe(original.message);
    expect(rebuilt.stack).toBe(original.stack);
  });

  it('keep the code', () => {
    const original = Object.assign(new Error('gone'), { code: 'E_NO_PLATE' });
    expect((roundTrip(original) as Loose).code).toBe('E_NO_PLATE');
  });

  it('keep a code that is not a string', () => {
    const original = Object.assign(new Error('gone'), { code: 404 });
    expect((roundTrip(original) as Loose).code).toBe(404);
  });

  it('keep the cause chain, errors and values alike', () => {
    const original = new Error('top', { cause: new TypeError('middle', { cause: 'the root' }) });
    const rebuilt = roundTrip(original) as Error;
    expect(rebuilt.cause).toBeInstanceOf(TypeError);
    expect((rebuilt.cause as Error).message).toBe('middle');
    expect((rebuilt.cause as Error).cause).toBe('the root');
  });

  it('keep extra fields', () => {
    const original = Object.assign(new Error('busy'), { status: 503, detail: { retryable: true, at: [1, 2] }, when: new Date(0) });
    const rebuilt = roundTrip(original) as Loose;
    expect(rebuilt.status).toBe(503);
    expect(rebuilt.detail).toEqual({ retryable: true, at: [1, 2] });
    expect(rebuilt.when).toEqual(new Date(0));
  });

  it('stringify fields that cannot be cloned instead of failing', () => {
    const original = Object.assign(new Error('busy'), { retry: function retryLater(): void {}, tag: Symbol('t'), status: 503 });
    const rebuilt = roundTrip(original) as Loose;
    expect(typeof rebuilt.retry).toBe('string');
    expect(rebuilt.retry).toContain('retryLater');
    expect(typeof rebuilt.tag).toBe('string');
    expect(rebuilt.status).toBe(503);
  });

  it('do not throw on a circular field', () => {
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    const original = Object.assign(new Error('circular'), { loop });
    (original as unknown as Loose).me = original;
    const rebuilt = roundTrip(original) as Loose;
    expect(rebuilt.message).toBe('circular');
    const copy = rebuilt.loop as Record<string, unknown>;
    expect(copy.name).toBe('loop');
    expect(copy.self).toBe(copy);
  });

  it('do not throw on a circular cause, and bound the chain', () => {
    const original = new Error('ouroboros');
    original.cause = original;
    let rebuilt = roundTrip(original) as Error | undefined;
    let depth = 0;
    while (rebuilt instanceof Error) {
      expect(rebuilt.message).toBe('ouroboros');
      rebuilt = rebuilt.cause as Error | undefined;
      depth++;
    }
    expect(depth).toBeGreaterThan(1);
    expect(depth).toBeLessThan(20);
  });

  it.each([
    ['TypeError', TypeError],
    ['RangeError', RangeError],
    ['SyntaxError', SyntaxError],
    ['ReferenceError', ReferenceError],
    ['EvalError', EvalError],
    ['URIError', URIError],
  ])('restore a %s as that built-in class', (name, Class) => {
    const rebuilt = roundTrip(new Class('bad')) as Error;
    expect(rebuilt).toBeInstanceOf(Class);
    expect(rebuilt.name).toBe(name);
  });

  it('keep a custom name on a plain Error', () => {
    class PlateError extends Error {
      override name = 'PlateError';
    }
    const fromClass = roundTrip(new PlateError('chipped')) as Error;
    expect(fromClass).toBeInstanceOf(Error);
    expect(fromClass.name).toBe('PlateError');

    const renamed = Object.assign(new Error('missing'), { name: 'NotFound' });
    expect((roundTrip(renamed) as Error).name).toBe('NotFound');
  });

  it('keep a custom name on a subclass of a built-in', () => {
    class TooHot extends RangeError {
      override name = 'TooHot';
    }
    const rebuilt = roundTrip(new TooHot('120°')) as Error;
    expect(rebuilt).toBeInstanceOf(Error);
    expect(rebuilt.name).toBe('TooHot');
  });

  it('do not take a name that is a key of Object.prototype for a class', () => {
    const rebuilt = roundTrip(Object.assign(new Error('odd'), { name: 'constructor' })) as Error;
    expect(rebuilt).toBeInstanceOf(Error);
    expect(rebuilt.name).toBe('constructor');
  });

  it.each([
    ['a string', 'plain string'],
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
  ])('give back a thrown non-error that is %s as the value itself', (_, value) => {
    expect(roundTrip(value)).toBe(value);
  });

  it('give back a thrown plain object as an equal object', () => {
    const value = { status: 500, tags: ['hot'] };
    const rebuilt = roundTrip(value);
    expect(rebuilt).not.toBeInstanceOf(Error);
    expect(rebuilt).toEqual(value);
  });

  it('give back a thrown function or symbol described as a string', () => {
    expect(roundTrip(function oops(): void {})).toContain('oops');
    expect(roundTrip(Symbol('boom'))).toContain('boom');
  });

  it('produce plain data that survives structured clone', () => {
    const original = Object.assign(new Error('x', { cause: new Error('y') }), { cb: () => 1, code: 'E' });
    const serialized = serializeError(original);
    expect(structuredClone(serialized)).toEqual(serialized);
  });
});

describe('failureToError()', () => {
  const job: JobInfo = { jobId: 'a1b2-3', task: 'steam', attempt: 1 };

  it('turns a task-error into TaskError with the rebuilt error as cause', () => {
    const failure: JobFailure = { type: 'task-error', error: serializeError(Object.assign(new RangeError('too hot'), { code: 'E_HOT' })) };
    const error = failureToError(failure, job);
    expect(error).toBeInstanceOf(TaskError);
    expect(error.code).toBe('BAOZI_TASK_FAILED');
    expect(error.cause).toBeInstanceOf(RangeError);
    expect((error.cause as Loose).code).toBe('E_HOT');
    expect(error).toMatchObject(job);
  });

  it('turns an unknown-task into UnknownTaskError with the tasks there are', () => {
    const error = failureToError({ type: 'unknown-task', task: 'stem', available: ['steam'] }, job);
    expect(error).toBeInstanceOf(UnknownTaskError);
    expect(error.code).toBe('BAOZI_UNKNOWN_TASK');
    expect(error).toMatchObject({ taskName: 'stem', available: ['steam'], ...job });
  });

  it('turns a load-error into TaskLoadError with the rebuilt error as cause', () => {
    const error = failureToError({ type: 'load-error', module: 'file:///tasks.js', error: serializeError(new SyntaxError('Unexpected token')) }, job);
    expect(error).toBeInstanceOf(TaskLoadError);
    expect(error.code).toBe('BAOZI_TASK_LOAD');
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(error).toMatchObject({ module: 'file:///tasks.js', ...job });
  });

  it('turns a result-not-cloneable into SerializationError in the result direction', () => {
    const error = failureToError({ type: 'result-not-cloneable', path: 'result.cb', detail: 'could not be cloned' }, job);
    expect(error).toBeInstanceOf(SerializationError);
    expect(error.code).toBe('BAOZI_SERIALIZATION');
    expect(error).toMatchObject({ direction: 'result', path: 'result.cb', ...job });
  });

  it('keeps a thrown non-error value as the TaskError cause', () => {
    const error = failureToError({ type: 'task-error', error: serializeError('just a string') }, job);
    expect(error.code).toBe('BAOZI_TASK_FAILED');
    expect(error.cause).toBe('just a string');
  });
});

describe('isJobFailure()', () => {
  it.each(['task-error', 'unknown-task', 'load-error', 'result-not-cloneable'])('recognizes a %s', (type) => {
    expect(isJobFailure({ type })).toBe(true);
  });

  it.each([
    ['an Error', Object.assign(new Error('x'), { type: 'task-error' })],
    ['null', null],
    ['a string', 'task-error'],
    ['another type', { type: 'job' }],
    ['an object without a type', {}],
  ])('rejects %s', (_, value) => {
    expect(isJobFailure(value)).toBe(false);
  });
});
