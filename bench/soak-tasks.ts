/**
 * The task module of the soak (`soak.ts`): one task per outcome the soak
 * mixes, named by behaviour.
 */
import { jobContext, reportProgress } from 'baozi/worker';

/** Succeeds at once: the bulk of the soak, small enough to be batched. */
export function ok(n: number): number {
  return n + 1;
}

/** Throws: the job fails with `TaskError` and the thread lives on. */
export function fail(n: number): never {
  throw new RangeError(`planned failure ${n}`);
}

/** Sleeps past the job's `timeout`, deaf to its signal: the thread is terminated and replaced. */
export async function slow(ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
}

/** Sleeps, or throws as soon as its job's signal aborts: past a `softTimeout` the job fails and the thread lives on. */
export function slowUntilAborted(ms: number): Promise<number> {
  const { signal } = jobContext();
  // The soft timeout counts from dispatch: on a thread still starting, it may have passed already.
  if (signal.aborted) return Promise.reject(new Error('stopped on abort'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(ms), ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new Error('stopped on abort'));
      },
      { once: true },
    );
  });
}

/**
 * Reports progress once it runs, then waits until its job's signal aborts
 * and stops cooperatively: a cancellation of a running job that keeps the
 * thread.
 */
export function holdUntilAborted(): Promise<never> {
  const { signal } = jobContext();
  if (signal.aborted) return Promise.reject(new Error('stopped on abort'));
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(new Error('stopped on abort')), { once: true });
    reportProgress('running');
  });
}

/** Kills its thread: the job fails with `WorkerCrashedError`. */
export function crash(): never {
  process.exit(1);
}
