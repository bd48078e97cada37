/**
 * baozi's task module in the bench: the plain tasks of `plain-tasks.ts`
 * (the same functions bare piscina runs) and the tasks that measure what
 * progress reporting costs, which only baozi has.
 */
import { reportProgress } from 'baozi/worker';

export { add, cpu, work } from './plain-tasks.js';

/** Progress reports per `addWithProgress` job. */
export const PROGRESS_REPORTS = 10;

/**
 * `add(a, b)` that reports progress ten times on the way. With nobody
 * listening (no `onProgress`, no 'progress' listener on the runner) each
 * report is dropped in the thread; the bench compares it with `add`.
 */
export function addWithProgress(a: number, b: number): number {
  for (let step = 1; step <= PROGRESS_REPORTS; step++) reportProgress(step);
  return a + b;
}

/**
 * Times, inside a baozi thread and inside a job nobody listens to, `rounds`
 * rounds of the ten `reportProgress()` calls `addWithProgress` makes.
 * Returns CPU nanoseconds per round (`process.cpuUsage()`, which counts
 * the whole process: the other threads wait meanwhile): what those calls
 * add to one job. Run it with nobody listening, or it measures posting
 * messages.
 */
export function unheardProgressNs(rounds: number): number {
  const before = process.cpuUsage();
  for (let round = 0; round < rounds; round++) {
    for (let step = 1; step <= PROGRESS_REPORTS; step++) reportProgress(step);
  }
  const cpu = process.cpuUsage(before);
  return ((cpu.user + cpu.system) * 1e3) / rounds;
}
