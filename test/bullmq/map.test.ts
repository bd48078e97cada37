import { expect, it } from '@jest/globals';
import { TaskError } from 'baozi';
import { describeWithRedis, queueName, rawQueue, useBrokerRunners } from './helpers.js';

async function jobsOnQueue(queue: string): Promise<number> {
  const raw = rawQueue(queue);
  try {
    return await raw.getJobCountByTypes('completed', 'failed', 'wait', 'prioritized', 'active', 'delayed');
  } finally {
    await raw.close();
  }
}

describeWithRedis('map over BullMQ', () => {
  const { producer, consumer } = useBrokerRunners();

  it('sends consecutive inputs as chunks, far fewer BullMQ jobs than inputs, and yields every result in order', async () => {
    const queue = queueName();
    const front = producer(queue);
    consumer(queue);
    const inputs = Array.from({ length: 2000 }, (_, i) => i);
    const results: number[] = [];
    for await (const value of front.map('double', inputs)) results.push(value);
    expect(results).toEqual(inputs.map((i) => 2 * i));
    expect(await jobsOnQueue(queue)).toBeLessThan(100);
  });

  it('carries inputs that are not primitives (one argument list per input) and several arguments per input', async () => {
    const queue = queueName();
    const front = producer(queue);
    consumer(queue);
    const objects = Array.from({ length: 300 }, (_, i) => ({ i, at: new Date(i) }));
    const echoed: unknown[] = [];
    for await (const value of front.map('echo', objects, { batchSize: 50 })) echoed.push(value);
    expect(echoed).toEqual(objects);
    const sums: number[] = [];
    for await (const sum of front.map('add', objects, { batchSize: 50, args: ({ i }) => [i, 1] })) sums.push(sum);
    expect(sums).toEqual(objects.map(({ i }) => i + 1));
  });

  it("fails only the input that threw inside a chunk, with the task's error", async () => {
    const queue = queueName();
    const front = producer(queue);
    consumer(queue);
    const inputs = [1, 2, -3, 4, 5, 6];
    const settled = [];
    for await (const outcome of front.map('sleepOrThrow', inputs, { batchSize: 3, settle: 'all' })) settled.push(outcome);
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    const failed = settled[2]!;
    expect(failed.status === 'rejected' && failed.reason).toBeInstanceOf(TaskError);
    expect(failed.status === 'rejected' && (failed.reason as TaskError).cause).toMatchObject({ code: 'NEGATIVE' });
  });

  it('runs the inputs of a task with retries one by one, so that each may run again', async () => {
    const queue = queueName();
    const front = producer(queue, { defaults: { failTimes: { retries: { max: 2, delay: 10 } } } });
    // One thread: failTimes counts its failures per thread.
    consumer(queue, { maxThreads: 1 });
    const inputs = [`${queue}-a`, `${queue}-b`, `${queue}-c`];
    const results: number[] = [];
    for await (const value of front.map('failTimes', inputs, { args: (key) => [key, 1] })) results.push(value);
    expect(results).toEqual([2, 2, 2]);
    expect(await jobsOnQueue(queue)).toBe(3);
  });

  it('adds the jobs admitted in one round together, each followed to its own result', async () => {
    const queue = queueName();
    const front = producer(queue);
    consumer(queue);
    const jobs = await Promise.all(Array.from({ length: 200 }, (_, i) => front.submit('add', [i, 1])));
    expect(new Set(jobs.map((job) => job.id)).size).toBe(200);
    await expect(Promise.all(jobs.map((job) => job.result))).resolves.toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });
});
