import { watchAbort } from '../abort-watch.js';
import { CancelledError } from '../errors.js';

/** What the table needs to know of a job. */
export interface TableEntry {
  readonly priority: number;
}

/**
 * The bounded buffer between producers and the pool. An interface so that
 * a durable journal or a distributed queue can stand in for `MemoryTable`.
 */
export interface Table<Entry extends TableEntry> {
  /** Most entries the table holds. */
  readonly capacity: number;
  /** Entries on the table now. */
  readonly size: number;
  /** Producers waiting for room. */
  readonly blocked: number;
  /** Puts the entry on the table if there is room and nobody waits before it. */
  tryPush(entry: Entry): boolean;
  /**
   * Puts the entry on the table, waiting for room behind earlier waiters.
   * Resolves once it is on the table; rejects with `CancelledError` if
   * `signal` aborts first, leaving no reservation behind.
   */
  push(entry: Entry, signal?: AbortSignal): Promise<void>;
  /**
   * Takes the next entry: highest priority first, first in first out within
   * one. With `isStartable`, the first such entry that may start now (the
   * others keep their places).
   */
  shift(isStartable?: (entry: Entry) => boolean): Entry | undefined;
  /** The entry a plain `shift()` would take next, left in its place. */
  peek(): Entry | undefined;
  /**
   * Takes up to `max` more entries of `priority` while the next one in line
   * passes `isWanted`: the entries a plain `shift()` would give next.
   */
  shiftWhile(priority: number, isWanted: (entry: Entry) => boolean, max: number): Entry[];
  /**
   * Takes a given entry off the table, or out of the line of entries
   * waiting for room (its `push` then rejects with `CancelledError`).
   * Returns whether it was in either place.
   */
  remove(entry: Entry): boolean;
  /** Rejects every waiting producer with `error`; their entries never join. */
  rejectBlocked(error: unknown): void;
}

/** What a table reports as it changes. Called synchronously, after the change. */
export interface TableObserver<Entry> {
  /** The entry is on the table now (put there at once or after waiting). */
  added(entry: Entry): void;
  /** The table just became full. */
  full(): void;
  /** The table has room again after being full. */
  drained(): void;
}

interface Waiter<Entry> {
  entry: Entry;
  resolve: () => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  /** Stops watching `signal`; set while the producer waits with one. */
  stopWatching: (() => void) | undefined;
}

/** A first-in-first-out run of entries of one priority, cheap at both ends. */
class Lane<Entry> {
  private items: Entry[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(entry: Entry): void {
    this.items.push(entry);
  }

  shift(isStartable?: (entry: Entry) => boolean): Entry | undefined {
    if (this.head === this.items.length) return undefined;
    if (isStartable) return this.takeFirst(isStartable);
    const entry = this.items[this.head];
    this.items[this.head++] = undefined as Entry;
    // Compact now and then so the array does not grow with every job ever seen.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  peek(): Entry | undefined {
    return this.head === this.items.length ? undefined : this.items[this.head];
  }

  shiftWhile(isWanted: (entry: Entry) => boolean, max: number): Entry[] {
    const taken: Entry[] = [];
    while (taken.length < max && this.head < this.items.length && isWanted(this.items[this.head]!)) taken.push(this.shift()!);
    return taken;
  }

  private takeFirst(isStartable: (entry: Entry) => boolean): Entry | undefined {
    for (let index = this.head; index < this.items.length; index++) {
      const entry = this.items[index]!;
      if (!isStartable(entry)) continue;
      if (index === this.head) return this.shift();
      this.items.splice(index, 1);
      return entry;
    }
    return undefined;
  }

  remove(entry: Entry): boolean {
    const index = this.items.indexOf(entry, this.head);
    if (index === -1) return false;
    this.items.splice(index, 1);
    return true;
  }
}

/** The in-memory table: priority lanes and a first-come queue of blocked producers. */
export class MemoryTable<Entry extends TableEntry> implements Table<Entry> {
  private readonly lanes = new Map<number, Lane<Entry>>();
  /** Priorities that have a lane, highest first. */
  private priorities: number[] = [];
  private waiters: Waiter<Entry>[] = [];
  private count = 0;
  private isFull = false;

  constructor(
    readonly capacity: number,
    private readonly observer: TableObserver<Entry>,
  ) {}

  get size(): number {
    return this.count;
  }

  get blocked(): number {
    return this.waiters.length;
  }

  tryPush(entry: Entry): boolean {
    if (this.count >= this.capacity || this.waiters.length > 0) return false;
    this.add(entry);
    return true;
  }

  push(entry: Entry, signal?: AbortSignal): Promise<void> {
    if (this.tryPush(entry)) return Promise.resolve();
    // An aborted signal never fires again: waiting on it would wait forever.
    if (signal?.aborted) return Promise.reject(waitCancelled(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter<Entry> = { entry, resolve, reject, signal, stopWatching: undefined };
      if (signal) {
        waiter.stopWatching = watchAbort(signal, () => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(waitCancelled(signal));
        });
      }
      this.waiters.push(waiter);
    });
  }

  shift(isStartable?: (entry: Entry) => boolean): Entry | undefined {
    for (const priority of this.priorities) {
      const entry = this.lanes.get(priority)!.shift(isStartable);
      if (entry !== undefined) {
        this.left();
        return entry;
      }
    }
    return undefined;
  }

  peek(): Entry | undefined {
    for (const priority of this.priorities) {
      const entry = this.lanes.get(priority)!.peek();
      if (entry !== undefined) return entry;
    }
    return undefined;
  }

  shiftWhile(priority: number, isWanted: (entry: Entry) => boolean, max: number): Entry[] {
    const taken = this.lanes.get(priority)?.shiftWhile(isWanted, max) ?? [];
    if (taken.length > 0) this.left(taken.length);
    return taken;
  }

  remove(entry: Entry): boolean {
    if (this.lanes.get(entry.priority)?.remove(entry)) {
      this.left();
      return true;
    }
    const waiter = this.waiters.find((candidate) => candidate.entry === entry);
    if (!waiter) return false;
    this.waiters.splice(this.waiters.indexOf(waiter), 1);
    this.release(waiter);
    waiter.reject(new CancelledError('The entry was taken out of the line for room on the table.'));
    return true;
  }

  rejectBlocked(error: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) {
      this.release(waiter);
      waiter.reject(error);
    }
  }

  private add(entry: Entry): void {
    let lane = this.lanes.get(entry.priority);
    if (!lane) {
      lane = new Lane();
      this.lanes.set(entry.priority, lane);
      this.priorities.push(entry.priority);
      this.priorities.sort((a, b) => b - a);
    }
    lane.push(entry);
    this.count++;
    this.observer.added(entry);
    if (this.count === this.capacity && !this.isFull) {
      this.isFull = true;
      this.observer.full();
    }
  }

  private left(count = 1): void {
    this.count -= count;
    this.admitWaiters();
    if (this.isFull && this.count < this.capacity) {
      this.isFull = false;
      this.observer.drained();
    }
  }

  // Room goes straight to the longest waiter, inside the same call, so a
  // `tryPush` in between cannot take it and no wake-up is lost.
  private admitWaiters(): void {
    while (this.count < this.capacity && this.waiters.length > 0) {
      const waiter = this.waiters.shift()!;
      this.release(waiter);
      // Its signal aborted while this room was being freed (an abort listener
      // that freed room ran before the waiter's own): the entry must not join,
      // since its signal will not fire again.
      if (waiter.signal?.aborted) {
        waiter.reject(waitCancelled(waiter.signal));
        continue;
      }
      this.add(waiter.entry);
      waiter.resolve();
    }
  }

  private release(waiter: Waiter<Entry>): void {
    waiter.stopWatching?.();
    waiter.stopWatching = undefined;
  }
}

function waitCancelled(signal: AbortSignal): CancelledError {
  return new CancelledError('The producer stopped waiting for room on the table: its signal aborted.', { cause: signal.reason });
}
