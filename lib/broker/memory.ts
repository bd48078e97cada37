import { watchAbort } from '../abort-watch.js';
import { CancelledError } from '../errors.js';
import { passes, type Broker, type BrokerEntry, type BrokerObserver, type Outcome, type TakeFilter } from './contract.js';

/** A link of a doubly linked line: unlinked in O(1) wherever it is. */
class Link {
  prev: Link | undefined;
  next: Link | undefined;
}

/** First in, first out, with removal from anywhere in O(1). Its items are their own links. */
class LinkedLine<Item extends Link> {
  #head: Item | undefined;
  #tail: Item | undefined;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  get head(): Item | undefined {
    return this.#head;
  }

  push(item: Item): void {
    item.prev = this.#tail;
    item.next = undefined;
    if (this.#tail) this.#tail.next = item;
    else this.#head = item;
    this.#tail = item;
    this.#length++;
  }

  unlink(item: Item): void {
    if (item.prev) item.prev.next = item.next;
    else this.#head = item.next as Item | undefined;
    if (item.next) item.next.prev = item.prev;
    else this.#tail = item.prev as Item | undefined;
    // Dropped links keep no neighbours alive.
    item.prev = item.next = undefined;
    this.#length--;
  }

  /** Takes every item out, oldest first. */
  clear(): Item[] {
    const items: Item[] = [];
    for (let item = this.#head; item; item = item.next as Item | undefined) items.push(item);
    for (const item of items) item.prev = item.next = undefined;
    this.#head = this.#tail = undefined;
    this.#length = 0;
    return items;
  }
}

/** An entry on the table, in its priority's line. */
class Queued<Entry> extends Link {
  constructor(readonly entry: Entry) {
    super();
  }
}

/** A producer waiting for room, in the line of waiters. */
class Waiter<Entry> extends Link {
  /** Stops watching `signal`; set while the producer waits with one. */
  stopWatching: (() => void) | undefined;

  constructor(
    readonly entry: Entry,
    readonly resolve: (entry: Entry) => void,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {
    super();
  }
}

/**
 * The in-memory broker, the default: one line per priority and a
 * first-come line of waiting producers, with every entry indexed by id so
 * that taking one out from anywhere costs O(1).
 */
export class MemoryBroker<Entry extends BrokerEntry> implements Broker<Entry> {
  readonly #lanes = new Map<number, LinkedLine<Queued<Entry>>>();
  /** Priorities that have a lane, highest first. */
  #priorities: number[] = [];
  readonly #waiters = new LinkedLine<Waiter<Entry>>();
  /** Where each entry is: on the table, or waiting for room. */
  readonly #places = new Map<string, Queued<Entry> | Waiter<Entry>>();
  #size = 0;
  #isFull = false;
  readonly #observer: BrokerObserver<Entry>;

  constructor(
    readonly capacity: number,
    observer: BrokerObserver<Entry>,
  ) {
    this.#observer = observer;
  }

  get size(): number {
    return this.#size;
  }

  get blocked(): number {
    return this.#waiters.length;
  }

  tryPut(entry: Entry): boolean {
    if (this.#size >= this.capacity || this.#waiters.length > 0) return false;
    this.#add(entry);
    return true;
  }

  put(entry: Entry, signal?: AbortSignal): Promise<Entry> {
    if (this.tryPut(entry)) return Promise.resolve(entry);
    // An aborted signal never fires again: waiting on it would wait forever.
    if (signal?.aborted) return Promise.reject(waitCancelled(signal));
    return new Promise<Entry>((resolve, reject) => {
      const waiter = new Waiter(entry, resolve, reject, signal);
      this.#waiters.push(waiter);
      this.#places.set(entry.id, waiter);
      if (signal) {
        waiter.stopWatching = watchAbort(signal, () => {
          this.#withdraw(waiter);
          reject(waitCancelled(signal));
        });
      }
    });
  }

  take(max: number, filter?: TakeFilter): Entry[] {
    const taken: Entry[] = [];
    for (const priority of this.#priorities) {
      const lane = this.#lanes.get(priority)!;
      for (let queued = lane.head; queued && taken.length < max; ) {
        const next = queued.next as Queued<Entry> | undefined;
        if (!filter || passes(queued.entry, filter)) {
          lane.unlink(queued);
          this.#places.delete(queued.entry.id);
          taken.push(queued.entry);
        } else if (filter.inLine && !filter.heldTasks?.has(queued.entry.name)) {
          return this.#took(taken);
        }
        queued = next;
      }
      if (taken.length >= max) break;
    }
    return this.#took(taken);
  }

  remove(id: string): boolean {
    const place = this.#places.get(id);
    if (!place) return false;
    if (place instanceof Waiter) {
      this.#withdraw(place);
      place.reject(new CancelledError('The entry was taken out of the line for room on the table.'));
      return true;
    }
    this.#lanes.get(place.entry.priority)!.unlink(place);
    this.#places.delete(id);
    this.#left(1);
    return true;
  }

  // Jobs live and die with this process: nothing to record.
  settle(_id: string, _outcome: Outcome): void {}

  rejectBlocked(error: unknown): void {
    for (const waiter of this.#waiters.clear()) {
      this.#places.delete(waiter.entry.id);
      this.#release(waiter);
      waiter.reject(error);
    }
  }

  #took(taken: Entry[]): Entry[] {
    if (taken.length > 0) this.#left(taken.length);
    return taken;
  }

  #add(entry: Entry): void {
    let lane = this.#lanes.get(entry.priority);
    if (!lane) {
      lane = new LinkedLine();
      this.#lanes.set(entry.priority, lane);
      this.#priorities.push(entry.priority);
      this.#priorities.sort((a, b) => b - a);
    }
    const queued = new Queued(entry);
    lane.push(queued);
    this.#places.set(entry.id, queued);
    this.#size++;
    this.#observer.added(entry);
    if (this.#size === this.capacity && !this.#isFull) {
      this.#isFull = true;
      this.#observer.full();
    }
  }

  #left(count: number): void {
    this.#size -= count;
    this.#admitWaiters();
    if (this.#isFull && this.#size < this.capacity) {
      this.#isFull = false;
      this.#observer.drained();
    }
  }

  // Room goes straight to the longest waiter, inside the same call, so a
  // `tryPut` in between cannot take it and no wake-up is lost.
  #admitWaiters(): void {
    while (this.#size < this.capacity && this.#waiters.head) {
      const waiter = this.#waiters.head;
      this.#withdraw(waiter);
      // Its signal aborted while this room was being freed (an abort listener
      // that freed room ran before the waiter's own): the entry must not join,
      // since its signal will not fire again.
      if (waiter.signal?.aborted) {
        waiter.reject(waitCancelled(waiter.signal));
        continue;
      }
      this.#add(waiter.entry);
      waiter.resolve(waiter.entry);
    }
  }

  #withdraw(waiter: Waiter<Entry>): void {
    this.#waiters.unlink(waiter);
    this.#places.delete(waiter.entry.id);
    this.#release(waiter);
  }

  #release(waiter: Waiter<Entry>): void {
    waiter.stopWatching?.();
    waiter.stopWatching = undefined;
  }
}

function waitCancelled(signal: AbortSignal): CancelledError {
  return new CancelledError('The producer stopped waiting for room on the table: its signal aborted.', { cause: signal.reason });
}
