/** A bare worker_threads worker for the hand-wired p-queue contender: one `{ id, job }` in, one `{ id, result }` out. */
import { parentPort } from 'node:worker_threads';
import runJob, { type PiscinaJob } from '../piscina-entry.js';

parentPort!.on('message', ({ id, job }: { id: number; job: PiscinaJob }) => parentPort!.postMessage({ id, result: runJob(job) }));
