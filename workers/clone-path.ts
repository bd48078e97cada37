/**
 * What crosses between threads as it is: `isPlainPrimitive` tells a value
 * that needs no check, and `findUncloneablePath` finds where a value stops
 * being structured-cloneable, so an error can say `args[1].onDone` instead
 * of just "could not be cloned". Pure and dependency-free: both threads use
 * it, the path search only on the error path (and at submit for arguments
 * that travel as they are).
 */
import { isAnyArrayBuffer, isArrayBuffer } from 'node:util/types';

/** A value that crosses to another thread as itself, with nothing to serialize or check (no symbols). */
export function isPlainPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol');
}

// A MessagePort crosses only when transferred (in `transferred`).
const UNCLONEABLE = [WeakMap, WeakSet, Promise, MessagePort] as const;
const MAX_NODES = 10_000;

/**
 * The path of the first part of `value` that cannot be cloned: a function,
 * a symbol, a WeakMap, WeakSet, Promise or untransferred MessagePort, a
 * detached ArrayBuffer or a view over one, or a part that throws as it is
 * read (a getter, a Proxy trap). Stops looking after 10,000 objects.
 */
export function findUncloneablePath(value: unknown, root: string, transferred?: ReadonlySet<unknown>): string | undefined {
  const seen = new Set<object>();
  const visit = (current: unknown, path: string): string | undefined => {
    if (typeof current === 'function' || typeof current === 'symbol') return path;
    if (current === null || typeof current !== 'object') return undefined;
    if (seen.has(current) || seen.size > MAX_NODES) return undefined;
    seen.add(current);
    // Reading a getter or a Proxy trap may throw: cloning would throw there too.
    try {
      return visitObject(current, path);
    } catch {
      return path;
    }
  };
  const visitObject = (current: object, path: string): string | undefined => {
    if (UNCLONEABLE.some((type) => current instanceof type)) return transferred?.has(current) ? undefined : path;
    // Binary data is cloneable unless detached, and walking it byte by byte is slow.
    if (ArrayBuffer.isView(current)) return isDetached(current.buffer) ? path : undefined;
    if (isAnyArrayBuffer(current)) return isDetached(current) ? path : undefined;
    if (current instanceof Map) {
      for (const [key, entry] of current) {
        const found = visit(key, `${path}.<key>`) ?? visit(entry, `${path}.get(${String(key)})`);
        if (found) return found;
      }
      return undefined;
    }
    if (current instanceof Set) {
      for (const entry of current) {
        const found = visit(entry, `${path}.<entry>`);
        if (found) return found;
      }
      return undefined;
    }
    for (const key of Object.keys(current)) {
      const childPath = Array.isArray(current) ? `${path}[${key}]` : `${path}.${key}`;
      let child: unknown;
      try {
        child = (current as Record<string, unknown>)[key];
      } catch {
        return childPath;
      }
      const found = visit(child, childPath);
      if (found) return found;
    }
    return undefined;
  };
  return visit(value, root);
}

/**
 * Whether an ArrayBuffer was detached (moved away by a transfer): it can be
 * neither cloned nor moved again. A SharedArrayBuffer never is.
 */
export function isDetached(buffer: ArrayBufferLike): boolean {
  if (!isArrayBuffer(buffer) || buffer.byteLength > 0) return false;
  // `detached` is ES2024; Node 20 lacks it, and only a detached buffer fails to clone.
  const detached = (buffer as { detached?: boolean }).detached;
  if (typeof detached === 'boolean') return detached;
  try {
    structuredClone(buffer);
    return false;
  } catch {
    return true;
  }
}
