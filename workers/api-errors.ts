/**
 * Errors `baozi/worker` throws at the code that calls it. `lib/errors.ts`
 * re-exports them, so `baozi` lists every code in one place.
 */
import { BaoziError } from './baozi-error.js';

/**
 * `jobContext()` was called where no job runs: outside a task (in a unit
 * test that calls the task function directly, at the task module's top
 * level), or from a callback that outlived its job.
 */
export class OutsideTaskError extends BaoziError {
  readonly code = 'BAOZI_OUTSIDE_TASK';
  constructor(
    /** The `baozi/worker` function that was called, e.g. `jobContext`. */
    readonly call: string,
  ) {
    super(
      `${call}() was called outside a running baozi task. Call it from inside a task function while its job runs; ` +
        'a task that is also called directly (in a unit test) can take what it needs as arguments instead.',
    );
  }
}
