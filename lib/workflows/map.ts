/**
 * `map`: runs a task over an iterable or async iterable, reading it lazily,
 * and gives the results back as an async iterable.
 */
import { CancelledError, InvalidOptionError, PayloadTooLargeError, SerializationError } from '../errors.js';
import type { JobHandle } from '../job/job.js';
import { Chunk } from '../dispatch/chunk.js';
import { RUN_TARGET_MS } from '../dispatch/run-sizer.js';
import { ChunkWindow } from './chunk-window.js';
import { chunkPathOf, type ChunkSubmitter } from './map-chunks.js';
import type { SubmitOptions } from '../options.js';
import type { TaskArgs, TaskName, TaskResult } from '../task-types.js';
import { checkCapacity, resolveMapOptions, type MapOptions, type ResolvedMapOptions } from './workflow-options.js';
import type { JobSubmitter, OneArgTaskName, OnlyArg, SettledResult, SettleMode } from './workflow-types.js';

/** An iterable or an async iterable: what `map` reads. */
export type AnyIterable<Item> = Iterable<Item> | AsyncIterable<Item>;

/** What `map` yields: results, or `SettledResult`s with `settle: 'all'`. */
export type MapOutput<Result, Settle extends SettleMode> = Settle extends 'all' ? SettledResult<Result> : Result;

/**
 * Runs `name` once per input and yields the results, reading `inputs`
 * lazily: at most `submitter.capacity` inputs are in flight, and the next
 * inputs are read only when some leave. An input is in flight from when it is
 * read until the consumer, having had its result, asks for the next one
 * (finished results waiting for their turn count too). Mapping a generator
 * of millions of items therefore runs in bounded memory.
 *
 * ```ts
 * for await (const n of map(runner, 'fib', [30, 31, 32])) console.log(n);
 * for await (const sum of map(runner, 'add', pairs, { args: ([a, b]) => [a, b] })) …
 * ```
 *
 * Each input is the task's one argument, so the task must be callable with
 * one argument; for other tasks give `args: (item, index) => [...]`.
 * Nothing is read or submitted before the first `next()`. Results come out
 * in input order unless `ordered: false`. With `settle: 'fail-fast'`
 * (default) the first failing job ends the iteration with that job's error
 * and cancels the rest; with `settle: 'all'` each result is a
 * `SettledResult`. An input that throws ends the iteration with its error.
 *
 * Stopping early (`break`, `return()`), a failure or `signal` cancels the
 * jobs in flight and calls the input's `return()` (once a read in progress
 * has finished).
 *
 * With `batchSize` above 1 (or `'auto'`, the default, for tasks measured
 * to be quick), consecutive inputs travel as one job, a chunk (see
 * lib/workflows/map-chunks.ts and `MapOptions.batchSize`); each input still yields
 * its own result or error, in the same shapes as one job per input.
 *
 * Throws `InvalidOptionError` at once for bad options or inputs that are
 * not iterable.
 */
export function mapJobs<Tasks extends object, Name extends TaskName<Tasks>, Item, Settle extends SettleMode = 'fail-fast'>(
  submitter: JobSubmitter<Tasks>,
  name: Name,
  inputs: AnyIterable<Item>,
  options: Omit<MapOptions<Item, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args: (item: Item, index: number) => [...TaskArgs<Tasks, Name>] },
): AsyncIterableIterator<MapOutput<TaskResult<Tasks, Name>, Settle>>;
export function mapJobs<Tasks extends object, Name extends OneArgTaskName<Tasks>, Settle extends SettleMode = 'fail-fast'>(
  submitter: JobSubmitter<Tasks>,
  name: Name,
  inputs: AnyIterable<OnlyArg<TaskArgs<Tasks, Name>>>,
  options?: Omit<MapOptions<never, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args?: undefined },
): AsyncIterableIterator<MapOutput<TaskResult<Tasks, Name>, Settle>>;
export function mapJobs(
  submitter: JobSubmitter<object>,
  name: string,
  inputs: AnyIterable<unknown>,
  options?: MapOptions<unknown>,
): AsyncIterableIterator<unknown> {
  const resolved = resolveMapOptions(options);
  if (typeof name !== 'string' || name === '') throw new InvalidOptionError('name', name, 'a task name: a non-empty string');
  if (!isIterable(inputs)) throw new InvalidOptionError('inputs', inputs, 'an iterable or an async iterable');
  return new JobMap(submitter as unknown as LooseSubmitter, name, inputs, checkCapacity(submitter.capacity), resolved);
}

/** The submitter with the task module's types erased: `map` checks types at its own boundary. */
export interface LooseSubmitter {
  submit(name: string, args: unknown[], options?: SubmitOptions): Promise<JobHandle>;
}

const ignoreRejection = (): void => {};

// A chunk of a task this far under a run's target thread time is tiny (see #autoSize).
const TINY_SHARE_OF_RUN = 0.25;

/** An input whose `args()` threw. */
interface ArgsFailure {
  index: number;
  error: unknown;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** Whether a value can be read by `for await`. */
export function isIterable(value: unknown): value is AnyIterable<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    (typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' || typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function')
  );
}


/** The async iterator `mapJobs` returns. */
class JobMap implements AsyncIterableIterator<unknown> {
  readonly #submitter: LooseSubmitter;
  /** The runner's chunk path, when inputs may travel together. */
  readonly #chunks: ChunkSubmitter | undefined;
  readonly #name: string;
  readonly #inputs: AnyIterable<unknown>;
  readonly #capacity: number;
  readonly #options: ResolvedMapOptions;
  readonly #window: ChunkWindow;
  /** `batchSize` when fixed; `undefined` for 'auto' (the runner's sizer says). */
  readonly #fixedSize: number | undefined;
  /** 'auto': most inputs in a chunk, so that every slot keeps two chunks in flight within the window, one running and one waiting. */
  readonly #maxSize: number;
  /** 'auto', for a task measured tiny: most inputs in a chunk, one chunk per slot within the window. */
  readonly #maxTinySize: number;
  /** 'auto': most chunk jobs in flight, two per slot. */
  readonly #maxInFlight: number;
  /** Inputs the chunk being gathered takes. */
  #target = 1;
  #phase: 'idle' | 'running' | 'done' = 'idle';
  #source: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  #isAsyncSource = false;
  /** `finished`: exhausted, threw, or closed by us; never touched again. */
  #sourceState: 'open' | 'reading' | 'finished' = 'open';
  #failure: { error: unknown } | undefined;
  #nextIndex = 0;
  /** Inputs read and not yet submitted. */
  #pending: Chunk | undefined;
  /**
   * The consumer holds the result `next()` last gave: its input still counts
   * as in flight until the consumer comes back for another, so that inputs
   * read minus results the consumer got never exceeds `capacity`.
   */
  #isLent = false;
  #wakeConsumer: (() => void) | undefined;
  #wakePump: (() => void) | undefined;
  /** Room the pump waits for: a whole chunk, so that it is not woken for every result taken. */
  #wakeRoom = 1;
  // next() calls are answered one at a time, in order; `#queuedNexts` counts those not yet answered.
  #lastNext: Promise<unknown> = Promise.resolve();
  #queuedNexts = 0;
  readonly #onAbort = (): void => {
    this.#fail(new CancelledError('The map was cancelled by its signal.', { cause: this.#options.signal?.reason }));
  };

  constructor(submitter: LooseSubmitter, name: string, inputs: AnyIterable<unknown>, capacity: number, options: ResolvedMapOptions) {
    this.#submitter = submitter;
    this.#name = name;
    this.#inputs = inputs;
    this.#capacity = capacity;
    this.#options = options;
    const chunks = chunkPathOf(submitter);
    this.#chunks = options.batchSize !== 1 && chunks?.canChunk(name) ? chunks : undefined;
    const slots = this.#chunks?.slots ?? 1;
    this.#fixedSize = !this.#chunks ? 1 : options.batchSize === 'auto' ? undefined : options.batchSize;
    this.#maxSize = Math.max(1, Math.floor(capacity / (2 * slots)));
    // Room is kept for the result the consumer holds. With one slot, the
    // chunk whose results are being taken would be the only one in flight,
    // and its thread would wait for them all.
    this.#maxTinySize = slots > 1 ? Math.max(this.#maxSize, Math.floor((capacity - 1) / slots)) : this.#maxSize;
    this.#maxInFlight = 2 * slots;
    this.#window = new ChunkWindow(
      options.ordered,
      (failed) => {
        if (failed && this.#options.settle === 'fail-fast') this.#fail(failed.error);
        else this.#wake();
      },
      (chunk, index, failure) => this.#chunks!.failItem(chunk.job!, chunk.argsOf(index), failure),
    );
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    // The common case answers at once: no next() waiting, a result ready.
    if (this.#queuedNexts === 0 && this.#phase === 'running' && !this.#failure) {
      this.#release();
      if (this.#window.take()) return Promise.resolve({ done: false, value: this.#output() });
    }
    this.#queuedNexts++;
    const answer = this.#lastNext.then(() => this.#next());
    this.#lastNext = answer.catch(ignoreRejection);
    return answer;
  }

  /** Stops early: cancels the jobs in flight, drops results not yet taken, closes the input. */
  async return(value?: unknown): Promise<IteratorResult<unknown>> {
    const closing = this.#closeSource(true);
    this.#finish();
    await closing;
    return { done: true, value };
  }

  async #next(): Promise<IteratorResult<unknown>> {
    try {
      if (this.#phase === 'idle') this.#start();
      this.#release();
      for (;;) {
        if (this.#phase === 'done') return { done: true, value: undefined };
        if (this.#failure) {
          const { error } = this.#failure;
          this.#finish();
          throw error;
        }
        if (this.#window.take()) return { done: false, value: this.#output() };
        if (this.#sourceState === 'finished' && this.#window.size === 0) {
          this.#finish();
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => (this.#wakeConsumer = resolve));
      }
    } finally {
      this.#queuedNexts--;
    }
  }

  /** The input just taken, as `next()` yields it; it is lent to the consumer. */
  #output(): unknown {
    this.#isLent = true;
    const window = this.#window;
    if (this.#options.settle === 'all') return window.settled();
    // Fail-fast stops the window at the first failure, so what is left succeeded.
    return window.value;
  }

  /** The consumer came back: the result it held leaves the window. */
  #release(): void {
    if (!this.#isLent) return;
    this.#isLent = false;
    if (this.#wakePump && this.#capacity - this.#window.size >= this.#wakeRoom) this.#wakePump();
  }

  #start(): void {
    this.#phase = 'running';
    const { signal } = this.#options;
    if (signal?.aborted) return this.#onAbort();
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    const inputs = this.#inputs;
    try {
      this.#isAsyncSource = Symbol.asyncIterator in inputs;
      this.#source = this.#isAsyncSource ? (inputs as AsyncIterable<unknown>)[Symbol.asyncIterator]() : (inputs as Iterable<unknown>)[Symbol.iterator]();
    } catch (error) {
      this.#sourceState = 'finished';
      return this.#fail(error);
    }
    this.#pump().catch((error: unknown) => this.#fail(error));
  }

  /**
   * Reads inputs while the window has room and gathers them into chunks. A
   * chunk is submitted once it is full, when the window is full, when the
   * input ends, and when reading the next input waits for the event loop.
   */
  async #pump(): Promise<void> {
    const source = this.#source!;
    const window = this.#window;
    while (this.#isPumping) {
      const room = this.#capacity - window.size - (this.#isLent ? 1 : 0);
      // A new chunk starts only once there is room for all of it (or as
      // much as there can be), so results taken one by one do not make
      // chunks of one. Its size is read as it starts: every run measured
      // so far has resized it.
      if (!this.#pending) this.#target = this.#fixedSize ?? this.#autoSize();
      const roomNeeded = this.#pending ? 1 : Math.max(1, Math.min(this.#target, this.#capacity - 1));
      // 'auto' keeps two chunks per slot in flight: enough to keep the
      // threads busy, and each reply resizes the next chunk before the
      // window fills with chunks sized on the last.
      if (room < roomNeeded || (this.#fixedSize === undefined && window.jobs >= this.#maxInFlight)) {
        if (this.#pending) {
          await this.#flush();
          continue;
        }
        this.#wakeRoom = roomNeeded;
        await new Promise<void>((resolve) => (this.#wakePump = resolve));
        this.#wakePump = undefined;
        continue;
      }
      let step: IteratorResult<unknown>;
      if (this.#isAsyncSource) {
        this.#sourceState = 'reading';
        try {
          step = await (source as AsyncIterator<unknown>).next();
        } catch (error) {
          this.#sourceState = 'finished';
          return this.#fail(error);
        }
      } else {
        // A sync iterable is read without a wait per input, as many inputs as the chunk and the room take.
        const read = this.#readSync(source as Iterator<unknown>, room);
        if (read === 'read') {
          if (this.#pending && this.#pending.count >= this.#target) await this.#flush();
          continue;
        }
        if (read === 'stopped') return;
        if ('error' in read) {
          await this.#rejectAlone(read.index, read.error);
          continue;
        }
        step = read;
        // A promised value in it is awaited, as `for await` would.
        if (!step.done) {
          try {
            step = { done: false, value: await step.value };
          } catch (error) {
            this.#sourceState = 'finished';
            return this.#fail(error);
          }
        }
      }
      this.#sourceState = step.done ? 'finished' : 'open';
      if (step.done) {
        if (this.#pending) await this.#flush();
        return this.#wake();
      }
      // Stopped while reading: the value is dropped and the input closed now.
      if (!this.#isPumping) return void this.#closeSource(false);
      const failed = this.#addInput(step.value);
      if (failed) await this.#rejectAlone(failed.index, failed.error);
      else if (this.#pending!.count >= this.#target) await this.#flush();
    }
  }

  /**
   * The next chunk's size with `batchSize: 'auto'`, from the runner's
   * sizer. A task so quick that a thread runs a whole slot's share of the
   * window in a fraction of a run leaves its threads idle most of the time
   * and the main thread busy with every chunk: it goes in half as many
   * chunks, one per slot, which halves what chunks cost there. Slower
   * tasks keep two chunks per slot, one running and one waiting, so that a
   * thread never waits for the main thread.
   */
  #autoSize(): number {
    const sizer = this.#chunks!.sizer;
    const estimate = sizer.estimate(this.#name);
    const isTiny = estimate !== undefined && estimate * this.#maxTinySize < TINY_SHARE_OF_RUN * RUN_TARGET_MS;
    return sizer.size(this.#name, isTiny ? this.#maxTinySize : this.#maxSize);
  }

  /**
   * Reads a sync source into the pending chunk while the chunk and `room`
   * take more. Returns `'read'` when they are full, `'stopped'`, or what
   * the pump goes on with: the end of the input, a promised value (still
   * reading), or an input whose `args()` threw.
   */
  #readSync(source: Iterator<unknown>, room: number): 'read' | 'stopped' | IteratorResult<unknown> | ArgsFailure {
    for (let left = Math.min(room, this.#target - (this.#pending?.count ?? 0)); left > 0; left--) {
      this.#sourceState = 'reading';
      let step: IteratorResult<unknown>;
      try {
        step = source.next();
      } catch (error) {
        this.#sourceState = 'finished';
        this.#fail(error);
        return 'stopped';
      }
      if (step.done || isThenable(step.value)) return step;
      this.#sourceState = 'open';
      // Stopped while reading: the value is dropped and the input closed now.
      if (!this.#isPumping) {
        void this.#closeSource(false);
        return 'stopped';
      }
      const failed = this.#addInput(step.value);
      if (failed) return failed;
    }
    return 'read';
  }

  /** Adds the next input to the pending chunk (opened for it if none is), or returns it if its `args()` threw. */
  #addInput(value: unknown): ArgsFailure | undefined {
    const index = this.#nextIndex++;
    const { args } = this.#options;
    let argList: readonly unknown[] | undefined;
    if (args) {
      try {
        argList = args(value, index);
      } catch (error) {
        return { index, error };
      }
    }
    const chunk = this.#pending ?? this.#open(index);
    if (argList) this.#window.add(chunk, argList);
    else this.#window.addOne(chunk, value);
    return undefined;
  }

  /** The pending chunk, opened with input `index`. */
  #open(index: number): Chunk {
    const chunk = (this.#pending = this.#window.open(index));
    // Sent as it is if the next read has to wait for the event loop.
    if (this.#target > 1) setImmediate(() => this.#pending === chunk && void this.#flush());
    return chunk;
  }

  /** Input `index`, whose `args()` threw, fails alone: the inputs before it go as they are. */
  async #rejectAlone(index: number, error: unknown): Promise<void> {
    if (this.#pending) await this.#flush();
    const window = this.#window;
    const chunk = window.open(index);
    window.addOne(chunk, undefined);
    window.reject(chunk, error);
  }

  get #isPumping(): boolean {
    return this.#phase === 'running' && !this.#failure;
  }

  /** Submits the inputs read so far: as a chunk, or as an ordinary job without the chunk path. */
  async #flush(): Promise<void> {
    const chunk = this.#pending!;
    this.#pending = undefined;
    if (!this.#isPumping) return;
    // A chunk even of one input: its run is measured in its thread, which 'auto' needs.
    const isChunk = this.#chunks !== undefined;
    let job: JobHandle;
    try {
      job = isChunk ? await this.#chunks!.submit(this.#name, chunk.payload, chunk.count) : await this.#submitter.submit(this.#name, chunk.argsOf(0));
    } catch (error) {
      // One input's arguments could not be sent (or made the chunk too
      // large): each goes as its own job, so that only that one fails.
      if (isChunk && (error instanceof SerializationError || error instanceof PayloadTooLargeError)) return this.#split(chunk);
      return this.#window.reject(chunk, error);
    }
    this.#window.track(chunk, job, isChunk);
  }

  async #split(chunk: Chunk): Promise<void> {
    const argLists = this.#window.split(chunk);
    for (let i = 0; i < argLists.length; i++) {
      try {
        this.#window.trackItem(chunk, i, await this.#submitter.submit(this.#name, argLists[i]!));
      } catch (error) {
        this.#window.settleItem(chunk, i, error);
      }
    }
  }

  #fail(error: unknown): void {
    if (this.#phase === 'done' || this.#failure) return;
    this.#failure = { error };
    this.#pending = undefined;
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#window.stop(error);
    void this.#closeSource(false);
    this.#wake();
  }

  #finish(): void {
    if (this.#phase === 'done') return;
    this.#phase = 'done';
    this.#pending = undefined;
    this.#window.stop(undefined);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    void this.#closeSource(false);
    this.#wake();
  }

  #wake(): void {
    this.#wakeConsumer?.();
    this.#wakeConsumer = undefined;
    this.#wakePump?.();
  }

  /**
   * Calls the input's `return()` once, unless it ended on its own. While a
   * read is in progress the pump calls it when the read ends. With
   * `rethrow`, an error from `return()` reaches the caller.
   */
  async #closeSource(rethrow: boolean): Promise<void> {
    if (!this.#source || this.#sourceState !== 'open') return;
    this.#sourceState = 'finished';
    try {
      await this.#source.return?.();
    } catch (error) {
      if (rethrow) throw error;
    }
  }
}
