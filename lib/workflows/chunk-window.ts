/** The window of `map` and `stream`: inputs in flight, in chunks, and their results until it is their turn to come out. */
import type { ChunkResult, JobFailure } from '../../workers/protocol.js';
import { Chunk, PENDING } from '../dispatch/chunk.js';
import type { JobHandle } from '../job/job.js';
import { Fifo } from './fifo.js';
import type { ItemFailure } from './map-chunks.js';
import type { SettledResult } from './workflow-types.js';

/**
 * Inputs read and not yet taken out, grouped in chunks: a `map` chunk
 * job's inputs, or one input whose job is an ordinary job (`map` with
 * `batchSize: 1`, each written chunk of a `stream`). `size` counts inputs
 * from `add()` to `take()`, settled or not: that is what bounds memory. Ordered, an input comes out once every earlier one has;
 * unordered, chunks come out as they settle, each in input order (an
 * input running again on its own comes out when it settles).
 */
export class ChunkWindow {
  readonly #isOrdered: boolean;
  readonly #onSettled: (failed: { error: unknown } | undefined, chunk: Chunk) => void;
  readonly #failItem: ((chunk: Chunk, index: number, failure: JobFailure) => ItemFailure) | undefined;
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
   * `onSettled` hears each chunk, and each input that ran again on its own
   * (as a chunk of its own, unordered), as it settles, with the first error
   * among them; until `stop()`. `failItem` decides what becomes of an input
   * that failed in a chunk job; without chunk jobs, none is needed.
   */
  constructor(
    isOrdered: boolean,
    onSettled: (failed: { error: unknown } | undefined, chunk: Chunk) => void,
    failItem?: (chunk: Chunk, index: number, failure: JobFailure) => ItemFailure,
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

  /** Counts an input in flight, in `chunk`, whose arguments only its job keeps (it never runs again from here). */
  addInput(chunk: Chunk): void {
    chunk.count++;
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
    this.#done(chunk, { error: reason });
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
    this.#done(chunk, undefined);
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
      return this.#done(chunk, failed);
    }
    if (!isChunk) {
      chunk.values = [value];
      return this.#done(chunk, undefined);
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
        const outcome = this.#failItem!(chunk, i, failure);
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
    this.#done(chunk, failed);
  }

  #done(chunk: Chunk, failed: { error: unknown } | undefined): void {
    chunk.isSettled = true;
    chunk.release();
    if (!this.#isOrdered) this.#queue.push(chunk);
    this.#onSettled(failed, chunk);
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
    this.#onSettled(failed, chunk);
  }
}
