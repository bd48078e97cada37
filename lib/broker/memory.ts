import { watchAbort } from '../abort-watch.js';
import { CancelledError } from '../errors.js';
import { passes, type Broker, type BrokerEntry, type BrokerObserver, type Outcome, type TakeFilter } from './contract.js';

/** A link in a doubly linked list: unlinked in O(1) wherever it is. */
interface Link<Item> {
  readonly item: Item;
  prev: Link<Item> | undefined;
  next: Link<Item> | undefined;
}

/** First in, first out, with removal from anywhere in O(1). */
class LinkedLine<Item> {
  #head: Link<Item> | undefined;
  #tail: Link<Item> | undefined;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  get head(): Link<Item> | undefined {
    return this.#head;
  }

  push(item: Item): Link<Item> {
    const link: Link<Item> = { item, prev: this.#tail, next: undefined };
    if (this.#tail) this.#tail.next = link;
    else this.#head = link;
    this.#tail = link;
    this.#length++;
    return link;
  }

  unlink(link: Link<Item>): void {
    if (link.prev) link.prev.next = link.next;
    else this.#head = link.next;
    if (link.next) link.next.prev = link.prev;
    else this.#tail = link.prev;
    // Dropped links keep no neighbours alive.
    link.prev = link.next = undefined;
    this.#length--;
  }

  /** Takes every item out, oldest first. */
  clear(): Item[] {
    const items: Item[] = [];
    for (let link = this.#head; link; link = link.next) items.push(link.item);
    this.#head = this.#tail = undefined;
    this.#length = 0;
    return items;
  }
}

interface Waiter<Entry> {
  readonly entry: Entry;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  /** Stops watching `signal`; set while the producer waits with one. */
  stopWatching: (() => void) | undefined;
}

/** Where an entry is: on the table in a priority's lane, or waiting for room. */
type Place<Entry> = { readonly lane: LinkedLine<Entry>; readonly link: Link<Entry> } | { readonly lane: undefined; readonly link: Link<Waiter<Entry>> };

/**
 * The in-memory broker, the default: one line per priority and a
 * first-come line of waiting producers, with every entry indexed by id so
 * that taking one out from anywhere costs O(1).
 */
export class MemoryBroker<Entry extends BrokerEntry> implements Broker<Entry> {
  readonly #lanes = new Map<number, LinkedLine<Entry>>();
  /** Priorities that have a lane, highest first. */
  #priorities: number[] = [];
  readonly #waiters = new LinkedLine<Waiter<Entry>>();
  readonly #places = new Map<string, Place<Entry>>();
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

  put(entry: Entry, signal?: AbortSignal): Promise<void> {
    if (this.tryPut(entry)) return Promise.resolve();
    // An aborted signal never fires again: waiting on it would wait forever.
    if (signal?.aborted) return Promise.reject(waitCancelled(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter<Entry> = { entry, resolve, reject, signal, stopWatching: undefined };
      const link = this.#waiters.push(waiter);
      this.#places.set(entry.id, { lane: undefined, link });
      if (signal) {
        waiter.stopWatching = watchAbort(signal, () => {
          this.#withdraw(link);
          reject(waitCancelled(signal));
        });
      }
    });
  }

  take(max: number, filter?: TakeFilter): Entry[] {
    const taken: Entry[] = [];
    for (const priority of this.#priorities) {
      const lane = this.#lanes.get(priority)!;
      for (let link = lane.head; link && taken.length < max; ) {
        const next = link.next;
        if (!filter || passes(link.item, filter)) {
          lane.unlink(link);
          this.#places.delete(link.item.id);
          taken.push(link.item);
        } else if (filter.inLine) {
          return this.#took(taken);
        }
        link = next;
      }
      if (taken.length >= max) break;
    }
    return this.#took(taken);
  }

  remove(id: string): boolean {
    const place = this.#places.get(id);
    if (!place) return false;
    if (place.lane) {
      place.lane.unlink(place.link);
      this.#places.delete(id);
      this.#left(1);
      return true;
    }
    this.#withdraw(place.link);
    place.link.item.reject(new CancelledError('The entry was taken out of the line for room on the table.'));
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
    this.#places.set(entry.id, { lane, link: lane.push(entry) });
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
      const link = this.#waiters.head;
      const waiter = link.item;
      this.#withdraw(link);
      // Its signal aborted while this room was being freed (an abort listener
      // that freed room ran before the waiter's own): the entry must not join,
      // since its signal will not fire again.
      if (waiter.signal?.aborted) {
        waiter.reject(waitCancelled(waiter.signal));
        continue;
      }
      this.#add(waiter.entry);
      waiter.resolve();
    }
  }

  #withdraw(link: Link<Waiter<Entry>>): void {
    this.#waiters.unlink(link);
    this.#places.delete(link.item.entry.id);
    this.#release(link.item);
  }

  #release(waiter: Waiter<Entry>): void {
    waiter.stopWatching?.();
    waiter.stopWatching = undefined;
  }
}

function waitCancelled(signal: AbortSignal): CancelledError {
  return new CancelledError('The producer stopped waiting for room on the table: its signal aborted.', { cause: signal.reason });
}
