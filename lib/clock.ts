// Read once: `performance.timeOrigin` is a getter that costs more than `now()` itself.
const TIME_ORIGIN = performance.timeOrigin;

/** Epoch milliseconds with sub-millisecond precision, from one clock call. */
export function now(): number {
  return TIME_ORIGIN + performance.now();
}
