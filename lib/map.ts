/**
 * `map`: runs a task over an iterable or async iterable, reading it lazily,
 * and gives the results back as an async iterable.
 */
import { CancelledError, InvalidOptionError } from './errors.js';
import type { JobHandle } from './job.js';
import { JobWindow } from './job-window.js';
import type { SubmitOptions } from './options.js';
import type { TaskArgs, TaskName, TaskResult } from './task-types.js';
import { checkCapacity, resolveMapOptions, type MapOptions, type ResolvedMapOptions } from './workflow-options.js';
import type { JobSubmitter, OneArgTaskName, OnlyArg, SettledResult, SettleMode } from './workflow-types.js';

/** An iterable or an async iterable: what `map` reads. */
export type AnyIterable<Item> = Iterable<Item> | AsyncIterable<Item>;

/** What `map` yields: results, or `SettledResult`s with `settle: 'all'`. */
export type MapOutput<Result, Settle extends SettleMode> = Settle extends 'all' ? SettledResult<Result> : Result;

/**
 * Runs `name` once per input and yields the results, reading `inputs`
 * lazily: at most `submitter.capacity` inputs are in flight, and the next
 * input is read only when one leaves. An input is in flight from when it is
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
 * has finished). There is no `batchSize`: each input is its own job.
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
  readonly #name: string;
  readonly #inputs: AnyIterable<unknown>;
  readonly #capacity: number;
  readonly #options: ResolvedMapOptions;
  readonly #window: JobWindow<unknown>;
  #phase: 'idle' | 'running' | 'done' = 'idle';
  #source: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  #isAsyncSource = false;
  /** `finished`: exhausted, threw, or closed by us; never touched again. */
  #sourceState: 'open' | 'reading' | 'finished' = 'open';
  #failure: { error: unknown } | undefined;
  #nextIndex = 0;
  /**
   * The consumer holds the result `next()` last gave: its input still counts
   * as in flight until the consumer comes back for another, so that inputs
   * read minus results the consumer got never exceeds `capacity`.
   */
  #isLent = false;
  #wakeConsumer: (() => void) | undefined;
  #wakePump: (() => void) | undefined;
  // next() calls are answered one at a time, in order.
  #lastNext: Promise<unknown> = Promise.resolve();
  readonly #onAbort = (): void => {
    this.#fail(new CancelledError('The map was cancelled by its signal.', { cause: this.#options.signal?.reason }));
  };

  constructor(submitter: LooseSubmitter, name: string, inputs: AnyIterable<unknown>, capacity: number, options: ResolvedMapOptions) {
    this.#submitter = submitter;
    this.#name = name;
    this.#inputs = inputs;
    this.#capacity = capacity;
    this.#options = options;
    this.#window = new JobWindow(options.ordered, (outcome) => {
      if (outcome.status === 'rejected' && this.#options.settle === 'fail-fast') this.#fail(outcome.reason);
      else this.#wake();
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
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
    if (this.#phase === 'idle') this.#start();
    if (this.#isLent) {
      this.#isLent = false;
      this.#wakePump?.();
    }
    for (;;) {
      if (this.#phase === 'done') return { done: true, value: undefined };
      if (this.#failure) {
        const { error } = this.#failure;
        this.#finish();
        throw error;
      }
      const outcome = this.#window.take();
      if (outcome) {
        this.#isLent = true;
        return { done: false, value: this.#options.settle === 'all' ? outcome : (outcome as { value: unknown }).value };
      }
      if (this.#sourceState === 'finished' && this.#window.size === 0) {
        this.#finish();
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => (this.#wakeConsumer = resolve));
    }
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

  /** Reads an input whenever the window has room, and submits its job. */
  async #pump(): Promise<void> {
    const source = this.#source!;
    while (this.#isPumping) {
      if (this.#window.size + (this.#isLent ? 1 : 0) >= this.#capacity) {
        await new Promise<void>((resolve) => (this.#wakePump = resolve));
        this.#wakePump = undefined;
        continue;
      }
      this.#sourceState = 'reading';
      let step: IteratorResult<unknown>;
      try {
        // A sync iterable is read without a wait per input; a promised value
        // in it is awaited, as `for await` would.
        if (this.#isAsyncSource) step = await (source as AsyncIterator<unknown>).next();
        else {
          step = (source as Iterator<unknown>).next();
          if (!step.done && isThenable(step.value)) step = { done: false, value: await step.value };
        }
      } catch (error) {
        this.#sourceState = 'finished';
        return this.#fail(error);
      }
      this.#sourceState = step.done ? 'finished' : 'open';
      if (step.done) return this.#wake();
      // Stopped while reading: the value is dropped and the input closed now.
      if (!this.#isPumping) return void this.#closeSource(false);
      await this.#submit(step.value, this.#nextIndex++);
    }
  }

  get #isPumping(): boolean {
    return this.#phase === 'running' && !this.#failure;
  }

  async #submit(item: unknown, index: number): Promise<void> {
    const slot = this.#window.open(index);
    let args: unknown[];
    try {
      args = this.#options.args ? [...this.#options.args(item, index)] : [item];
    } catch (error) {
      return this.#window.reject(slot, error);
    }
    try {
      this.#window.track(slot, await this.#submitter.submit(this.#name, args));
    } catch (error) {
      this.#window.reject(slot, error);
    }
  }

  #fail(error: unknown): void {
    if (this.#phase === 'done' || this.#failure) return;
    this.#failure = { error };
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#window.stop(error);
    void this.#closeSource(false);
    this.#wake();
  }

  #finish(): void {
    if (this.#phase === 'done') return;
    this.#phase = 'done';
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
