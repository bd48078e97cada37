/** How large `map`'s chunks are, fixed or sized by measured run time (`batchSize: 'auto'`). */

/** Most inputs in one chunk (`batchSize`). */
export const MAX_BATCH_SIZE = 10_000;
/** `'auto'` aims at this much thread time per chunk. */
const AUTO_TARGET_MS = 2;
// Weight of a measurement slower than the estimate: a faster one is believed at once.
const SLOWER_WEIGHT = 0.5;
// A chunk is at most this many times the size of the one before.
const MAX_GROWTH = 4;

/**
 * How many inputs the next chunk takes, and when to wait. `'auto'` keeps
 * two jobs per slot in flight, sends single inputs until a run has been
 * measured, then sizes chunks at `AUTO_TARGET_MS` of measured time per
 * input, never above `capacity / (2 × slots)`: every slot keeps two
 * chunks in flight within map's window, one running and one waiting.
 *
 * A chunk is measured in its thread, the inputs' run time only: a busy or
 * shared machine must not make chunks look slow and keep them small. The
 * estimate follows a faster measurement at once and a slower one halfway,
 * and chunks grow at most fourfold from one measurement to the next, so
 * that one lucky run cannot send a huge chunk of a slow task. A `map`
 * starts from the estimate the last one left for its task, if any.
 */
export class ChunkSizer {
  readonly #fixed: number | undefined;
  readonly #max: number;
  readonly #inFlight: number;
  /** Measured milliseconds per input, once measured. */
  #perItem: number | undefined;
  #target = 1;

  constructor(batchSize: number | 'auto', capacity: number, slots: number, estimate?: number) {
    this.#fixed = batchSize === 'auto' ? undefined : batchSize;
    this.#max = Math.max(1, Math.floor(capacity / (2 * slots)));
    this.#inFlight = 2 * slots;
    this.#perItem = estimate;
    this.#target = this.#fixed ?? (estimate === undefined ? 1 : this.#byTime(estimate));
  }

  /** Measured milliseconds per input, once measured. */
  get estimate(): number | undefined {
    return this.#perItem;
  }

  /** Inputs for the next chunk. */
  get target(): number {
    return this.#target;
  }

  /**
   * Whether to wait for a job to settle before sending more, with `jobs`
   * in flight. `'auto'` keeps two per slot in flight, one running and one
   * waiting: enough to keep the threads busy, and each measurement resizes
   * the next chunk before the window fills with chunks sized on the last.
   */
  mustWait(jobs: number): boolean {
    return this.#fixed === undefined && jobs >= this.#inFlight;
  }

  /** A job of `items` inputs ran for `ms`. */
  record(items: number, ms: number): void {
    if (this.#fixed !== undefined || !(ms >= 0)) return;
    const measured = Math.max(ms / items, 0.0001);
    const estimate = this.#perItem;
    this.#perItem = estimate === undefined || measured < estimate ? measured : estimate + SLOWER_WEIGHT * (measured - estimate);
    this.#target = Math.min(this.#target * MAX_GROWTH, this.#byTime(this.#perItem));
  }

  #byTime(perItem: number): number {
    return Math.max(1, Math.min(this.#max, Math.floor(AUTO_TARGET_MS / perItem)));
  }
}
