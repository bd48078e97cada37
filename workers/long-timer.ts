/**
 * Timers that wait out any delay. Node's `setTimeout` fires after 1 ms for
 * a delay above 2^31−1 ms (about 24.8 days), so a longer wait is taken in
 * steps. Pure and dependency-free: both threads use it (lib/ for every
 * runner-owned timer, workers/ for the task module's load bound).
 */

/** Longest delay `setTimeout` honours. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/** A wait longer than one `setTimeout` can take, in steps of at most `MAX_TIMER_DELAY`. */
class LongTimeout {
  readonly #callback: () => void;
  readonly #dueAt: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(callback: () => void, delay: number) {
    this.#callback = callback;
    this.#dueAt = performance.now() + delay;
    this.#arm();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    const left = this.#dueAt - performance.now();
    this.#timer = left > MAX_TIMER_DELAY ? setTimeout(() => this.#arm(), MAX_TIMER_DELAY) : setTimeout(this.#callback, Math.max(0, left));
  }
}

/** What `setLongTimeout` returns; clear it with `clearLongTimeout`. */
export type Timer = NodeJS.Timeout | LongTimeout;

/**
 * `setTimeout` for any delay in milliseconds: a plain timer up to
 * 2^31−1 ms (the common case costs nothing more), steps beyond.
 */
export function setLongTimeout(callback: () => void, delay: number): Timer {
  return delay > MAX_TIMER_DELAY ? new LongTimeout(callback, delay) : setTimeout(callback, delay);
}

/** Clears a timer from `setLongTimeout`; undefined is ignored. */
export function clearLongTimeout(timer: Timer | undefined): void {
  if (timer instanceof LongTimeout) timer.clear();
  else clearTimeout(timer);
}
