import type { BrokerEntry, BrokerObserver, DurableBroker, ScheduleMemory, Outcome, StoredJob, StoredOutcome, TakeFilter } from '../contract.js';
import { MemoryBroker } from '../memory.js';
import type { JournalStore } from './store.js';

/** How the journal reads the entries it is given. */
export interface JournalCodec<Entry> {
  /** The entry as it is written down when accepted. */
  describe(entry: Entry): StoredJob;
  /** The run the entry is at (1, or more after retries). */
  attemptOf(entry: Entry): number;
}

/**
 * The durable broker: the in-memory table (order, room, waiting producers)
 * with every accepted job written to a journal file, and its outcome once
 * it settles. A `put` resolves once its entry's write is committed.
 */
export class JournalBroker<Entry extends BrokerEntry> implements DurableBroker<Entry> {
  readonly #memory: MemoryBroker<Entry>;
  readonly #store: JournalStore;
  readonly #codec: JournalCodec<Entry>;

  constructor(capacity: number, observer: BrokerObserver<Entry>, store: JournalStore, codec: JournalCodec<Entry>) {
    this.#store = store;
    this.#codec = codec;
    this.#memory = new MemoryBroker<Entry>(capacity, {
      // Written as it joins, before anyone hears of it: a job taken at once is settled after its row exists.
      added: (entry) => {
        this.#accept(entry);
        observer.added(entry);
      },
      full: () => observer.full(),
      drained: () => observer.drained(),
    });
  }

  get capacity(): number {
    return this.#memory.capacity;
  }

  get size(): number {
    return this.#memory.size;
  }

  get blocked(): number {
    return this.#memory.blocked;
  }

  get recoverable(): number {
    return this.#store.recoverable;
  }

  tryPut(entry: Entry): boolean {
    return this.#memory.tryPut(entry);
  }

  put(entry: Entry, signal?: AbortSignal): Promise<Entry> {
    // A job the journal holds already (recovered, or due after a delay or a retry) is not written again.
    if (this.#store.holds(entry.id)) return this.#memory.put(entry, signal);
    if (this.#memory.tryPut(entry)) return this.#store.written().then(() => entry);
    // Admitted entries are written as they join (#accept), in the turn that
    // resolves this: the group of that turn is the one to wait for.
    return this.#memory.put(entry, signal).then(async () => {
      await this.#store.written();
      return entry;
    });
  }

  take(max: number, filter?: TakeFilter): Entry[] {
    const taken = this.#memory.take(max, filter);
    for (const entry of taken) this.#store.started(entry.id);
    return taken;
  }

  remove(id: string): boolean {
    return this.#memory.remove(id);
  }

  settle(id: string, outcome: Outcome): void {
    this.#store.settle(id, outcome, Date.now());
  }

  rejectBlocked(error: unknown): void {
    this.#memory.rejectBlocked(error);
  }

  written(): Promise<void> {
    return this.#store.written();
  }

  hold(entry: Entry, until: number): void {
    if (this.#store.holds(entry.id)) this.#store.hold(entry.id, this.#codec.attemptOf(entry), until);
    else this.#insert(entry, until);
  }

  release(id: string): void {
    this.#store.release(id);
  }

  recover(max: number): StoredJob[] {
    return this.#store.recover(max);
  }

  find(id: string): StoredJob | StoredOutcome | undefined {
    return this.#store.find(id);
  }

  scheduleMemory(key: string): ScheduleMemory {
    const store = this.#store;
    return { lastDueAt: store.lastTick(key), reached: (dueAt) => store.tick(key, dueAt) };
  }

  close(): void {
    this.#store.close();
  }

  #accept(entry: Entry): void {
    if (!this.#store.holds(entry.id)) this.#insert(entry, undefined);
  }

  #insert(entry: Entry, runAt: number | undefined): void {
    const stored = this.#codec.describe(entry);
    this.#store.insert(runAt === undefined ? stored : { ...stored, runAt });
  }
}

