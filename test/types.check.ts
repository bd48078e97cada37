/**
 * Type-level tests: compiled by `tsc` as part of `npm test`, never run.
 * Each `@ts-expect-error` line must fail to compile; if one compiles, tsc
 * reports the directive as unused and the build (so the suite) fails.
 */
import { createRunner, type JobHandle, type Runner } from 'baozi';
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
