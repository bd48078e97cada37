/** poolifier's worker: one function taking `{ name, args }`, as bare piscina's entry. */
import { ThreadWorker } from 'poolifier';
import runJob, { type PiscinaJob } from '../piscina-entry.js';

export default new ThreadWorker((job?: PiscinaJob) => runJob(job!));
