import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { CancelledError, type JobHandle, type Runner } from 'baozi';
import { cancelChannel, encodeCancel } from '../../lib/broker/bullmq/cancel-channel.js';
import { resolveBullmqOptions } from '../../lib/broker/bullmq/options.js';
import { rejectionOf } from '../helpers/e2e.js';
import type { TestTasks } from '../helpers/runner.js';
import { describeWithRedis, queueName, REDIS_URL, useBrokerRunners } from './helpers.js';

/** Resolves with the id of the next job `runner` starts. */
function nextRunning(runner: Runner<TestTasks>): Promise<string> {
  return new Promise((resolve) => runner.once('running', ({ job }) => resolve(job.id)));
}

describeWithRedis('Cancelling a running job over BullMQ', () => {
  const { producer, consumer } = useBrokerRunners();

  /** A job spinning on a consumer with one thread: the next job there can run only if its thread was stopped. */
  async function spinningJob(): Promise<{ queue: string; front: Runner<TestTasks>; back: Runner<TestTasks>; job: JobHandle }> {
    const queue = queueName();
    const front = producer(queue);
    const back = consumer(queue, { maxThreads: 1 });
    await back.ready();
    const started = nextRunning(back);
    const job = await front.submit('spin', []);
    expect(await started).toBe(job.id);
    return { queue, front, back, job };
  }

  it("reaches the consumer that runs it, which stops its thread; the producer's handle settles cancelled with the reason", async () => {
    const { front, back, job } = await spinningJob();
    expect(job.cancel('not needed')).toBe(true);
    const error = await rejectionOf(job.result);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).toMatchObject({ code: 'BAOZI_CANCELLED', jobId: job.id, task: 'spin' });
    expect(error.cause).toBe('not needed');
    expect(job.state).toBe('cancelled');
    expect(job.cancel()).toBe(false);
    await expect(front.run('add', 2, 3)).resolves.toBe(5);
    expect(back.stats().cancelled).toBe(1);
  });

  it('cancels only that job: another running on the same consumer finishes', async () => {
    const queue = queueName();
    const front = producer(queue);
    const back = consumer(queue, { maxThreads: 2, minThreads: 2 });
    await back.ready();
    const bothStarted = new Promise<void>((resolve) => {
      let count = 0;
      back.on('running', () => ++count === 2 && resolve());
    });
    const spinning = await front.submit('spin', []);
    const sleeping = await front.submit('sleep', [300]);
    await bothStarted;
    spinning.cancel();
    expect(await rejectionOf(spinning.result)).toBeInstanceOf(CancelledError);
    await expect(sleeping.result).resolves.toBe(300);
  });

  it('reaches a consumer whose listening connection was down when the cancel went out, once it listens again', async () => {
    const { queue, job } = await spinningJob();
    // Cut the consumer's listening connection, and cancel while ioredis waits to reconnect (50 ms at first).
    const admin = new Redis(REDIS_URL!);
    const name = `${cancelChannel(resolveBullmqOptions({ queue, connection: REDIS_URL! }))}:listener`;
    const listing = String(await admin.client('LIST'));
    const id = listing.split('\n').find((line) => line.includes(` name=${name} `))?.match(/^id=(\d+)/)?.[1];
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);
    await admin.quit();
    expect(job.cancel('while away')).toBe(true);
    const error = await rejectionOf(job.result);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.cause).toBe('while away');
    expect(job.state).toBe('cancelled');
  });

  it('does not start a job whose cancel a consumer heard before taking it', async () => {
    const queue = queueName();
    const front = producer(queue);
    const back = consumer(queue, { maxThreads: 1 });
    await back.ready();
    const started = nextRunning(back);
    const busy = await front.submit('sleep', [300]);
    await started;
    const waiting = await front.submit('countRun', [queue]);
    // As a cancel sent while the job moved to a consumer: the message comes first.
    const publisher = new Redis(REDIS_URL!);
    await publisher.publish(cancelChannel(resolveBullmqOptions({ queue, connection: REDIS_URL! })), encodeCancel(waiting.id, 'too late'));
    await publisher.quit();
    await expect(busy.result).resolves.toBe(300);
    const error = await rejectionOf(waiting.result);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.cause).toBe('too late');
    expect(waiting.state).toBe('cancelled');
    // It never ran: the next countRun on the one thread counts 1.
    await expect(front.run('countRun', queue)).resolves.toBe(1);
  });

  it('runs a later job given the id of a cancelled one: the cancel names the job by its id and when it was added', async () => {
    const queue = queueName();
    const front = producer(queue);
    const back = consumer(queue, { maxThreads: 1 });
    await back.ready();
    // As the cancel of an earlier job 'reused', added at another time, heard by this consumer.
    const publisher = new Redis(REDIS_URL!);
    await publisher.publish(cancelChannel(resolveBullmqOptions({ queue, connection: REDIS_URL! })), encodeCancel('reused', 'the old one', Date.now() - 5000));
    await publisher.quit();
    // The message reached the consumer: a job it then takes is checked against it.
    const marker = await front.submit('sleep', [50]);
    await expect(marker.result).resolves.toBe(50);
    const job = await front.submit('add', [20, 22], { jobId: 'reused' });
    await expect(job.result).resolves.toBe(42);
  });
});

describe('cancel requests', () => {
  it('carry the reason as text', async () => {
    const { decodeCancel } = await import('../../lib/broker/bullmq/cancel-channel.js');
    expect(decodeCancel(encodeCancel('a', new Error('why')))).toEqual({ jobId: 'a', reason: 'why' });
    expect(decodeCancel(encodeCancel('a', undefined))).toEqual({ jobId: 'a', reason: undefined });
    expect(decodeCancel(encodeCancel('a', 'why', 1234))).toEqual({ jobId: 'a', reason: 'why', addedAt: 1234 });
    expect(decodeCancel('not json')).toBeUndefined();
  });
});
