/**
 * Options of `group()`, `chord()`, `map()` and `stream()`, their defaults
 * and their validation. Kept apart from `options.ts` while workflows are
 * wired into the runner; the interfaces can move there unchanged.
 */
import { InvalidOptionError } from '../errors.js';
import { DEFAULTS } from '../options.js';
import type { SettleMode } from './workflow-types.js';

/** Most inputs in one `map` chunk (`batchSize`). */
export const MAX_BATCH_SIZE = 10_000;

/** Options of `group(members, options)`. Unknown keys are rejected. */
export interface GroupOptions<Settle extends SettleMode = SettleMode> {
  /**
   * `fail-fast`: the first member to fail rejects the group with
   * `WorkflowStepError` and the other members are cancelled (or never
   * submitted), like `Promise.all`. `all`: every member runs to its end and
   * the group resolves with one `SettledResult` per member, in order, like
   * `Promise.allSettled`; it rejects only when cancelled.
   * @default 'fail-fast'
   */
  settle?: Settle;
}

/** Options of `map(name, inputs, options)`. Unknown keys are rejected. */
export interface MapOptions<Item = never, Args extends readonly unknown[] = readonly unknown[], Settle extends SettleMode = SettleMode> {
  /**
   * `true`: results come out in the order of the inputs; a slow job holds
   * back the results after it (they wait, counted as in flight). `false`:
   * results come out as their jobs finish.
   * @default true
   */
  ordered?: boolean;
  /**
   * `fail-fast`: the first job to fail ends the iteration by rejecting with
   * that job's error (a `TaskError`, ...); the jobs still in flight are
   * cancelled and results not yet taken are dropped. `all`: nothing fails
   * the iteration but the input itself throwing or `signal`; each result
   * comes out as a `SettledResult` with the input's `index`.
   * @default 'fail-fast'
   */
  settle?: Settle;
  /**
   * Builds a job's arguments from an input and its 0-based position. Without
   * it, each input is the task's one argument (`map('fib', [30, 31])` runs
   * `fib(30)` and `fib(31)`). An exception thrown here fails that input like
   * a failing job.
   * @default (item) => [item]
   */
  args?: (item: Item, index: number) => Args;
  /**
   * Stops the iteration: the jobs in flight are cancelled, the input's
   * `return()` is called, and the pending (or next) `next()` rejects with
   * `CancelledError` (`BAOZI_CANCELLED`) with the abort reason as `cause`.
   */
  signal?: AbortSignal;
  /**
   * Inputs sent to a thread together, as one job (a chunk): the thread runs
   * the task once per input, one after another, and sends every outcome
   * back in one message. Each input still yields its own result or its own
   * error, in the shapes one job per input gives (`TaskError`, ...).
   *
   * `1`: one ordinary job per input. An integer from 2 to 10000: chunks of
   * that many inputs (fewer when the window of `capacity` inputs is full,
   * the input ends, or reading it has to wait). `'auto'`: chunks sized by
   * the runner's one run sizer, which transparent batches share, from the
   * in-thread time of every run of the task so far (chunks, batches and
   * single jobs alike): about 2 ms of work each, up to
   * `capacity / (2 × threads)`, and at most four times the largest run
   * measured, starting from one input for a task not yet measured; at
   * most two chunks per thread are in flight, one running and one
   * waiting. With two threads or more, a task so tiny that a chunk of
   * `(capacity - 1) / threads` inputs takes under a quarter of the 2 ms
   * gets chunks of up to that many, one per thread (its threads are idle
   * most of the time; half as many chunks cost the main thread half as
   * much). A task whose runs take over 1 ms thus gets chunks of one
   * input.
   *
   * A chunk is one job: one entry on the table, one set of events, one
   * count in `stats()`; an input failing inside it does not fail it. Its
   * inputs share its job id, attempt, `signal` and progress
   * (`reportProgress()` reports the chunk's). Its time limits (`timeout`,
   * `softTimeout` from the runner's `defaults`) are the task's times its
   * number of inputs; past the hard limit, or when its thread crashes,
   * every input of the chunk fails with that error. An input that fails
   * runs again as a job of its own when the task's retry policy (or
   * `retry()` in the task) allows: from attempt 2, after the backoff, as a
   * job failing its first run would. Tasks with a rate limit get one
   * ordinary job per input (a chunk would count as one start), and so does
   * a chunk whose arguments cannot be sent together.
   * @default 'auto'
   */
  batchSize?: number | 'auto';
}

/** Options of `stream(name, options)`. Unknown keys are rejected. */
export interface StreamOptions<Item = never, Args extends readonly unknown[] = readonly unknown[], Settle extends SettleMode = SettleMode> {
  /**
   * `true`: results are pushed in the order the chunks were written.
   * `false`: as their jobs finish.
   * @default true
   */
  ordered?: boolean;
  /**
   * `fail-fast`: the first job to fail destroys the stream with that job's
   * error; the jobs in flight are cancelled. `all`: failures do not end the
   * stream; each result is pushed as a `SettledResult` with the chunk's
   * `index`.
   * @default 'fail-fast'
   */
  settle?: Settle;
  /**
   * Builds a job's arguments from a written chunk and its 0-based position.
   * Without it, each chunk is the task's one argument. An exception thrown
   * here destroys the stream (with `settle: 'all'`, it is that chunk's
   * rejected result).
   * @default (chunk) => [chunk]
   */
  args?: (chunk: Item, index: number) => Args;
  /**
   * Chunks buffered on each side of the stream (object mode: a count of
   * chunks, not bytes): written chunks waiting to become jobs, and results
   * waiting to be read. Integer, at least 1. Together with the table's
   * `capacity` (jobs in flight) it bounds how far the stream reads ahead of
   * its consumer.
   * @default 16 (Node's object-mode default)
   */
  highWaterMark?: number;
  /**
   * Destroys the stream with `CancelledError` (`BAOZI_CANCELLED`), the
   * abort reason as `cause`, cancelling the jobs in flight.
   */
  signal?: AbortSignal;
}

/** Every workflow default, in one place. */
/** What `map` and streams share. */
export interface ResolvedEachOptions {
  ordered: boolean;
  settle: SettleMode;
  args: ((item: unknown, index: number) => readonly unknown[]) | undefined;
  signal: AbortSignal | undefined;
}

export interface ResolvedMapOptions extends ResolvedEachOptions {
  batchSize: number | 'auto';
}

export interface ResolvedStreamOptions extends ResolvedEachOptions {
  highWaterMark: number;
}

const GROUP_KEYS = ['settle'] as const satisfies readonly (keyof GroupOptions)[];
const MAP_KEYS = ['ordered', 'settle', 'args', 'signal', 'batchSize'] as const satisfies readonly (keyof MapOptions)[];
const STREAM_KEYS = ['ordered', 'settle', 'args', 'highWaterMark', 'signal'] as const satisfies readonly (keyof StreamOptions)[];
const SETTLE_MODES: readonly SettleMode[] = ['fail-fast', 'all'];

/** Checks `group()` options. Throws `InvalidOptionError`. */
export function resolveGroupOptions(options: GroupOptions | undefined): { settle: SettleMode } {
  if (options === undefined) return { settle: DEFAULTS.workflows.settle };
  checkObject('group options', options, GROUP_KEYS);
  return { settle: settle(options.settle) };
}

/** Checks `map()` options. Throws `InvalidOptionError`. */
export function resolveMapOptions(options: MapOptions<unknown> | undefined): ResolvedMapOptions {
  if (options === undefined) return { ...shared({}), batchSize: DEFAULTS.workflows.batchSize };
  checkObject('map options', options, MAP_KEYS);
  const { batchSize } = options;
  if (batchSize !== undefined && batchSize !== 'auto' && (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE)) {
    throw new InvalidOptionError('batchSize', batchSize, `'auto', or an integer from 1 to ${MAX_BATCH_SIZE}`);
  }
  return { ...shared(options), batchSize: batchSize ?? DEFAULTS.workflows.batchSize };
}

/** Checks `stream()` options. Throws `InvalidOptionError`. */
export function resolveStreamOptions(options: StreamOptions<unknown> | undefined): ResolvedStreamOptions {
  if (options === undefined) return { ...shared({}), highWaterMark: DEFAULTS.workflows.highWaterMark };
  checkObject('stream options', options, STREAM_KEYS);
  const { highWaterMark } = options;
  if (highWaterMark !== undefined && (typeof highWaterMark !== 'number' || !Number.isSafeInteger(highWaterMark) || highWaterMark < 1)) {
    throw new InvalidOptionError('highWaterMark', highWaterMark, 'an integer, 1 or more');
  }
  return { ...shared(options), highWaterMark: highWaterMark ?? DEFAULTS.workflows.highWaterMark };
}

/**
 * Checks the submitter's `capacity`, the most inputs `map` and streams keep
 * in flight. Throws `InvalidOptionError`.
 */
export function checkCapacity(capacity: unknown): number {
  if (typeof capacity !== 'number' || !Number.isSafeInteger(capacity) || capacity < 1) {
    throw new InvalidOptionError('capacity', capacity, "the table's capacity: an integer, 1 or more");
  }
  return capacity;
}

function shared(options: MapOptions<unknown> | StreamOptions<unknown>): ResolvedEachOptions {
  const { ordered, args, signal } = options;
  if (ordered !== undefined && typeof ordered !== 'boolean') throw new InvalidOptionError('ordered', ordered, 'true or false');
  if (args !== undefined && typeof args !== 'function') throw new InvalidOptionError('args', args, 'a function (item, index) => the arguments as an array');
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidOptionError('signal', signal, 'an AbortSignal');
  return { ordered: ordered ?? DEFAULTS.workflows.ordered, settle: settle(options.settle), args, signal };
}

function settle(value: unknown): SettleMode {
  if (value === undefined) return DEFAULTS.workflows.settle;
  if (!SETTLE_MODES.includes(value as SettleMode)) throw new InvalidOptionError('settle', value, `one of ${SETTLE_MODES.map((mode) => `'${mode}'`).join(', ')}`);
  return value as SettleMode;
}

function checkObject(what: string, value: unknown, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError(what, value, 'an object');
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(key, (value as Record<string, unknown>)[key], `no such option; known ${what}: ${known.join(', ')}`);
    }
  }
}
