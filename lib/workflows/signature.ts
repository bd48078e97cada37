/**
 * Signatures: a task name with its arguments and job options, written down
 * without running it, for workflows to submit later.
 */
import { InvalidOptionError } from '../errors.js';
import type { SubmitOptions } from '../options.js';
import type { TaskArgs, TaskName, TaskResult } from '../task-types.js';
import type { FirstArg, TailArgs } from './workflow-types.js';

/**
 * A job not yet submitted: `name`, `args` and the job's `options`. A chain
 * step after the first, and a chord's callback, hold all the arguments but
 * the first one, which is the previous result.
 *
 * A signature does not know its task module. It is checked where it is
 * used (`chain`, `group`, `chord` against the runner's task module), and
 * also where it is written when made with `runner.sig()`.
 */
export interface Signature<Name extends string = string, Args extends readonly unknown[] = readonly unknown[]> {
  readonly name: Name;
  readonly args: Args;
  readonly options: SubmitOptions | undefined;
}

/** Any signature. */
export type AnySignature = Signature<string, readonly unknown[]>;

/**
 * Writes down a job without running it:
 *
 * ```ts
 * sig('resize', [image, 200])                 // all the arguments
 * sig('double')                               // a chain step: the previous result comes first
 * sig('upload', [bucket], { priority: 10 })   // with job options
 * ```
 *
 * The name and arguments are checked against the task module where the
 * signature is used (`chain`, `group`, `chord`). Throws `InvalidOptionError`
 * for a name that is not a non-empty string or `args` that is not an array;
 * `options` are checked when the job is submitted. The signature is frozen;
 * `args` is copied, not cloned.
 */
export function sig<Name extends string, Args extends unknown[] = []>(name: Name, args?: [...Args], options?: SubmitOptions): Signature<Name, Args> {
  if (typeof name !== 'string' || name === '') throw new InvalidOptionError('name', name, 'a task name: a non-empty string');
  if (args !== undefined && !Array.isArray(args)) throw new InvalidOptionError('args', args, "the task's arguments as an array");
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new InvalidOptionError('options', options, 'job options: an object');
  return Object.freeze({ name, args: Object.freeze([...(args ?? [])]) as unknown as Args, options });
}

/** Whether `value` is a signature made by `sig()` (or shaped like one). */
export function isSignature(value: unknown): value is AnySignature {
  if (typeof value !== 'object' || value === null) return false;
  const { name, args, options } = value as Partial<AnySignature>;
  return typeof name === 'string' && name !== '' && Array.isArray(args) && (options === undefined || (typeof options === 'object' && options !== null));
}

/**
 * The arguments `runner.sig(name, ...args)` accepts: all of the task's
 * arguments, or all but the first (a chain step or a chord callback).
 */
export type SigArgs<Tasks, Name extends TaskName<Tasks>> = TaskArgs<Tasks, Name> | TailArgs<TaskArgs<Tasks, Name>>;

/**
 * The type of `runner.sig`: like `sig()`, with the arguments spread and
 * checked where they are written. To wire it into a runner:
 *
 * ```ts
 * sig<Name extends TaskName<Tasks>, Args extends SigArgs<Tasks, Name>>(name: Name, ...args: Args): Signature<Name, Args> {
 *   return sig(name, args);
 * }
 * ```
 */
export type TypedSig<Tasks> = <Name extends TaskName<Tasks>, Args extends SigArgs<Tasks, Name>>(name: Name, ...args: Args) => Signature<Name, Args>;

/** What the job of signature `S` resolves to, for the task module `Tasks`. */
export type SignatureResult<Tasks, S> = S extends Signature<infer Name, readonly unknown[]> ? (Name extends TaskName<Tasks> ? TaskResult<Tasks, Name> : unknown) : unknown;

/**
 * `S` itself when it names a task of `Tasks` with all of its arguments;
 * otherwise the signature that was expected, so that the compiler reports
 * the mismatch on that argument.
 */
export type CompleteSignature<Tasks, S> =
  S extends Signature<infer Name, infer Args>
    ? Name extends TaskName<Tasks>
      ? Args extends Readonly<TaskArgs<Tasks, Name>>
        ? S
        : Signature<Name, TaskArgs<Tasks, Name>>
      : Signature<TaskName<Tasks>, Args>
    : AnySignature;

/**
 * `S` itself when it names a task of `Tasks` with all arguments but the
 * first, and a value of type `Previous` fits that first parameter;
 * otherwise a type that names what was expected.
 */
export type NextSignature<Tasks, S, Previous> =
  S extends Signature<infer Name, infer Args>
    ? Name extends TaskName<Tasks>
      ? Args extends Readonly<TailArgs<TaskArgs<Tasks, Name>>>
        ? [Previous] extends [FirstArg<TaskArgs<Tasks, Name>>]
          ? S
          : S & { readonly 'the previous result does not fit the first parameter': { result: Previous; parameter: FirstArg<TaskArgs<Tasks, Name>> } }
        : Signature<Name, TailArgs<TaskArgs<Tasks, Name>>>
      : Signature<TaskName<Tasks>, Args>
    : AnySignature;

/**
 * The steps of a chain as they must be: the first complete, each next one
 * taking the previous result as its first argument. Only a tuple (steps
 * written out) is checked; an array of unknown length passes unchanged.
 */
export type ChainSteps<Tasks, Steps extends readonly unknown[], Previous = never, IsFirst extends boolean = true> = Steps extends readonly []
  ? []
  : Steps extends readonly [infer Step, ...infer Rest]
    ? [IsFirst extends true ? CompleteSignature<Tasks, Step> : NextSignature<Tasks, Step, Previous>, ...ChainSteps<Tasks, Rest, SignatureResult<Tasks, Step>, false>]
    : Steps;

/** What a chain resolves to: its last step's result. */
export type ChainResult<Tasks, Steps extends readonly unknown[]> = Steps extends readonly [...unknown[], infer Last] ? SignatureResult<Tasks, Last> : unknown;

/** The members of a group as they must be: each complete. */
export type GroupMembers<Tasks, Members extends readonly unknown[]> = { [K in keyof Members]: CompleteSignature<Tasks, Members[K]> };

/** What a group resolves to: its members' results, in order. */
export type GroupResults<Tasks, Members extends readonly unknown[]> = { -readonly [K in keyof Members]: SignatureResult<Tasks, Members[K]> };
