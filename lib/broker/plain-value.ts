/**
 * Values JSON carries exactly, which a broker may store as text instead of
 * v8 bytes: a fraction of `v8.serialize()`'s cost for the common, tiny case.
 */

/** A string, a boolean, null, or a finite number other than -0 (JSON would turn NaN and ±Infinity into null, and -0 into 0). */
export type PlainValue = string | number | boolean | null;

/** Whether JSON carries `value` exactly. */
export function isPlainValue(value: unknown): value is PlainValue {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0);
    default:
      return value === null;
  }
}
