/**
 * The jobs `map` and streams have in flight, and their results until it is
 * their turn to come out.
 */
import type { JobHandle } from '../job/job.js';
import type { SettledResult } from './workflow-types.js';

/** One input in flight: its position, its job once submitted, its outcome once settled. */
export interface WindowSlot<Result> {
  readonly index: number;
  job: JobHandle<Result> | undefined;
  outcome: SettledResult<Result> | undefined;
}

/**
 * Inputs taken and not yet handed on. `size` counts them from `open()` to
 * `take()`, settled or not: that is what bounds memory, since a result that
 * waits for its turn is held here. Ordered, a result comes out once every
 * earlier one has; unordered, results come out as they settle.
 */
export class JobWindow<Result> {
  readonly #isOrdered: boolean;
  readonly #onSettled: (outcome: SettledResult<Result>, job: JobHandle<Result> | undefined) => void;
  /** Ordered: every open slot, in input order. Unordered: settled slots, in settling order. */
  readonly #queue = new Fifo<WindowSlot<Result>>();
  /** Slots whose job has not settled: what `stop()` cancels. */
  readonly #unsettled = new Set<WindowSlot<Result>>();
  #size = 0;
  #stopped: { reason: unknown } | undefined;

  /**
   * `onSettled` hears every outcome as it happens (not in output order), with
   * the slot's job if it had one, until `stop()`.
   */
  constructor(isOrdered: boolean, onSettled: (outcome: SettledResult<Result>, job: JobHandle<Result> | undefined) => void) {
    this.#isOrdered = isOrdered;
    this.#onSettled = onSettled;
  }

  /** Inputs in flight: opened and not yet taken. */
  get size(): number {
    return this.#size;
  }

  get isStopped(): boolean {
    return this.#stopped !== undefined;
  }

  /** Counts a new input in flight, before its job exists. */
  open(index: number): WindowSlot<Result> {
    const slot: WindowSlot<Result> = { index, job: undefined, outcome: undefined };
    this.#size++;
    this.#unsettled.add(slot);
    if (this.#isOrdered) this.#queue.push(slot);
    return slot;
  }

  /** Gives the slot its job. After `stop()`, cancels the job instead: it was submitted too late. */
  track(slot: WindowSlot<Result>, job: JobHandle<Result>): void {
    if (this.#stopped) {
      job.cancel(this.#stopped.reason);
      return;
    }
    slot.job = job;
    job.result.then(
      (value) => this.#settle(slot, { status: 'fulfilled', value, index: slot.index }),
      (reason: unknown) => this.#settle(slot, { status: 'rejected', reason, index: slot.index }),
    );
  }

  /** Settles a slot whose job could not be made (its arguments, or `submit()`, failed). */
  reject(slot: WindowSlot<Result>, reason: unknown): void {
    this.#settle(slot, { status: 'rejected', reason, index: slot.index });
  }

  /** The next outcome whose turn it is, or `undefined`; it leaves the window. */
  take(): SettledResult<Result> | undefined {
    const head = this.#queue.peek();
    if (!head?.outcome) return undefined;
    this.#queue.shift();
    this.#size--;
    return head.outcome;
  }

  /** Cancels every job in flight with `reason` and drops every result not taken. Idempotent. */
  stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = { reason };
    const unsettled = [...this.#unsettled];
    this.#unsettled.clear();
    this.#queue.clear();
    this.#size = 0;
    for (const slot of unsettled) slot.job?.cancel(reason);
  }

  #settle(slot: WindowSlot<Result>, outcome: SettledResult<Result>): void {
    if (!this.#unsettled.delete(slot)) return;
    slot.outcome = outcome;
    if (!this.#isOrdered) this.#queue.push(slot);
    this.#onSettled(outcome, slot.job);
  }
}

/** A first-in-first-out queue, cheap at both ends. */
export class Fifo<Item> {
  #items: (Item | undefined)[] = [];
  #head = 0;

  push(item: Item): void {
    this.#items.push(item);
  }

  peek(): Item | undefined {
    return this.#items[this.#head];
  }

  shift(): Item | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    // Compact now and then so the array does not grow with every item ever seen.
    if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
