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
 * `settle()`; a broker that outlives its process (`DurableBroker`) gives
 * back, through `recover()`, those a dead process accepted and never settled.
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
}

/**
 * A job as a durable broker keeps it until it settles: plain data, all a
 * later process needs to run it again (only the runner can make it a live
 * job, with its promise). `args` are as they travel: given (primitives) or
 * v8-serialized bytes.
 */
export interface StoredJob {
  readonly id: string;
  readonly name: string;
  readonly args: unknown[] | Uint8Array;
  readonly isEncoded: boolean;
  readonly priority: number;
  /** The run it is at: 1, or more after retries. */
  readonly attempt: number;
  /** Epoch ms. */
  readonly submittedAt: number;
  /** When it may enter the table (a delay, or a retry's backoff), epoch ms; none for now. */
  readonly runAt: number | undefined;
  readonly expiresAt: number | undefined;
  /** Inputs of a `map` chunk; 0 for an ordinary job. */
  readonly chunkSize: number;
  /** The job's own options that can be written down (no functions, no signal). */
  readonly options: StoredOptions | undefined;
  /** Times a process died while it ran, when it is given back after such a death; 0 for a new job. */
  readonly redeliveries?: number;
}

/** What a durable broker keeps of a job's own options. */
export interface StoredOptions {
  readonly timeout?: number;
  readonly softTimeout?: number;
  readonly retry?: { readonly max: number; readonly backoff: 'fixed' | 'exponential'; readonly delay: number; readonly maxDelay: number; readonly jitter: 'full' | 'none' };
}

/** A settled job as a durable broker keeps it for `resultTtl`, read back by id after a restart. */
export interface StoredOutcome {
  readonly id: string;
  readonly name: string;
  readonly attempt: number;
  readonly submittedAt: number;
  /** Epoch ms. */
  readonly finishedAt: number;
  readonly outcome: Outcome;
}

/**
 * A broker that outlives its process (a journal on disk, a server). On top
 * of the contract:
 * - what it accepted is written in groups: `put` resolves only once the
 *   group holding its entry is written, and after a `tryPut` (or `hold`)
 *   `written()` says when that is;
 * - it keeps accepted jobs that wait off the table (`hold`) and outcomes;
 * - a new process gets back, through `recover()`, every job a dead one
 *   accepted and never settled.
 */
export interface DurableBroker<Entry extends BrokerEntry> extends Broker<Entry> {
  /**
   * Resolves once every change made so far is durable; rejects with the
   * error of the write that held the latest change (a `JournalError`).
   */
  written(): Promise<void>;
  /** The entry, accepted, waits off the table until `until` (epoch ms): a delay or a retry's backoff. */
  hold(entry: Entry, until: number): void;
  /** The job leaves this process unsettled (cancelled as the runner closes): kept for the next process instead of settled. */
  release(id: string): void;
  /** Jobs a dead process left unsettled, counted when the broker opened. */
  readonly recoverable: number;
  /** The next `max` of those, oldest first; each is given once (here or by `find`), then `[]`. */
  recover(max: number): StoredJob[];
  /** A job by id: unsettled from a dead process and not yet recovered (given once, as by `recover`), or settled and still kept. */
  find(id: string): StoredJob | StoredOutcome | undefined;
  /** Where the periodic schedule named `key` keeps its last tick. */
  scheduleMemory(key: string): ScheduleMemory;
  /** Writes what is pending and lets go of the store (the runner closed). */
  close(): void;
}

/** Where a schedule keeps its last tick across restarts (a durable broker). */
export interface ScheduleMemory {
  /** The due time (epoch ms) of the last tick a runner reached, if any did. */
  readonly lastDueAt: number | undefined;
  /** A tick was reached (submitted or skipped): kept with the writes of this turn. */
  reached(dueAt: number): void;
}

/** Whether the broker outlives its process. */
export function isDurable<Entry extends BrokerEntry>(broker: Broker<Entry>): broker is DurableBroker<Entry> {
  return 'recover' in broker;
}

/** Whether `entry` passes `filter`'s per-entry tests. */
export function passes(entry: BrokerEntry, filter: TakeFilter): boolean {
  if (filter.heldTasks?.has(entry.name)) return false;
  if (filter.tasks && !filter.tasks.has(entry.name)) return false;
  if (filter.sharing === 'any') return entry.sharing === 'any';
  if (filter.sharing === 'batch') return entry.sharing !== 'alone';
  return true;
}
