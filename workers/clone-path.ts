/**
 * Finds where a value stops being structured-cloneable, so an error can say
 * `args[1].onDone` instead of just "could not be cloned". Pure and
 * dependency-free: both threads use it, and only on the error path.
 */
// A MessagePort crosses only when transferred (in `transferred`).
const UNCLONEABLE = [WeakMap, WeakSet, Promise, MessagePort] as const;
const MAX_NODES = 10_000;

export function findUncloneablePath(value: unknown, root: string, transferred?: ReadonlySet<unknown>): string | undefined {
  const seen = new Set<object>();
  const visit = (current: unknown, path: string): string | undefined => {
    if (typeof current === 'function' || typeof current === 'symbol') return path;
    if (current === null || typeof current !== 'object') return undefined;
    if (seen.has(current) || seen.size > MAX_NODES) return undefined;
    seen.add(current);
    if (UNCLONEABLE.some((type) => current instanceof type)) return transferred?.has(current) ? undefined : path;
    // Binary data is always cloneable, and walking it byte by byte is slow.
    if (ArrayBuffer.isView(current) || current instanceof ArrayBuffer || current instanceof SharedArrayBuffer) return undefined;
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
      const found = visit((current as Record<string, unknown>)[key], Array.isArray(current) ? `${path}[${key}]` : `${path}.${key}`);
      if (found) return found;
    }
    return undefined;
  };
  return visit(value, root);
}
