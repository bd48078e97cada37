/**
 * The canvas: `chain`, `group` and `chord` compose signatures into
 * workflows. Every step is a real job, submitted through the runner like any
 * other (it waits for room on the table, has its own id and events).
 */
import { setMaxListeners } from 'node:events';
import { CancelledError, InvalidOptionError, WorkflowStepError, type WorkflowKind } from '../errors.js';
import type { JobHandle } from '../job/job.js';
import type { SubmitOptions } from '../options.js';
import { isSignature, type AnySignature, type ChainResult, type ChainSteps, type GroupMembers, type GroupResults, type NextSignature, type SignatureResult } from './signature.js';
import { resolveGroupOptions, type GroupOptions } from './workflow-options.js';
import type { JobSubmitter, SettledResult, SettleMode, WorkflowHandle, WorkflowState } from './workflow-types.js';

/**
 * Runs steps one after another, each given the previous step's result as its
 * first argument; resolves with the last step's result.
 *
 * ```ts
 * const total = chain(runner, sig('add', [1, 2]), sig('double'), sig('add', [10]));
 * await total.result; // add(1, 2) = 3, double(3) = 6, add(6, 10) = 16
 * ```
 *
 * A step is submitted once the one before it succeeded. A failing step
 * stops the chain: `result` rejects with `WorkflowStepError`
 * (`BAOZI_WORKFLOW_STEP_FAILED`) carrying `step` (0-based), `task`, `jobId`
 * and the step's error as `cause`; later steps are never submitted.
 *
 * Types: the first step must name a task with all its arguments; each later
 * one all but the first, and the previous result must fit that first
 * parameter. Checked for steps written out in the call; a spread array of
 * signatures is not checked and its result is `unknown`.
 *
 * Throws `InvalidOptionError` at once for no steps or a step that is not a
 * signature; every other problem rejects `result`.
 */
export function chain<Tasks extends object, Steps extends readonly AnySignature[]>(
  submitter: JobSubmitter<Tasks>,
  ...steps: Steps & ChainSteps<Tasks, Steps>
): WorkflowHandle<ChainResult<Tasks, Steps>> {
  checkSignatures('steps', steps, 1);
  const workflow = new Workflow<ChainResult<Tasks, Steps>>('chain', submitter as LooseSubmitter);
  workflow.run(async () => {
    let previous: unknown;
    for (const [index, step] of (steps as readonly AnySignature[]).entries()) {
      const outcome = await workflow.runStep(index, step, index === 0 ? [...step.args] : [previous, ...step.args]);
      if (!outcome) return;
      previous = outcome.value;
    }
    workflow.succeed(previous as ChainResult<Tasks, Steps>);
  });
  return workflow;
}

/**
 * Runs members in parallel; resolves with their results in member order.
 *
 * ```ts
 * const sizes = group(runner, [sig('fib', [20]), sig('fib', [25])]);
 * await sizes.result; // [6765, 75025]
 * ```
 *
 * Members are submitted in order, each once the table took the one before,
 * so a group larger than the table waits for room like any producer. With
 * `settle: 'fail-fast'` (default) the first failure rejects with
 * `WorkflowStepError` (`step` is the member's index) and the other members
 * are cancelled; with `settle: 'all'` every member runs and the group
 * resolves with a `SettledResult` per member. An empty group resolves `[]`.
 *
 * Throws `InvalidOptionError` at once for bad options or a member that is
 * not a signature.
 */
export function group<Tasks extends object, const Members extends readonly AnySignature[], Settle extends SettleMode = 'fail-fast'>(
  submitter: JobSubmitter<Tasks>,
  members: Members & GroupMembers<Tasks, Members>,
  options?: GroupOptions<Settle>,
): WorkflowHandle<GroupOutput<GroupResults<Tasks, Members>, Settle>> {
  const { settle } = resolveGroupOptions(options);
  checkSignatures('members', members, 0);
  const workflow = new Workflow<GroupOutput<GroupResults<Tasks, Members>, Settle>>('group', submitter as LooseSubmitter);
  workflow.run(async () => {
    const results = await runMembers(workflow, members, settle);
    if (results) workflow.succeed(results as GroupOutput<GroupResults<Tasks, Members>, Settle>);
  });
  return workflow;
}

/**
 * Runs a group, then `callback` with the list of the members' results as its
 * first argument; resolves with the callback's result.
 *
 * ```ts
 * const total = chord(runner, [sig('fib', [20]), sig('fib', [25])], sig('sum'));
 * await total.result; // sum([6765, 75025]) = 81790
 * ```
 *
 * Fails fast: a failing member rejects with `WorkflowStepError` (`step` is
 * the member's index), cancels the other members and the callback is never
 * submitted; a failing callback rejects with `step` equal to the number of
 * members. Type-checked like a chain step: the callback's first parameter
 * must accept the members' results.
 *
 * Throws `InvalidOptionError` at once for a member or callback that is not
 * a signature.
 */
export function chord<Tasks extends object, const Members extends readonly AnySignature[], Callback extends AnySignature>(
  submitter: JobSubmitter<Tasks>,
  members: Members & GroupMembers<Tasks, Members>,
  callback: Callback & NextSignature<Tasks, Callback, GroupResults<Tasks, Members>>,
): WorkflowHandle<SignatureResult<Tasks, Callback>> {
  checkSignatures('members', members, 0);
  checkSignatures('callback', [callback], 1);
  const workflow = new Workflow<SignatureResult<Tasks, Callback>>('chord', submitter as LooseSubmitter);
  workflow.run(async () => {
    const results = await runMembers(workflow, members, 'fail-fast');
    if (!results) return;
    const outcome = await workflow.runStep(members.length, callback, [results, ...callback.args]);
    if (outcome) workflow.succeed(outcome.value as SignatureResult<Tasks, Callback>);
  });
  return workflow;
}

/** What a group resolves to in a settle mode. */
export type GroupOutput<Results extends readonly unknown[], Settle extends SettleMode> = Settle extends 'all'
  ? { -readonly [K in keyof Results]: SettledResult<Results[K]> }
  : Results;

/** The submitter with the task module's types erased: workflows check types at their own boundary. */
interface LooseSubmitter {
  submit(name: string, args: unknown[], options?: SubmitOptions): Promise<JobHandle>;
}

const ignoreRejection = (): void => {};

/** A workflow's state, its steps' jobs and the controller that stops them. */
class Workflow<Result> implements WorkflowHandle<Result> {
  state: WorkflowState = 'running';
  readonly result: Promise<Result>;
  readonly #jobs: JobHandle[] = [];
  // Given to every step's submit(): aborting it withdraws a step still
  // waiting for room, which no handle can reach yet.
  readonly #controller = new AbortController();
  #resolve!: (value: Result) => void;
  #reject!: (error: unknown) => void;

  constructor(
    readonly kind: WorkflowKind,
    private readonly submitter: LooseSubmitter,
  ) {
    this.result = new Promise<Result>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result.catch(ignoreRejection);
    // One listener per live step (the runner's), however large the group.
    setMaxListeners(0, this.#controller.signal);
  }

  get jobs(): readonly JobHandle[] {
    return [...this.#jobs];
  }

  get isLive(): boolean {
    return this.state === 'running';
  }

  /** Starts the workflow's body; anything it throws fails the workflow. */
  run(body: () => Promise<void>): void {
    body().catch((error: unknown) => this.fail(error));
  }

  cancel(reason?: unknown): boolean {
    if (!this.isLive) return false;
    this.state = 'cancelled';
    this.#stopSteps(reason);
    this.#reject(new CancelledError(`The ${this.kind} was cancelled.`, { cause: reason }));
    return true;
  }

  succeed(value: Result): void {
    if (!this.isLive) return;
    this.state = 'succeeded';
    this.#resolve(value);
  }

  /** Fails the workflow and cancels its pending steps, with `error` as their reason. */
  fail(error: unknown): void {
    if (!this.isLive) return;
    this.state = 'failed';
    this.#stopSteps(error);
    this.#reject(error);
  }

  /**
   * Submits a step and waits for its job's result. Resolves with it, or with
   * `undefined` once the workflow has ended (this step failing ends it).
   */
  async runStep(index: number, step: AnySignature, args: unknown[]): Promise<{ value: unknown } | undefined> {
    const job = await this.submitStep(index, step, args);
    if (!job) return undefined;
    try {
      const value = await job.result;
      return this.isLive ? { value } : undefined;
    } catch (error) {
      this.fail(this.stepError(index, step, error, job));
      return undefined;
    }
  }

  /**
   * Puts a step on the table (waiting for room). Resolves with its job, or
   * with `undefined` when the workflow ended meanwhile. Rejects with
   * `WorkflowStepError` when the step cannot be submitted.
   */
  async submitStep(index: number, step: AnySignature, args: unknown[]): Promise<JobHandle | undefined> {
    if (!this.isLive) return undefined;
    const { options, release } = this.#stepOptions(step.options);
    let job: JobHandle;
    try {
      job = await this.submitter.submit(step.name, args, options);
    } catch (error) {
      release();
      if (!this.isLive) return undefined;
      throw this.stepError(index, step, error, undefined);
    }
    job.result.then(release, release);
    this.#jobs.push(job);
    if (!this.isLive) return undefined;
    return job;
  }

  stepError(index: number, step: AnySignature, cause: unknown, job: JobHandle | undefined): WorkflowStepError {
    return new WorkflowStepError(this.kind, index, step.name, {
      cause,
      job: job && { jobId: job.id, task: job.name, attempt: job.attempt },
    });
  }

  // Cancel through the handles first, so each job's CancelledError carries
  // `reason` itself (an aborted signal would turn `undefined` into an
  // AbortError); then abort to withdraw a step still waiting for room.
  #stopSteps(reason: unknown): void {
    for (const job of this.#jobs) job.cancel(reason);
    this.#controller.abort(reason);
  }

  /** The step's options with the workflow's signal, joined to the step's own when it has one. */
  #stepOptions(options: SubmitOptions | undefined): { options: SubmitOptions; release: () => void } {
    const workflowSignal = this.#controller.signal;
    const own = options?.signal;
    if (!own) return { options: { ...options, signal: workflowSignal }, release: () => {} };
    const joined = new AbortController();
    const fromOwn = (): void => joined.abort(own.reason);
    const fromWorkflow = (): void => joined.abort(workflowSignal.reason);
    const release = (): void => {
      own.removeEventListener('abort', fromOwn);
      workflowSignal.removeEventListener('abort', fromWorkflow);
    };
    if (own.aborted) fromOwn();
    else {
      own.addEventListener('abort', fromOwn, { once: true });
      workflowSignal.addEventListener('abort', fromWorkflow, { once: true });
    }
    return { options: { ...options, signal: joined.signal }, release };
  }
}

/**
 * Submits the members in order and collects their results. Resolves with
 * them (settled results in `all` mode), or with `undefined` once the
 * workflow has ended (a failing member in `fail-fast` mode ends it).
 */
async function runMembers<Result>(workflow: Workflow<Result>, members: readonly AnySignature[], settle: SettleMode): Promise<unknown[] | undefined> {
  const results: unknown[] = new Array(members.length);
  if (members.length === 0) return results;
  let remaining = members.length;
  let done!: (results: unknown[] | undefined) => void;
  const finished = new Promise<unknown[] | undefined>((resolve) => (done = resolve));
  const record = (index: number, outcome: SettledResult<unknown>): void => {
    if (settle === 'all') results[index] = outcome;
    else if (outcome.status === 'fulfilled') results[index] = outcome.value;
    if (--remaining === 0) done(workflow.isLive ? results : undefined);
  };

  for (const [index, member] of members.entries()) {
    let job: JobHandle | undefined;
    try {
      job = await workflow.submitStep(index, member, [...member.args]);
    } catch (error) {
      if (settle === 'fail-fast') {
        workflow.fail(error);
        return undefined;
      }
      // In `all` mode the member's own error is its outcome, as Promise.allSettled would report it.
      record(index, { status: 'rejected', reason: (error as WorkflowStepError).cause, index });
      continue;
    }
    if (!job) return undefined;
    const submitted = job;
    submitted.result.then(
      (value) => record(index, { status: 'fulfilled', value, index }),
      (error: unknown) => {
        if (settle === 'all') return record(index, { status: 'rejected', reason: error, index });
        workflow.fail(workflow.stepError(index, member, error, submitted));
        done(undefined);
      },
    );
  }
  return finished;
}

/** Throws `InvalidOptionError` unless `values` is an array of at least `min` signatures. */
export function checkSignatures(what: string, values: readonly unknown[], min: number): void {
  if (!Array.isArray(values)) throw new InvalidOptionError(what, values, 'an array of signatures made with sig()');
  if (values.length < min) throw new InvalidOptionError(what, values, `at least ${min} signature made with sig()`);
  for (const [index, value] of values.entries()) {
    if (!isSignature(value)) throw new InvalidOptionError(`${what}[${index}]`, value, 'a signature made with sig()');
  }
}
