/**
 * A consumer in a process of its own, for the fault tests: node
 * consumer-process.js <redis url> <queue> <lockDuration> <stalledInterval>.
 * Prints `ready` once it takes jobs, and runs until killed.
 */
import { createRunner } from 'baozi';
import { bullmq } from 'baozi/bullmq';
import { TASKS, type TestTasks } from '../helpers/runner.js';

const [url, queue, lockDuration, stalledInterval] = process.argv.slice(2);
const runner = createRunner<TestTasks>({
  tasks: TASKS,
  minThreads: 1,
  maxThreads: 1,
  broker: bullmq({ queue: queue!, connection: url!, lockDuration: Number(lockDuration), stalledInterval: Number(stalledInterval) }),
});
await runner.ready();
process.stdout.write('ready\n');
