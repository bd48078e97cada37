/**
 * The producer process of the broker bench: node [--expose-gc] producer.js
 * <contender> <redis url> <queue> <workload> <jobs>. `baozi` submits
 * through a runner over the queue (`consume: false`); `bare` adds with
 * BullMQ's `addBulk` (its fastest way in) and counts `completed` events.
 * Sends one result object over IPC and exits.
 *
 * Workloads: `cpu` (jobs × cpu(20 ms)), `tiny` (jobs × add), `map` (jobs
 * inputs of add: baozi's `map`, one BullMQ job per input for bare BullMQ),
 * `memory` (baozi only: an awaiting producer submits jobs one after
 * another; heap after a full GC at 10% and at 100% of them).
 */
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createRunner } from 'baozi';
import { bullmq } from 'baozi/bullmq';
import { TASKS_URL, type BenchTasks } from '../contenders.js';
import { CPU_JOB_MS } from './cpu-job.js';

const BULK = 1000;

const [contender, url, queue, workload, jobsText] = process.argv.slice(2) as [string, string, string, string, string];
const jobs = Number(jobsText);
const { hostname, port } = new URL(url);
const connection = { host: hostname, port: Number(port) };

async function baozi(): Promise<Record<string, number>> {
  const runner = createRunner<BenchTasks>({ tasks: TASKS_URL, consume: false, broker: bullmq({ queue, connection: url }) });
  await runner.ready();
  try {
    const started = performance.now();
    if (workload === 'cpu') await Promise.all(Array.from({ length: jobs }, () => runner.run('cpu', CPU_JOB_MS)));
    else if (workload === 'tiny') await Promise.all(Array.from({ length: jobs }, (_, i) => runner.run('add', i, 1)));
    else if (workload === 'map') {
      let count = 0;
      for await (const _ of runner.map('add', Array.from({ length: jobs }, (_, i) => i), { args: (i) => [i, 1] })) count++;
      if (count !== jobs) throw new Error(`map gave ${count} results of ${jobs}`);
    } else if (workload === 'memory') return await memory(runner);
    return { ms: performance.now() - started };
  } finally {
    await runner.close();
  }
}

/** An awaiting producer: heap after a full GC once 10% of the jobs were submitted, and once all were. */
async function memory(runner: ReturnType<typeof createRunner<BenchTasks>>): Promise<Record<string, number>> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const heap = (): number => {
    gc();
    return process.memoryUsage().heapUsed / 2 ** 20;
  };
  let early = NaN;
  const started = performance.now();
  for (let i = 0; i < jobs; i++) {
    if (i === jobs / 10) early = heap();
    await runner.submit('add', [i, 1]);
  }
  const late = heap();
  const ms = performance.now() - started;
  await runner.onIdle();
  return { ms, heapEarlyMb: early, heapLateMb: late };
}

async function bare(): Promise<Record<string, number>> {
  const bullQueue = new Queue(queue, { connection });
  // Follow the events from the stream's present end, so that no completion is missed.
  const redis = new Redis(connection);
  const last = await redis.xrevrange(`bull:${queue}:events`, '+', '-', 'COUNT', 1);
  await redis.quit();
  const events = new QueueEvents(queue, { connection, lastEventId: last[0]?.[0] ?? '0-0' });
  await Promise.all([bullQueue.waitUntilReady(), events.waitUntilReady()]);
  try {
    const [name, argsOf] = workload === 'cpu' ? (['cpu', () => [CPU_JOB_MS]] as const) : (['add', (i: number) => [i, 1]] as const);
    const started = performance.now();
    let completed = 0;
    const done = new Promise<void>((resolve) =>
      events.on('completed', () => {
        if (++completed === jobs) resolve();
      }),
    );
    for (let first = 0; first < jobs; first += BULK) {
      const count = Math.min(BULK, jobs - first);
      await bullQueue.addBulk(Array.from({ length: count }, (_, k) => ({ name, data: { args: argsOf(first + k) }, opts: { removeOnComplete: { age: 3600 } } })));
    }
    await done;
    return { ms: performance.now() - started };
  } finally {
    await events.close();
    await bullQueue.close();
  }
}

process.send!(await (contender === 'baozi' ? baozi() : bare()));
process.exit(0);
