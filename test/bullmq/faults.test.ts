import { spawn, type ChildProcess } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { BrokerUnreachableError, createRunner, MalformedJobError } from 'baozi';
import { bullmq } from 'baozi/bullmq';
import { freePort } from '../helpers/redis.js';
import { TASKS, type TestTasks } from '../helpers/runner.js';
import { rejectionOf } from '../helpers/e2e.js';
import { describeWithRedis, queueName, rawQueue, REDIS_URL, useBrokerRunners } from './helpers.js';

const CONSUMER = new URL('./consumer-process.js', import.meta.url);

/** A consumer process of its own; resolves once it takes jobs. */
async function consumerProcess(queue: string, lockDuration: number, stalledInterval: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CONSUMER.pathname, REDIS_URL!, queue, String(lockDuration), String(stalledInterval)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`the consumer process exited with ${code}`)));
  });
  return child;
}


async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describeWithRedis('Faults over BullMQ', () => {
  const { producer, consumer } = useBrokerRunners();

  it('runs a job again on another consumer after the stall interval when its consumer is SIGKILLed mid-job, and settles it once', async () => {
    const queue = queueName();
    const front = producer(queue);
    const doomed = await consumerProcess(queue, 1000, 500);
    const job = await front.submit('sleep', [1500]);
    await until(() => job.state === 'running');
    const exited = new Promise((resolve) => doomed.once('exit', resolve));
    doomed.kill('SIGKILL');
    await exited;
    let settled = 0;
    void job.result.then(() => settled++, () => settled++);
    consumer(queue, {}, { lockDuration: 1000, stalledInterval: 500 });
    await expect(job.result).resolves.toBe(1500);
    expect(job.attempt).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(1);
  }, 30_000);

  it('rejects a submit within a bounded time with BAOZI_BROKER_UNREACHABLE when Redis is down, and closes', async () => {
    const port = await freePort();
    const front = createRunner<TestTasks>({ tasks: TASKS, consume: false, broker: bullmq({ queue: queueName(), connection: `redis://127.0.0.1:${port}`, unreachableAfterMs: 500 }) });
    const brokerErrors: unknown[] = [];
    front.on('brokerError', ({ error }) => brokerErrors.push(error));
    const startedAt = Date.now();
    const error = await rejectionOf(front.submit('add', [1, 2]));
    expect(Date.now() - startedAt).toBeLessThan(3000);
    expect(error).toBeInstanceOf(BrokerUnreachableError);
    expect(error.code).toBe('BAOZI_BROKER_UNREACHABLE');
    expect(brokerErrors.length).toBeGreaterThan(0);
    await front.close({ drain: 'none' });
  });

  it('fails a malformed job written by hand with MalformedJobError, and keeps serving', async () => {
    const queue = queueName();
    const raw = rawQueue(queue);
    const front = producer(queue);
    consumer(queue);
    const bad = await raw.add('add', { not: 'baozi' });
    const alsoBad = await raw.add('add', { baozi: 1, args: 'not v8 at all' });
    const notPlain = await raw.add('add', { baozi: 1, args: [{ a: 1 }, 2] });
    await expect(front.run('add', 2, 2)).resolves.toBe(4);
    for (const id of [bad.id!, alsoBad.id!, notPlain.id!]) {
      await until(async () => (await raw.getJobState(id)) === 'failed');
      const found = await front.fetchJob(id);
      const error = await rejectionOf(found!.result);
      expect(error).toBeInstanceOf(MalformedJobError);
      expect(error).toMatchObject({ code: 'BAOZI_MALFORMED_JOB', jobId: id, task: 'add' });
    }
    await raw.close();
  });

  it('lets running jobs finish on close() of a consumer, leaving none locked', async () => {
    const queue = queueName();
    const front = producer(queue);
    const back = consumer(queue);
    const job = await front.submit('sleep', [300]);
    await until(() => job.state === 'running');
    await back.close();
    await expect(job.result).resolves.toBe(300);
    const raw = rawQueue(queue);
    expect(await raw.getActiveCount()).toBe(0);
    await raw.close();
  });

  it('returns running jobs to the queue, unlocked, on close({ drain: "none" }) of a consumer; another consumer runs them', async () => {
    const queue = queueName();
    const front = producer(queue);
    const back = consumer(queue);
    const job = await front.submit('sleep', [5000]);
    await until(() => job.state === 'running');
    await back.close({ drain: 'none' });
    const raw = rawQueue(queue);
    expect(await raw.getActiveCount()).toBe(0);
    expect(await raw.getJobState(job.id)).toMatch(/^(waiting|prioritized)$/);
    await raw.close();
    expect(job.state).not.toBe('failed');
    consumer(queue);
    await expect(job.result).resolves.toBe(5000);
  }, 20_000);

  it('finds a job by id from a restarted producer, with its state and result', async () => {
    const queue = queueName();
    const first = producer(queue);
    const job = await first.submit('add', [40, 2], { jobId: 'kept' });
    await first.close({ drain: 'none' });
    consumer(queue);
    const restarted = producer(queue);
    const found = await restarted.fetchJob('kept');
    await expect(found!.result).resolves.toBe(42);
    expect(found!.state).toBe('succeeded');
    expect(job.id).toBe('kept');
  });
});
