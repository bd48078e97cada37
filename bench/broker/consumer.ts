/**
 * One consumer process of the broker bench: node consumer.js <contender>
 * <redis url> <queue> <slots>. Contenders: `baozi` (a runner over the
 * queue, `slots` threads), `sandboxed` (a bare BullMQ Worker running
 * processor.js in worker threads) and `in-process` (a bare BullMQ Worker
 * running the task on its own event loop). Sends `ready` once it takes
 * jobs; on `monitor` it starts measuring its event-loop delay, on `report`
 * it sends the p99 (ms); on `close` it closes and exits.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Worker } from 'bullmq';
import { createRunner } from 'baozi';
import { bullmq } from 'baozi/bullmq';
import { runPlainTask } from './processor.js';
import type { BenchTasks } from '../contenders.js';
import { TASKS_URL } from '../contenders.js';

const [contender, url, queue, slotsText] = process.argv.slice(2) as [string, string, string, string];
const slots = Number(slotsText);
const { hostname, port } = new URL(url);
const connection = { host: hostname, port: Number(port), maxRetriesPerRequest: null };

let close: () => Promise<unknown>;
if (contender === 'baozi') {
  const runner = createRunner<BenchTasks>({ tasks: TASKS_URL, minThreads: slots, maxThreads: slots, broker: bullmq({ queue, connection: url }) });
  await runner.ready();
  close = () => runner.close();
} else {
  const processor = contender === 'sandboxed' ? new URL('./processor.js', import.meta.url) : async (job: { name: string; data: { args: number[] } }) => runPlainTask(job.name, job.data.args);
  const worker = new Worker(queue, processor, { connection, concurrency: slots, useWorkerThreads: contender === 'sandboxed' });
  worker.on('error', () => {});
  await worker.waitUntilReady();
  close = () => worker.close();
}

let delay: IntervalHistogram | undefined;
process.on('message', (message: string) => {
  if (message === 'monitor') {
    delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
  } else if (message === 'report') {
    delay?.disable();
    process.send!({ p99: delay ? delay.percentile(99) / 1e6 : NaN });
  } else if (message === 'close') {
    void close().then(() => process.exit(0));
  }
});
process.send!('ready');
