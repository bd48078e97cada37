import { createRunner, type Runner, type RunnerOptions } from 'baozi';
import type * as Tasks from '../fixtures/tasks.js';

export type TestTasks = typeof Tasks;
export const TASKS = new URL('../fixtures/tasks.js', import.meta.url);

/** A runner over the test tasks; defaults suit 2-core machines. */
export function testRunner(options: Partial<RunnerOptions> = {}): Runner<TestTasks> {
  return createRunner<TestTasks>({ tasks: TASKS, minThreads: 1, maxThreads: 2, ...options });
}
