/**
 * Types that tie a runner to its task module, so task names, arguments and
 * results are checked at compile time.
 */

/** Any task module: its exported functions are the tasks. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskModule = Record<string, any>;

/** The names of the functions a task module exports. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskName<Tasks> = { [K in keyof Tasks]-?: Tasks[K] extends (...args: any[]) => unknown ? K : never }[keyof Tasks] & string;

/** The arguments of a task, as a tuple. */
export type TaskArgs<Tasks, Name extends TaskName<Tasks>> = Tasks[Name] extends (...args: infer Args) => unknown ? Args : never;

/** What a task's job resolves to (its return value, awaited). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskResult<Tasks, Name extends TaskName<Tasks>> = Tasks[Name] extends (...args: any[]) => infer R ? Awaited<R> : never;
