/**
 * Bare BullMQ's sandboxed processor in the broker bench: it runs in a
 * worker thread (`useWorkerThreads`) and calls the same plain tasks baozi's
 * consumers run.
 */
import type { Job } from 'bullmq';
import * as tasks from '../plain-tasks.js';

export default function processor(job: Job<{ args: number[] }>): number {
  return runPlainTask(job.name, job.data.args);
}

/** Calls plain task `name`: what both bare processors (sandboxed and in-process) do with a job. */
export function runPlainTask(name: string, args: number[]): number {
  switch (name) {
    case 'add':
      return tasks.add(args[0]!, args[1]!);
    case 'cpu':
      return tasks.cpu(args[0]!);
    default:
      throw new Error(`no plain task ${name}`);
  }
}
