/**
 * Type-level tests: compiled by `tsc` as part of `npm test`, never run.
 * Each `@ts-expect-error` line must fail to compile; if one compiles, tsc
 * reports the directive as unused and the build (so the suite) fails.
 */
import { createRunner, type BaoziError, type FailedJobError, type JobHandle, type Runner, type RunError } from 'baozi';
import type { TestTasks } from './helpers/runner.js';

declare const runner: Runner<TestTasks>;

export async function typeChecks(): Promise<void> {
  const sum: number = await runner.run('add', 1, 2);
  const text: string | undefined = await runner.run('readEnv', 'HOME');
  const job: JobHandle<number> = await runner.submit('fib', [10]);
  const fromHandle: number = await job.result;
  const now: JobHandle<number> = runner.trySubmit('add', [1, 2], { priority: 5 });
  void [sum, text, fromHandle, now];

  // @ts-expect-error an unknown task name does not compile
  await runner.run('nope', 1);
  // @ts-expect-error a non-function export is not a task
  await runner.run('notATask');
  // @ts-expect-error a wrong argument type does not compile
  await runner.run('add', '1', 2);
  // @ts-expect-error a missing argument does not compile
  await runner.run('add', 1);
  // @ts-expect-error the result of add is a number, not a string
  const wrong: string = await runner.run('add', 1, 2);
  // @ts-expect-error submit takes the arguments as a tuple
  await runner.submit('fib', 10);
  // @ts-expect-error a tuple with a wrong element type does not compile
  runner.trySubmit('add', [1, 'x']);
  // @ts-expect-error an unknown job option does not compile
  await runner.submit('add', [1, 2], { priorty: 1 });
  // @ts-expect-error an unknown runner option (a typo) does not compile
  createRunner<TestTasks>({ tasks: new URL('file:///tasks.js'), capcity: 1 });
  void wrong;
}

// The error a failed run gives `retryOn` and the events is typed: narrowing
// on `code` reaches each class's own fields, with no cast.
export async function errorTypeChecks(): Promise<void> {
  await runner.submit('add', [1, 2], {
    retries: {
      max: 3,
      retryOn: (error, attempt) => (error.code === 'BAOZI_WORKER_CRASHED' ? error.reason !== 'oom' : attempt < 3),
    },
  });
  runner.on('retrying', ({ error }) => {
    const asBase: BaoziError = error;
    const run: RunError = error;
    if (error.code === 'BAOZI_TIMEOUT') {
      const kind: 'soft' | 'hard' = error.kind;
      void kind;
    }
    void [asBase, run];
  });
  runner.on('failed', ({ error }) => {
    const failed: FailedJobError = error;
    if (error.code === 'BAOZI_RETRIES_EXHAUSTED') {
      const last: RunError | undefined = error.errors.at(-1);
      void last;
    }
    void failed;
  });
  const job = await runner.submit('add', [1, 2]);
  const first: RunError | undefined = job.errors[0];
  void first;

  // @ts-expect-error no run fails with BAOZI_TABLE_FULL: a typo'd or wrong code does not compile
  createRunner<TestTasks>({ tasks: new URL('file:///tasks.js'), defaults: { add: { retries: { retryOn: (error) => error.code === 'BAOZI_TABLE_FULL' } } } });
  // @ts-expect-error a RetriesExhaustedError is never retried, so retryOn never gets one
  runner.on('retrying', ({ error }) => error.code === 'BAOZI_RETRIES_EXHAUSTED');
}
