/**
 * The model-based run of RELIABILITY.md (LS1) through the real Piscina
 * path: short random command sequences against a real runner, checking
 * the invariants that can be seen from outside (stats(), events, every
 * result settling once) after every command, and quiet after close.
 *
 * Replay a failure with the seed and path it prints:
 *   BAOZI_PROPERTY_SEED=<seed> BAOZI_PROPERTY_PATH=<path> npm test -- real-pool
 * More runs: BAOZI_PROPERTY_REAL_RUNS=100.
 */
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc, { type Arbitrary, type AsyncCommand } from 'fast-check';
import { CancelledError, RunnerClosedError, SerializationError, TableFullError, TaskError, type JobHandle, type JobState, type Runner, type SubmitOptions } from 'baozi';
import { hostProcess, useRunners } from '../helpers/e2e.js';
import type { TestTasks } from '../helpers/runner.js';

const SEED = Number(process.env.BAOZI_PROPERTY_SEED ?? 20_240_611);
const RUNS = Number(process.env.BAOZI_PROPERTY_REAL_RUNS ?? 20);
const PATH = process.env.BAOZI_PROPERTY_PATH;
// Replaying a path needs at least as many runs as its first step counts.
const REPLAY_RUNS = PATH ? Number(PATH.split(':')[0]) + 1 : 0;
const SLOTS = 2;

const runners = useRunners();

/**
 * `byteLength` moves a buffer of `args[0]` bytes to its thread; with
 * `isDetached` that buffer was moved away before submit, which must be
 * refused there (issue 16 A). The buffer is made as the command runs: a
 * command replayed while shrinking must not find it moved already.
 */
type Task =
  | { name: 'add'; args: [number, number] }
  | { name: 'sleep'; args: [number] }
  | { name: 'throwError'; args: [string] }
  | { name: 'byteLength'; args: [number]; isDetached: boolean };

// Past what one Node timer can wait (it would fire after 1 ms): such times must never fire in a run (issue 16 B).
const LONG = 2 ** 31 + 1000;
const LONG_TIMES: SubmitOptions = { timeout: 2 * LONG, softTimeout: LONG, expiresIn: LONG };

/** What the test knows of one submit() or trySubmit() call. */
interface Submission {
  readonly task: Task;
  readonly controller: AbortController | undefined;
  readonly isTry: boolean;
  submitted: 'pending' | 'admitted' | 'rejected';
  submitError: unknown;
  handle: JobHandle | undefined;
  settleCount: number;
  outcome: { isOk: true; value: unknown } | { isOk: false; error: unknown } | undefined;
  cancelReason: unknown;
}

const TERMINAL: readonly string[] = ['succeeded', 'failed', 'cancelled', 'expired'];
const ALLOWED_BEFORE: Record<string, readonly string[]> = {
  queued: ['new', 'retrying', 'scheduled'],
  running: ['queued'],
  retrying: ['running'],
  succeeded: ['running'],
  failed: ['running'],
  cancelled: ['queued', 'running', 'retrying', 'scheduled'],
  expired: ['queued', 'retrying', 'scheduled'],
};

class World {
  readonly submissions: Submission[] = [];
  /** Job events by job id, in the order the runner emitted them. */
  readonly states = new Map<string, string[]>();
  readonly violations: string[] = [];
  isClosing = false;

  constructor(
    readonly runner: Runner<TestTasks>,
    readonly capacity: number,
  ) {
    for (const event of Object.keys(ALLOWED_BEFORE)) {
      runner.on(event as 'queued', ({ job }) => this.onJobEvent(event, job));
    }
  }

  fail(message: string): void {
    this.violations.push(message);
  }

  throwIfViolated(where: string): void {
    if (this.violations.length > 0) throw new Error(`after ${where}:\n  ${this.violations.join('\n  ')}`);
  }

  private onJobEvent(event: string, job: JobHandle): void {
    const states = this.states.get(job.id) ?? [];
    this.states.set(job.id, states);
    const previous = states.at(-1) ?? 'new';
    if (TERMINAL.includes(previous)) this.fail(`state machine: ${event} for ${job.id} after it was ${previous}`);
    else if (!ALLOWED_BEFORE[event]!.includes(previous)) this.fail(`state machine: ${job.id} went from ${previous} to ${event}`);
    if (job.state !== event) this.fail(`${event} event for ${job.id}, whose state is ${job.state}`);
    states.push(event);
    this.checkStats(`the ${event} event of ${job.id}`);
  }

  submit(task: Task, options: SubmitCommandOptions, isTry: boolean): void {
    const controller = options.signal ? runners.abortController() : undefined;
    const submission: Submission = {
      task,
      controller,
      isTry,
      submitted: 'pending',
      submitError: undefined,
      handle: undefined,
      settleCount: 0,
      outcome: undefined,
      cancelReason: undefined,
    };
    this.submissions.push(submission);
    const stats = this.runner.stats();
    const hasRoom = stats.queued < this.capacity && stats.blocked === 0;
    const submitOptions: SubmitOptions = { priority: options.priority, ...(controller && { signal: controller.signal }), ...(options.hasLongTimes && LONG_TIMES) };
    let args: unknown[] = task.args;
    if (task.name === 'byteLength') {
      const bytes = new Uint8Array(task.args[0]);
      if (task.isDetached) structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
      args = [bytes];
      submitOptions.transferList = [bytes.buffer];
    }
    const isRefusedAnyway = task.name === 'byteLength' && task.isDetached && !this.isClosing;
    const admitted = (handle: JobHandle): void => {
      submission.submitted = 'admitted';
      submission.handle = handle;
      handle.result.then(
        (value) => {
          submission.settleCount++;
          submission.outcome = { isOk: true, value };
        },
        (error: unknown) => {
          submission.settleCount++;
          submission.outcome = { isOk: false, error };
        },
      );
    };
    const refused = (error: unknown): void => {
      submission.submitted = 'rejected';
      submission.submitError = error;
    };
    if (isTry) {
      try {
        admitted(this.runner.trySubmit(task.name, args as never, submitOptions));
        if (this.isClosing) this.fail('trySubmit on a closed runner returned a job');
        if (!hasRoom) this.fail('trySubmit on a full table returned a job');
        if (isRefusedAnyway) this.fail('trySubmit of a detached buffer returned a job');
      } catch (error) {
        refused(error);
        const expected = this.isClosing ? RunnerClosedError : isRefusedAnyway ? SerializationError : TableFullError;
        if (!(error instanceof expected)) this.fail(`trySubmit threw ${String(error)}, expected ${expected.name}`);
        if (!this.isClosing && hasRoom && !isRefusedAnyway) this.fail('trySubmit threw though the table had room');
      }
      return;
    }
    this.runner.submit(task.name, args as never, submitOptions).then(admitted, refused);
    // Admission with room is synchronous: the job is queued or running before submit() returns.
    if (hasRoom && !this.isClosing && this.runner.stats().blocked !== stats.blocked) this.fail('a submit with room waited for it');
    if (isRefusedAnyway && this.runner.stats().blocked !== stats.blocked) this.fail('a submit of a detached buffer waited for room');
  }

  /** 1 and 5: bounds, and no producer waiting while there is room. */
  checkStats(where: string): void {
    const stats = this.runner.stats();
    if (stats.queued < 0 || stats.queued > this.capacity) this.fail(`${where}: ${stats.queued} queued on a table of ${this.capacity}`);
    // One job per slot, and with prefetch (on by default) one more waiting in each thread.
    if (stats.running > 2 * SLOTS) this.fail(`${where}: ${stats.running} running on ${SLOTS} slots (and ${SLOTS} prefetched)`);
    if (stats.blocked > 0 && stats.queued < this.capacity) this.fail(`${where}: lost wake-up: ${stats.blocked} blocked with ${stats.queued}/${this.capacity} queued`);
  }

  /** 2 and 3, between commands: stats agree with the jobs' states, and results settle once, when terminal. */
  check(where: string): void {
    this.checkStats(where);
    const stats = this.runner.stats();
    const handles = this.submissions.flatMap((submission) => (submission.handle ? [submission.handle] : []));
    const count = (state: JobState): number => handles.filter((handle) => handle.state === state).length;
    if (count('queued') !== stats.queued) this.fail(`${where}: ${count('queued')} handles queued, stats() says ${stats.queued}`);
    if (count('running') !== stats.running) this.fail(`${where}: ${count('running')} handles running, stats() says ${stats.running}`);
    for (const state of ['succeeded', 'failed', 'cancelled'] as const) {
      if (count(state) !== stats[state]) this.fail(`${where}: ${count(state)} handles ${state}, stats() says ${stats[state]}`);
    }
    const pending = this.submissions.filter((submission) => submission.submitted === 'pending').length;
    if (pending !== stats.blocked && !this.isClosing) this.fail(`${where}: ${pending} producers wait, stats() says ${stats.blocked} blocked`);
    for (const handle of handles) {
      const terminal = (this.states.get(handle.id) ?? []).filter((state) => TERMINAL.includes(state)).length;
      const isSettled = TERMINAL.includes(handle.state);
      if (terminal !== (isSettled ? 1 : 0)) this.fail(`${where}: ${handle.id} is ${handle.state} after ${terminal} terminal events`);
    }
  }

  /** Every job settled once with the outcome of its task, and nothing is left after close. */
  checkEnd(): void {
    const stats = this.runner.stats();
    if (stats.threads !== 0 || stats.queued !== 0 || stats.running !== 0 || stats.blocked !== 0 || stats.scheduled !== 0) {
      this.fail(`after close: ${JSON.stringify({ threads: stats.threads, queued: stats.queued, running: stats.running, blocked: stats.blocked })}`);
    }
    const accepted = new Set(this.states.keys());
    for (const submission of this.submissions) {
      const { handle, task } = submission;
      if (submission.controller && getEventListeners(submission.controller.signal, 'abort').length !== 0) {
        this.fail(`after close: a signal still has ${getEventListeners(submission.controller.signal, 'abort').length} listeners`);
      }
      if (submission.submitted === 'pending') {
        this.fail(`after close: a submit(${task.name}) still waits`);
        continue;
      }
      if (handle && task.name === 'byteLength' && task.isDetached) this.fail(`a submit of a detached buffer was accepted as ${handle.id}`);
      if (!handle) {
        const error = submission.submitError;
        const isDetached = task.name === 'byteLength' && task.isDetached;
        const isExpected =
          error instanceof RunnerClosedError || error instanceof CancelledError || (submission.isTry && error instanceof TableFullError) || (isDetached && error instanceof SerializationError);
        if (!isExpected) this.fail(`a submit(${task.name}) was refused with ${String(error)}`);
        continue;
      }
      accepted.delete(handle.id);
      const states = this.states.get(handle.id) ?? [];
      if (submission.settleCount !== 1 || states.filter((state) => TERMINAL.includes(state)).length !== 1) {
        this.fail(`settle once: ${handle.id} settled ${submission.settleCount} times, events ${states.join(' → ')}`);
        continue;
      }
      const { outcome } = submission;
      if (handle.state === 'cancelled') {
        const error = outcome?.isOk ? undefined : (outcome?.error as Error | undefined);
        if (!(error instanceof CancelledError)) this.fail(`${handle.id} is cancelled, its result did not reject with CancelledError`);
        else if (submission.cancelReason !== undefined && error.cause !== submission.cancelReason && !(error.cause instanceof RunnerClosedError)) {
          this.fail(`${handle.id} was cancelled without its reason as cause`);
        }
      } else if (task.name === 'throwError') {
        if (outcome?.isOk || !(outcome?.error instanceof TaskError)) this.fail(`${handle.id} (throwError) did not reject with TaskError`);
      } else {
        const expected = task.name === 'add' ? task.args[0] + task.args[1] : task.args[0];
        if (!outcome?.isOk || outcome.value !== expected) this.fail(`${handle.id} (${task.name}) settled with ${describeOutcome(outcome)}, expected ${expected}`);
      }
    }
    if (accepted.size > 0) this.fail(`jobs ${[...accepted].join(', ')} had events but no producer holds them`);
  }
}

function describeOutcome(outcome: Submission['outcome']): string {
  if (!outcome) return 'nothing';
  if (outcome.isOk) return JSON.stringify(outcome.value);
  const error = outcome.error as Error;
  return `${error.name} (${error.message}), cause: ${(error.cause as Error | undefined)?.stack ?? String(error.cause)}`;
}

type Command = AsyncCommand<object, World>;

abstract class WorldCommand implements Command {
  check(): boolean {
    return true;
  }

  async run(_model: object, world: World): Promise<void> {
    await this.apply(world);
    // Lets promise reactions run (a producer let in hears of it a microtask later); not a wait for time.
    await new Promise((resolve) => setImmediate(resolve));
    world.check(this.toString());
    world.throwIfViolated(this.toString());
  }

  abstract apply(world: World): Promise<void> | void;
  abstract toString(): string;
}

interface SubmitCommandOptions {
  priority: number;
  signal: boolean;
  /** timeout, softTimeout and expiresIn past 2^31−1 ms. */
  hasLongTimes: boolean;
}

class SubmitCommand extends WorldCommand {
  constructor(
    private readonly task: Task,
    private readonly options: SubmitCommandOptions,
    private readonly isTry: boolean,
  ) {
    super();
  }

  apply(world: World): void {
    world.submit(this.task, this.options, this.isTry);
  }

  toString(): string {
    const extra = `${this.options.priority ? `, p${this.options.priority}` : ''}${this.options.signal ? ', signal' : ''}${this.options.hasLongTimes ? ', long times' : ''}`;
    if (this.task.name === 'byteLength') return `${this.isTry ? 'trySubmit' : 'submit'}(byteLength(${this.task.isDetached ? 'detached ' : ''}${this.task.args[0]} bytes)${extra})`;
    return `${this.isTry ? 'trySubmit' : 'submit'}(${this.task.name}(${this.task.args.join(', ')})${extra})`;
  }
}

class CancelCommand extends WorldCommand {
  constructor(
    private readonly pick: number,
    private readonly via: 'handle' | 'signal',
  ) {
    super();
  }

  apply(world: World): void {
    const live = world.submissions.filter(
      (submission) => (submission.handle && !TERMINAL.includes(submission.handle.state)) || (submission.submitted === 'pending' && submission.controller),
    );
    if (live.length === 0) return;
    const target = live[this.pick % live.length]!;
    const reason = new Error('cancelled by the property');
    target.cancelReason = reason;
    const statesBefore = new Map(world.submissions.map((submission) => [submission, submission.handle?.state]));
    if (this.via === 'signal' && target.controller) target.controller.abort(reason);
    else if (target.handle && !target.handle.cancel(reason)) world.fail(`cancel() of live ${target.handle.id} returned false`);
    if (target.handle && target.handle.state !== 'cancelled') world.fail(`${target.handle.id} is ${target.handle.state} after cancel`);
    // 7. Only the target changed (a producer let in by the room it left was not yet a handle).
    for (const [submission, state] of statesBefore) {
      if (submission !== target && submission.handle && submission.handle.state !== state) {
        world.fail(`cancelling one job moved ${submission.handle.id} from ${state} to ${submission.handle.state}`);
      }
    }
  }

  toString(): string {
    return `cancel(#${this.pick}, ${this.via})`;
  }
}

/** Waits for the next job to settle: the world moves on without sleeping. */
class AwaitCommand extends WorldCommand {
  async apply(world: World): Promise<void> {
    const results = world.submissions.flatMap((submission) => (submission.handle && !TERMINAL.includes(submission.handle.state) ? [submission.handle.result] : []));
    if (results.length > 0) await Promise.race(results.map((result) => result.then(() => {}, () => {})));
  }

  toString(): string {
    return 'awaitOne()';
  }
}

class CloseCommand extends WorldCommand {
  constructor(private readonly drain: boolean) {
    super();
  }

  async apply(world: World): Promise<void> {
    world.isClosing = true;
    await world.runner.close({ drain: this.drain });
  }

  toString(): string {
    return `close({ drain: ${this.drain} })`;
  }
}

const task: Arbitrary<Task> = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 })).map(([a, b]): Task => ({ name: 'add', args: [a, b] })),
  fc.integer({ min: 0, max: 15 }).map((ms): Task => ({ name: 'sleep', args: [ms] })),
  fc.constant<Task>({ name: 'throwError', args: ['planned failure'] }),
  fc.tuple(fc.integer({ min: 1, max: 64 }), fc.boolean()).map(([size, isDetached]): Task => ({ name: 'byteLength', args: [size], isDetached })),
);
const submitOptions = fc.record({ priority: fc.constantFrom(0, 0, 1), signal: fc.boolean(), hasLongTimes: fc.boolean() });

const commands = fc.commands<object, World, false>(
  [
    fc.oneof(
      { weight: 6, arbitrary: fc.tuple(task, submitOptions).map(([t, options]) => new SubmitCommand(t, options, false)) },
      { weight: 2, arbitrary: fc.tuple(task, submitOptions).map(([t, options]) => new SubmitCommand(t, options, true)) },
      { weight: 2, arbitrary: fc.tuple(fc.nat(), fc.constantFrom('handle' as const, 'signal' as const)).map(([pick, via]) => new CancelCommand(pick, via)) },
      { weight: 2, arbitrary: fc.constant(new AwaitCommand()) },
    ),
  ],
  { maxCommands: 12, size: 'max' },
);

describe('Runner on real worker threads', () => {
  let unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  beforeAll(() => void hostProcess().on('unhandledRejection', onUnhandled));
  afterAll(() => void hostProcess().off('unhandledRejection', onUnhandled));

  it('LS1: BP1: keeps the invariants seen from outside after every command, and is quiet after close', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), commands, fc.boolean(), async (capacity, cmds, drain) => {
        unhandled = [];
        const runner = runners.track(runners.runner({ capacity, maxThreads: SLOTS, minThreads: 1 }));
        const world = new World(runner, capacity);
        try {
          await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
          await new CloseCommand(drain).run({}, world);
          world.checkEnd();
          world.throwIfViolated('close');
        } finally {
          await runner.close({ drain: 'none' });
        }
        await new Promise((resolve) => setImmediate(resolve));
        if (unhandled.length > 0) throw new Error(`${unhandled.length} unhandled rejections, the first: ${String(unhandled[0])}`);
      }),
      { seed: SEED, numRuns: Math.max(RUNS, REPLAY_RUNS), ...(PATH && { path: PATH }) },
    );
    expect(unhandled).toEqual([]);
    await runners.expectNoLiveThreads();
  }, 20_000 + RUNS * 1000);
});
