/**
 * `map`'s chunks: consecutive inputs that travel to a thread as one job, the
 * window that holds them until their results are taken, and how large
 * `batchSize: 'auto'` makes them.
 */
import type { ChunkResult, JobFailure } from '../workers/protocol.js';
import type { JobHandle } from './job.js';
import { Fifo } from './job-window.js';
import type { SettledResult } from './workflow-types.js';

/** Key of a runner's chunk path (internal: see `ChunkSubmitter`). */
export const CHUNKS: unique symbol = Symbol('baozi.chunks');

/** What became of an input that failed inside a chunk. */
export type ItemFailure = { error: unknown; job?: undefined } | { job: JobHandle; error?: undefined };

/** A runner's way in for `map` chunks, on the normal path (table, events, cancellation, close). */
export interface ChunkSubmitter {
  /** Runs at once (threads × jobs per thread). */
  readonly slots: number;
  /** Measured milliseconds per input of each task, kept from one `map` to the next. */
  readonly estimates: Map<string, number>;
  /** Whether jobs of `name` may travel in chunks: not when a rate limit counts its starts. */
  canChunk(name: string): boolean;
  /**
   * Submits one job that runs `name` once per input and resolves with every
   * outcome; `payload` is `Chunk.payload` (see `ChunkMessage`), `count` its
   * number of inputs.
   */
  submit(name: string, payload: unknown[], count: number): Promise<JobHandle<ChunkResult>>;
  /**
   * An input of `chunk` failed. Gives the error it settles with, as its
   * run as a job of its own would have, or, when its task's retry policy
   * (or the task itself, through `retry()`) may run it again, the job that
   * now does.
   */
  failItem(chunk: JobHandle, args: unknown[], failure: JobFailure): ItemFailure;
}

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

// Marks an input that runs again as a job of its own and has not settled.
const PENDING = Symbol('pending');

/** Consecutive inputs that travel together: one chunk job, or one ordinary job per input. */
export class Chunk {
  /**
   * While every input has `#arity` arguments, all primitives: all of them,
   * one input after another. This travels without serializing and clones
   * several times faster than a list per input.
   */
  #flat: unknown[] | undefined = [];
  #arity = -1;
  /** Each input's own argument list, once an input did not fit the flat form. */
  #lists: unknown[][] | undefined;
  count = 0;
  job: JobHandle | undefined;
  isSettled = false;
  /** Once settled: each input's value, where it has no error. */
  values: unknown[] | undefined;
  /** Once settled, if any input failed: its error, or `PENDING` while it runs again on its own. */
  errors: unknown[] | undefined;
  /** Inputs already taken out, in input order. */
  taken = 0;
  /** The chunk job's result, emptied once every input is out (`getJob()` may keep the job). */
  result: ChunkResult | undefined;

  constructor(
    /** Index of the first input. */
    readonly first: number,
  ) {}

  /** Adds an input's arguments (copied: the caller may reuse its array). */
  add(args: readonly unknown[]): void {
    const flat = this.#flat;
    if (flat && (this.#arity === args.length || this.count === 0) && args.every(isPrimitive)) {
      this.#arity = args.length;
      for (const arg of args) flat.push(arg);
    } else {
      this.#unflatten().push([...args]);
    }
    this.count++;
  }

  /** Adds an input that is its task's one argument. */
  addOne(value: unknown): void {
    const flat = this.#flat;
    if (flat && (this.#arity === 1 || this.count === 0) && isPrimitive(value)) {
      this.#arity = 1;
      flat.push(value);
    } else {
      this.#unflatten().push([value]);
    }
    this.count++;
  }

  /** Input `index`'s arguments, until the chunk settles. */
  argsOf(index: number): unknown[] {
    if (this.#lists) return this.#lists[index]!;
    const start = index * this.#arity;
    return this.#flat!.slice(start, start + this.#arity);
  }

  /**
   * What the chunk job carries: `[count, arity, ...flat]` while flat, else
   * the list of each input's arguments (serialized at submit like any
   * job's arguments).
   */
  get payload(): unknown[] {
    return this.#lists ?? [this.count, this.#arity, ...this.#flat!];
  }

  /** Lets the arguments go: the chunk has settled. */
  release(): void {
    this.#flat = this.#lists = undefined;
  }

  #unflatten(): unknown[][] {
    if (this.#lists) return this.#lists;
    const lists: unknown[][] = new Array<unknown[]>(this.count);
    for (let i = 0; i < this.count; i++) lists[i] = this.argsOf(i);
    this.#flat = undefined;
    return (this.#lists = lists);
  }
}

function isPrimitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol');
}

/**
 * Inputs read and not yet taken out, grouped in chunks. `size` counts
 * inputs from `add()` to `take()`, settled or not: that is what bounds
 * memory. Ordered, an input comes out once every earlier one has;
 * unordered, chunks come out as they settle, each in input order (an
 * input running again on its own comes out when it settles).
 */
export class ChunkWindow {
  readonly #isOrdered: boolean;
  readonly #onSettled: (failed: { error: unknown } | undefined, ran: { items: number; ms: number } | undefined) => void;
  readonly #failItem: (chunk: Chunk, index: number, failure: JobFailure) => ItemFailure;
  /** Ordered: every chunk, in input order. Unordered: settled chunks, in settling order. */
  readonly #queue = new Fifo<Chunk>();
  /** Jobs not settled: what `stop()` cancels. */
  readonly #live = new Set<JobHandle>();
  #size = 0;
  #jobs = 0;
  #stopped: { reason: unknown } | undefined;
  /** What the last successful `take()` took out. */
  value: unknown;
  isFulfilled = false;
  index = 0;

  /**
   * `onSettled` hears each chunk, and each input that ran again on its own,
   * as it settles, with the first error among them and, for a chunk job
   * that succeeded, how long its inputs ran in their thread; until `stop()`.
   * `failItem` decides what becomes of an input that failed in a chunk.
   */
  constructor(
    isOrdered: boolean,
    onSettled: (failed: { error: unknown } | undefined, ran: { items: number; ms: number } | undefined) => void,
    failItem: (chunk: Chunk, index: number, failure: JobFailure) => ItemFailure,
  ) {
    this.#isOrdered = isOrdered;
    this.#onSettled = onSettled;
    this.#failItem = failItem;
  }

  /** Inputs in flight: added and not yet taken. */
  get size(): number {
    return this.#size;
  }

  /** Jobs submitted and not settled. */
  get jobs(): number {
    return this.#jobs;
  }

  /** A new chunk, its place in line taken. */
  open(first: number): Chunk {
    const chunk = new Chunk(first);
    if (this.#isOrdered) this.#queue.push(chunk);
    return chunk;
  }

  /** Counts an input in flight, in `chunk`, with its arguments. */
  add(chunk: Chunk, args: readonly unknown[]): void {
    chunk.add(args);
    this.#size++;
  }

  /** Counts an input in flight, in `chunk`, as its task's one argument. */
  addOne(chunk: Chunk, value: unknown): void {
    chunk.addOne(value);
    this.#size++;
  }

  /** Gives the chunk its job. After `stop()`, cancels the job instead: it was submitted too late. */
  track(chunk: Chunk, job: JobHandle, isChunk: boolean): void {
    if (this.#stopped) {
      job.cancel(this.#stopped.reason);
      return;
    }
    chunk.job = job;
    this.#live.add(job);
    this.#jobs++;
    job.result.then(
      (value) => this.#settle(chunk, job, isChunk, value, undefined),
      (reason: unknown) => this.#settle(chunk, job, isChunk, undefined, { error: reason }),
    );
  }

  /** Settles every input of a chunk whose job could not be made. */
  reject(chunk: Chunk, reason: unknown): void {
    if (this.#stopped) return;
    chunk.errors = new Array<unknown>(chunk.count).fill(reason);
    this.#done(chunk, { error: reason }, undefined);
  }

  /**
   * Each input of the chunk will run as a job of its own (the chunk's
   * arguments could not be sent together): give each its job with
   * `trackItem()` or its error with `settleItem()`. Returns each input's
   * arguments.
   */
  split(chunk: Chunk): unknown[][] {
    const argLists = Array.from({ length: chunk.count }, (_, i) => chunk.argsOf(i));
    chunk.values = new Array<unknown>(chunk.count);
    chunk.errors = new Array<unknown>(chunk.count).fill(PENDING);
    this.#done(chunk, undefined, undefined);
    return argLists;
  }

  /** Input `index` of a settled chunk runs again as `job`. */
  trackItem(chunk: Chunk, index: number, job: JobHandle): void {
    if (this.#stopped) {
      job.cancel(this.#stopped.reason);
      return;
    }
    this.#live.add(job);
    this.#jobs++;
    job.result.then(
      (value) => this.#settleItem(chunk, index, job, value, undefined),
      (reason: unknown) => this.#settleItem(chunk, index, job, undefined, { error: reason }),
    );
  }

  /** Settles input `index` of a split chunk whose job could not be made. */
  settleItem(chunk: Chunk, index: number, reason: unknown): void {
    this.#settleItem(chunk, index, undefined, undefined, { error: reason });
  }

  /**
   * Takes out the next input whose turn it is, into `value`, `isFulfilled`
   * (else `value` is its error) and `index`. Returns `false` when none is
   * ready.
   */
  take(): boolean {
    for (;;) {
      const chunk = this.#queue.peek();
      if (!chunk?.isSettled) return false;
      const i = chunk.taken;
      if (i === chunk.count) {
        this.#queue.shift();
        // Its job may stay findable with getJob(): let its values go.
        if (chunk.result) chunk.result.values.length = 0;
        continue;
      }
      const error = chunk.errors?.[i];
      if (error === PENDING) {
        if (this.#isOrdered) return false;
        // It comes out on its own once it settles.
        chunk.taken++;
        continue;
      }
      chunk.taken++;
      this.#size--;
      this.index = chunk.first + i;
      this.isFulfilled = error === undefined;
      this.value = this.isFulfilled ? chunk.values![i] : error;
      return true;
    }
  }

  /** The last input taken out, as a `SettledResult`. */
  settled(): SettledResult<unknown> {
    return this.isFulfilled
      ? { status: 'fulfilled', value: this.value, index: this.index }
      : { status: 'rejected', reason: this.value, index: this.index };
  }

  /** Cancels every job in flight with `reason` and drops every result not taken. Idempotent. */
  stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = { reason };
    const live = [...this.#live];
    this.#live.clear();
    this.#queue.clear();
    this.#size = 0;
    this.#jobs = 0;
    for (const job of live) job.cancel(reason);
  }

  #settle(chunk: Chunk, job: JobHandle, isChunk: boolean, value: unknown, failed: { error: unknown } | undefined): void {
    if (!this.#live.delete(job)) return;
    this.#jobs--;
    if (failed) {
      chunk.errors = new Array<unknown>(chunk.count).fill(failed.error);
      return this.#done(chunk, failed, undefined);
    }
    if (!isChunk) {
      chunk.values = [value];
      return this.#done(chunk, undefined, undefined);
    }
    const result = value as ChunkResult;
    chunk.result = result;
    chunk.values = result.values;
    const { failures } = result;
    if (failures) {
      const errors = new Array<unknown>(chunk.count);
      for (let i = 0; i < chunk.count; i++) {
        const failure = failures[i];
        if (!failure) continue;
        const outcome = this.#failItem(chunk, i, failure);
        if (outcome.job) {
          errors[i] = PENDING;
          this.trackItem(chunk, i, outcome.job);
        } else {
          errors[i] = outcome.error;
          failed ??= { error: outcome.error };
        }
      }
      chunk.errors = errors;
    }
    this.#done(chunk, failed, { items: chunk.count, ms: result.ms });
  }

  #done(chunk: Chunk, failed: { error: unknown } | undefined, ran: { items: number; ms: number } | undefined): void {
    chunk.isSettled = true;
    chunk.release();
    if (!this.#isOrdered) this.#queue.push(chunk);
    this.#onSettled(failed, ran);
  }

  #settleItem(chunk: Chunk, index: number, job: JobHandle | undefined, value: unknown, failed: { error: unknown } | undefined): void {
    if (job ? !this.#live.delete(job) : this.#stopped) return;
    if (job) this.#jobs--;
    if (this.#isOrdered) {
      chunk.values![index] = value;
      chunk.errors![index] = failed ? failed.error : undefined;
    } else {
      // Out of its chunk's turn: it comes out as a chunk of its own.
      const alone = new Chunk(chunk.first + index);
      alone.count = 1;
      alone.isSettled = true;
      alone.release();
      if (failed) alone.errors = [failed.error];
      else alone.values = [value];
      this.#queue.push(alone);
    }
    this.#onSettled(failed, undefined);
  }
}
