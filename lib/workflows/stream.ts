/**
 * `stream`: a Node Duplex in object mode whose written chunks become jobs and
 * whose readable side gives their results, with backpressure end to end.
 */
import { Duplex } from 'node:stream';
import { CancelledError, InvalidOptionError, StreamNullResultError } from '../errors.js';
import { ChunkWindow } from './chunk-window.js';
import type { LooseSubmitter } from './map.js';
import type { TaskArgs, TaskName } from '../task-types.js';
import { checkCapacity, resolveStreamOptions, type ResolvedStreamOptions, type StreamOptions } from './workflow-options.js';
import type { JobSubmitter, OneArgTaskName, OnlyArg, SettleMode } from './workflow-types.js';

/**
 * A Duplex stream in object mode: each chunk written becomes a job of
 * `name`, and the jobs' results are read from it, in the order the chunks
 * were written unless `ordered: false`.
 *
 * ```ts
 * await pipeline(images, stream(runner, 'resize'), sink);
 * ```
 *
 * Backpressure runs end to end. A write is acknowledged (its callback
 * called) only once the table took its job and fewer than
 * `submitter.capacity` of the stream's jobs are in flight (submitted and
 * their result not yet pushed out). Past that, writes wait in the writable
 * buffer; once it holds `highWaterMark` chunks, `write()` returns `false`
 * and `pipeline` stops reading the source. Results the reader has not taken
 * wait in the readable buffer (`highWaterMark` chunks), then inside the
 * stream, where they count as in flight. So the stream holds at most
 * `capacity + 2 × highWaterMark` chunks and results.
 *
 * Each chunk is the task's one argument, unless `args` builds the
 * arguments. With `settle: 'fail-fast'` (default) a failing job destroys
 * the stream with that job's error (`TaskError`, ...); with `settle: 'all'`
 * each result is pushed as a `SettledResult`. A job resolving with `null`
 * (which a Node stream cannot carry) destroys the stream with
 * `StreamNullResultError` (`BAOZI_STREAM_NULL_RESULT`) unless `settle` is
 * `all`. Destroying the stream, for any reason, cancels its jobs in flight.
 *
 * Throws `InvalidOptionError` at once for bad options.
 */
export function jobStream<Tasks extends object, Name extends TaskName<Tasks>, Item, Settle extends SettleMode = 'fail-fast'>(
  submitter: JobSubmitter<Tasks>,
  name: Name,
  options: Omit<StreamOptions<Item, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args: (chunk: Item, index: number) => [...TaskArgs<Tasks, Name>] },
): Duplex;
export function jobStream<Tasks extends object, Name extends OneArgTaskName<Tasks>, Settle extends SettleMode = 'fail-fast'>(
  submitter: JobSubmitter<Tasks>,
  name: Name,
  options?: Omit<StreamOptions<never, TaskArgs<Tasks, Name>, Settle>, 'args'> & { args?: undefined },
): Duplex;
export function jobStream(submitter: JobSubmitter<object>, name: string, options?: StreamOptions<unknown>): Duplex {
  const resolved = resolveStreamOptions(options);
  if (typeof name !== 'string' || name === '') throw new InvalidOptionError('name', name, 'a task name: a non-empty string');
  return new JobStream(submitter as unknown as LooseSubmitter, name, checkCapacity(submitter.capacity), resolved);
}

type WriteCallback = (error?: Error | null) => void;

/** The Duplex `jobStream` returns. */
class JobStream extends Duplex {
  readonly #submitter: LooseSubmitter;
  readonly #name: string;
  readonly #capacity: number;
  readonly #options: ResolvedStreamOptions;
  readonly #window: ChunkWindow;
  #written = 0;
  /** Whether the readable side takes more: `push()` said yes, or `_read()` asked since. */
  #canPush = true;
  /** The write acknowledged once a job of the window leaves. */
  #heldWrite: WriteCallback | undefined;
  /** `_final`'s callback, called once every result is pushed. */
  #finalCallback: WriteCallback | undefined;
  readonly #onAbort = (): void => {
    this.destroy(new CancelledError('The stream was cancelled by its signal.', { cause: this.#options.signal?.reason }));
  };

  constructor(submitter: LooseSubmitter, name: string, capacity: number, options: ResolvedStreamOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark });
    this.#submitter = submitter;
    this.#name = name;
    this.#capacity = capacity;
    this.#options = options;
    // Each written chunk is a window chunk of one input, with an ordinary job.
    this.#window = new ChunkWindow(options.ordered, (failed, { job, values }) => {
      if (options.settle === 'fail-fast') {
        if (failed) return void this.destroy(failed.error as Error);
        if (values?.[0] === null && job) return void this.destroy(new StreamNullResultError({ job: { jobId: job.id, task: job.name, attempt: job.attempt } }));
      }
      this.#flush();
    });
    const { signal } = options;
    if (signal?.aborted) this.#onAbort();
    else signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: WriteCallback): void {
    const index = this.#written++;
    const window = this.#window;
    const slot = window.open(index);
    window.addInput(slot);
    let args: unknown[];
    try {
      args = this.#options.args ? [...this.#options.args(chunk, index)] : [chunk];
    } catch (error) {
      window.reject(slot, error);
      return this.#acknowledge(callback);
    }
    this.#submitter.submit(this.#name, args).then(
      (job) => {
        window.track(slot, job, false);
        this.#acknowledge(callback);
      },
      (error: unknown) => {
        window.reject(slot, error);
        this.#acknowledge(callback);
      },
    );
  }

  override _read(): void {
    this.#canPush = true;
    this.#flush();
  }

  override _final(callback: WriteCallback): void {
    this.#finalCallback = callback;
    this.#flush();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#window.stop(error ?? undefined);
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#finalCallback = undefined;
    // Node answers the writer of a destroyed stream with ERR_STREAM_DESTROYED.
    const held = this.#heldWrite;
    this.#heldWrite = undefined;
    held?.();
    callback(error);
  }

  /** Acknowledges a write whose job is on the table, or holds it while the window is full. */
  #acknowledge(callback: WriteCallback): void {
    if (this.destroyed || this.#window.size < this.#capacity) callback();
    else this.#heldWrite = callback;
  }

  /** Pushes the results whose turn it is while the reader takes them; then frees the writer, or ends. */
  #flush(): void {
    if (this.destroyed) return;
    const window = this.#window;
    while (this.#canPush && window.take()) {
      this.#canPush = this.push(this.#options.settle === 'all' ? window.settled() : window.value);
    }
    if (this.#heldWrite && this.#window.size < this.#capacity) {
      const held = this.#heldWrite;
      this.#heldWrite = undefined;
      held();
    }
    if (this.#finalCallback && this.#window.size === 0) {
      const done = this.#finalCallback;
      this.#finalCallback = undefined;
      this.push(null);
      done();
    }
  }
}
