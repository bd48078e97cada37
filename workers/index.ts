/**
 * `baozi/worker`: the API for task modules, used inside worker threads.
 */
export { jobContext, reportProgress } from './context.js';
export type { JobContext } from './context.js';
export { retry } from './retry.js';
export { transfer } from './transfer.js';
