/**
 * `baozi/worker`: the API for task modules, used inside worker threads.
 */
export { jobContext } from './context.js';
export type { JobContext } from './context.js';
export { transfer } from './transfer.js';
