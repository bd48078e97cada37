/**
 * Counts this thread's jobs and watches its heap, as Celery's
 * `worker_max_tasks_per_child` and `worker_max_memory_per_child` do: a
 * thread past either limit finishes its run, says so in the reply, and the
 * main thread replaces it (see lib/pool.ts).
 */
import { getHeapStatistics } from 'node:v8';
import type { RetireReason } from './protocol.js';
import { settings } from './settings.js';

let jobsDone = 0;

/** Whether either limit is set: without one, replies go out untouched. */
export const isRecycling = settings.maxJobs !== Infinity || settings.maxHeapBytes !== Infinity;

/** Counts `jobs` more and says why the thread should now retire, if it should. */
export function retireReason(jobs: number): RetireReason | undefined {
  jobsDone += jobs;
  if (jobsDone >= settings.maxJobs) return 'jobs';
  if (settings.maxHeapBytes !== Infinity && heapBytes() > settings.maxHeapBytes) return 'heap';
  return undefined;
}

/** This thread's memory as v8 accounts it: its heap, plus ArrayBuffers and other memory held outside it. */
function heapBytes(): number {
  const heap = getHeapStatistics();
  return heap.used_heap_size + heap.external_memory;
}
