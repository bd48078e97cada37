/**
 * The broker contract: the bounded table between producers and the
 * dispatcher. It speaks plain data, never callbacks into a job's policy, so
 * that a store that cannot call back into JavaScript (a SQLite transaction,
 * a Redis script) can stand in for the in-memory broker. Look-ahead and
 * policy (rate limits, batching, prefetch, expiry) stay in the dispatcher,
 * which says what it wants through a `TakeFilter`.
 */

/**
 * How a job may travel to a thread, read by the dispatcher's filters:
 * - `'any'`: nothing to stop mid-run; it may share a message with other jobs
 *   of its task, and wait in a busy thread behind another job (prefetch);
 * - `'batch'`: it has a signal to be cancelled by; it may share a message;
 * - `'alone'`: a time limit, `onProgress`, a transfer list or a `map` chunk:
 *   it travels alone.
 */
export type Sharing = 'any' | 'batch' | 'alone';

/** What a broker reads of a job. */
export interface BrokerEntry {
  /** Unique among the jobs the broker holds. */
  readonly id: string;
  /** The task that runs it. */
  readonly name: string;
  /** Higher runs first; first in, first out within a priority. */
  readonly priority: number;
  readonly sharing: Sharing;
}

/** Which jobs `take()` may give. Every field narrows; none set takes the next jobs in line. */
export interface TakeFilter {
  /** Tasks that may not start now (rate limited): their jobs are passed over and keep their places. */
  readonly heldTasks?: ReadonlySet<string>;
  /** Only jobs of these tasks. */
  readonly tasks?: ReadonlySet<string>;
  /**
   * Only jobs that may travel this way: `'any'` takes only `'any'` jobs,
   * `'batch'` takes `'any'` and `'batch'` ones.
   */
  readonly sharing?: 'any' | 'batch';
  /**
   * Take from the head of the line only: stop at the first job that does
   * not match instead of passing over it, so that no job overtakes another.
   * Jobs of `heldTasks` may not start now: they are passed over even so,
   * keeping their places.
   */
  readonly inLine?: boolean;
}

/** How a job left the dispatcher for good. */
export type Outcome = { readonly state: 'succeeded'; readonly result: unknown } | { readonly state: 'failed' | 'cancelled' | 'expired'; readonly error: unknown };

/** What a broker reports as it changes: synchronously, after the change. */
export interface BrokerObserver<Entry> {
  /** The entry is on the table now (put there at once or after waiting). */
  added(entry: Entry): void;
  /** The table just became full. */
  full(): void;
  /** The table has room again after being full. */
  drained(): void;
}

/**
 * The bounded table. Jobs taken are the dispatcher's until it calls
 * `settle()`; a broker that outlives its process gives back, through
 * `recover()`, those a dead process took and never settled.
 */
export interface Broker<Entry extends BrokerEntry> {
  /** Most entries the table holds. */
  readonly capacity: number;
  /** Entries on the table now. */
  readonly size: number;
  /** Producers waiting for room. */
  readonly blocked: number;
  /** Puts the entry on the table if there is room and nobody waits before it; never waits. */
  tryPut(entry: Entry): boolean;
  /**
   * Puts the entry on the table, waiting for room behind earlier waiters
   * (first in, first out, each in O(1)). Resolves with the entry once it is
   * on the table;
   * rejects with `CancelledError` if `signal` aborts first or the entry is
   * removed while it waits, leaving no reservation behind.
   */
  put(entry: Entry, signal?: AbortSignal): Promise<Entry>;
  /** Takes up to `max` entries that pass `filter`: highest priority first, first in, first out within one. */
  take(max: number, filter?: TakeFilter): Entry[];
  /**
   * Takes the entry with this id off the table, or out of the line of
   * entries waiting for room (its `put` then rejects with `CancelledError`).
   * Returns whether it was in either place. O(1).
   */
  remove(id: string): boolean;
  /** Records how a taken job ended. */
  settle(id: string, outcome: Outcome): void;
  /** Rejects every waiting producer with `error`; their entries never join. */
  rejectBlocked(error: unknown): void;
  /** Entries a dead process took and never settled, put back on the table. Brokers that live and die with their process have none. */
  recover?(): Entry[];
}

/** Whether `entry` passes `filter`'s per-entry tests. */
export function passes(entry: BrokerEntry, filter: TakeFilter): boolean {
  if (filter.heldTasks?.has(entry.name)) return false;
  if (filter.tasks && !filter.tasks.has(entry.name)) return false;
  if (filter.sharing === 'any') return entry.sharing === 'any';
  if (filter.sharing === 'batch') return entry.sharing !== 'alone';
  return true;
}
