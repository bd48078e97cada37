import type { EventEmitter } from 'eventemitter3';

/** Resolves with the payload of the next `name` event. */
export function nextEvent<T = unknown>(emitter: EventEmitter, name: string): Promise<T> {
  return new Promise((resolve) => emitter.once(name, (payload?: T) => resolve(payload as T)));
}

/** A promise with its resolve function, for tests that release work by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
