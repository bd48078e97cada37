/**
 * Bare piscina's worker entry: dispatches `{ name, args }` to the same plain
 * tasks baozi runs (`plain-tasks.ts`), the same shape of work baozi's worker
 * does (look the task up by name, call it with the arguments), without
 * baozi's envelope.
 */
import * as tasks from './plain-tasks.js';

/** One job, as the benchmark driver sends it to bare piscina. */
export interface PiscinaJob {
  name: keyof typeof tasks;
  args: unknown[];
}

const table = tasks as unknown as Record<string, (...args: unknown[]) => unknown>;

export default function runJob({ name, args }: PiscinaJob): unknown {
  const task = table[name];
  if (typeof task !== 'function') throw new Error(`No task named ${name} in bench/plain-tasks.ts.`);
  return task(...args);
}
