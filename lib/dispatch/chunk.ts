/** One chunk of `map`: consecutive inputs that travel to a thread as one job. */
import type { ChunkResult } from '../../workers/protocol.js';
import { isPlainPrimitive } from '../../workers/clone-path.js';
import type { JobHandle } from '../job/job.js';

// Marks an input that runs again as a job of its own and has not settled.
export const PENDING = Symbol('pending');

/** Consecutive inputs that travel together: one chunk job, or one ordinary job per input. */
export class Chunk {
  /**
   * While every input has `#arity` arguments, all primitives: the payload
   * itself, `[count, arity, ...all of them, one input after another]`. It
   * travels without serializing and clones several times faster than a
   * list per input.
   */
  #flat: unknown[] | undefined = [0, 0];
  #arity = -1;
  /** Each input's own argument list, once an input did not fit the flat form. */
  #lists: unknown[][] | undefined;
  count = 0;
  job: JobHandle | undefined;
  isSettled = false;
  /** Once settled: each input's value, where it has no error. */
  values: unknown[] | undefined;
  /** Once settled, if any input failed: its error, or `PENDING` while it runs again on its own. */
  errors: unknown[] | undefined;
  /** Inputs already taken out, in input order. */
  taken = 0;
  /** The chunk job's result, emptied once every input is out (`getJob()` may keep the job). */
  result: ChunkResult | undefined;

  constructor(
    /** Index of the first input. */
    readonly first: number,
  ) {}

  /** Adds an input's arguments (copied: the caller may reuse its array). */
  add(args: readonly unknown[]): void {
    const flat = this.#flat;
    const arity = args.length;
    if (flat !== undefined && (arity === this.#arity || this.count === 0) && arePlainPrimitives(args)) {
      this.#arity = arity;
      for (let i = 0; i < arity; i++) flat.push(args[i]);
    } else {
      this.#unflatten().push([...args]);
    }
    this.count++;
  }

  /** Adds an input that is its task's one argument. */
  addOne(value: unknown): void {
    const flat = this.#flat;
    if (flat !== undefined && (this.#arity === 1 || this.count === 0) && isPlainPrimitive(value)) {
      this.#arity = 1;
      flat.push(value);
    } else {
      this.#unflatten().push([value]);
    }
    this.count++;
  }

  /** Input `index`'s arguments, until the chunk settles. */
  argsOf(index: number): unknown[] {
    if (this.#lists) return this.#lists[index]!;
    const start = FLAT_HEADER + index * this.#arity;
    return this.#flat!.slice(start, start + this.#arity);
  }

  /**
   * What the chunk job carries: `[count, arity, ...flat]` while flat, else
   * the list of each input's arguments (serialized at submit like any
   * job's arguments).
   */
  get payload(): unknown[] {
    const flat = this.#flat;
    if (!flat) return this.#lists!;
    flat[0] = this.count;
    flat[1] = this.#arity;
    return flat;
  }

  /** Lets the arguments go: the chunk has settled. */
  release(): void {
    this.#flat = this.#lists = undefined;
  }

  #unflatten(): unknown[][] {
    if (this.#lists) return this.#lists;
    const lists: unknown[][] = new Array<unknown[]>(this.count);
    for (let i = 0; i < this.count; i++) lists[i] = this.argsOf(i);
    this.#flat = undefined;
    return (this.#lists = lists);
  }
}

// The flat payload's count and arity, before the inputs' arguments.
const FLAT_HEADER = 2;

function arePlainPrimitives(args: readonly unknown[]): boolean {
  for (let i = 0; i < args.length; i++) if (!isPlainPrimitive(args[i])) return false;
  return true;
}
