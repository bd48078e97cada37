/**
 * What workflows, `map` and streams need from a runner, and nothing more, so
 * that they can be written and tested apart from the `Runner` class.
 */
import type { JobHandle } from '../job/job.js';
import type { SubmitOptions } from '../options.js';
import type { TaskArgs, TaskModule, TaskName, TaskResult } from '../task-types.js';

/**
 * A runner as workflows see it: `submit()` (which waits for room on the
 * table) and the table's `capacity`. A `Runner` is one; in tests,
 * `{ submit: runner.submit.bind(runner), capacity }` is one too.
 */
export interface JobSubmitter<Tasks extends object = TaskModule> {
  submit<Name extends TaskName<Tasks>>(name: Name, args: TaskArgs<Tasks, Name>, options?: SubmitOptions): Promise<JobHandle<TaskResult<Tasks, Name>>>;
  /** Most jobs the table holds; `map` and streams keep at most this many inputs in flight. */
  readonly capacity: number;
}

/**
 * The arguments of a task as a tuple, with the first one removed: what a
 * chain step after the first is given, since the previous step's result
 * becomes its first argument. A task without parameters gives `[]`.
 */
export type TailArgs<Args extends readonly unknown[]> = Args extends readonly [unknown?, ...infer Rest] ? Rest : never;

/**
 * The type of a task's first parameter: what the previous step's result must
 * be assignable to. `unknown` for a task without parameters (JavaScript
 * ignores the extra argument).
 */
export type FirstArg<Args extends readonly unknown[]> = Args extends readonly []
  ? unknown
  : Args extends readonly [infer First, ...unknown[]]
    ? First
    : Args extends readonly [(infer First)?, ...unknown[]]
      ? First | undefined
      : Args extends readonly (infer Element)[]
        ? Element
        : unknown;

/**
 * The one argument of a task that can be called with a single argument (its
 * other parameters, if any, optional); `never` for a task that needs more.
 * What each input of `map` and each chunk of a stream is, unless an `args`
 * function builds the arguments.
 */
export type OnlyArg<Args extends readonly unknown[]> = Args extends readonly [] ? never : [FirstArg<Args>] extends Args ? FirstArg<Args> : never;

/** The tasks of `Tasks` that can be called with one argument: what `map` and streams run without an `args` function. */
export type OneArgTaskName<Tasks> = { [Name in TaskName<Tasks>]: [OnlyArg<TaskArgs<Tasks, Name>>] extends [never] ? never : Name }[TaskName<Tasks>];

/** Where a workflow is. `running` is live; the others are terminal and reached once. */
export type WorkflowState = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What `chain()`, `group()` and `chord()` return. */
export interface WorkflowHandle<Result> {
  /**
   * Settles once: with the workflow's result, a `WorkflowStepError`
   * (`BAOZI_WORKFLOW_STEP_FAILED`) naming the step that failed, or a
   * `CancelledError` (`BAOZI_CANCELLED`) after `cancel()`. Not awaiting it
   * is safe: a rejection nobody awaits is not "unhandled".
   */
  readonly result: Promise<Result>;
  readonly state: WorkflowState;
  /**
   * The handles of the steps put on the table so far, in the order they were
   * submitted (for a chord: the group's members, then the callback). Each is
   * a real job with its own id, events and result. A new array on each read.
   */
  readonly jobs: readonly JobHandle[];
  /**
   * Cancels the workflow: a step still waiting for room is withdrawn, steps
   * queued or running are cancelled (running ones as a job submitted with a
   * `signal` is: see `cancelGraceMs`), and no later step is submitted.
   * `result` rejects with `CancelledError`, `reason` as `cause`. Returns
   * `false`, changing nothing, when the workflow had already settled.
   */
  cancel(reason?: unknown): boolean;
}

/**
 * One result of `group(…, { settle: 'all' })` or of `map(…, { settle: 'all' })`:
 * `Promise.allSettled`'s shape, plus the input's position.
 */
export type SettledResult<Result> =
  | { readonly status: 'fulfilled'; readonly value: Result; readonly index: number }
  | { readonly status: 'rejected'; readonly reason: unknown; readonly index: number };

/**
 * How a group, a `map` or a stream treats a failing job. `fail-fast`: the
 * first failure rejects (or ends the iteration with that error) and the
 * jobs still pending are cancelled, like `Promise.all`. `all`: every job
 * runs to its end and each outcome is reported as a `SettledResult`, like
 * `Promise.allSettled`.
 */
export type SettleMode = 'fail-fast' | 'all';
