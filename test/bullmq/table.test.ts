import { describe, expect, it } from '@jest/globals';
import { QueueEvents } from 'bullmq';
import { createRunner, InvalidOptionError, TableFullError } from 'baozi';
import { bullmq } from 'baozi/bullmq';
import { TASKS, type TestTasks } from '../helpers/runner.js';
import { flush, rejectionOf, thrownBy, track } from '../helpers/e2e.js';
import { describeWithRedis, queueName, rawQueue, REDIS_URL, useBrokerRunners } from './helpers.js';
import { MAX_HELD_PER_SLOT } from '../../lib/broker/bullmq/consumer.js';

describeWithRedis('The table over BullMQ', () => {
  const { producer, consumer } = useBrokerRunners();

  describe('capacity', () => {
    it('makes submit wait while the queue holds capacity jobs, and admits waiters in arrival order once consumers take some', async () => {
      const queue = queueName();
      const front = producer(queue, { capacity: 3 });
      for (let i = 0; i < 3; i++) await front.submit('add', [i, 0]);
      const admitted: number[] = [];
      const fourth = track(front.submit('add', [3, 0]).then((job) => (admitted.push(3), job)));
      const fifth = track(front.submit('add', [4, 0]).then((job) => (admitted.push(4), job)));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(fourth.isSettled).toBe(false);
      expect(front.stats().blocked).toBe(2);
      expect(front.stats().queued).toBe(3);
      consumer(queue, { maxThreads: 1 });
      const jobs = await Promise.all([fourth.promise, fifth.promise]);
      expect(admitted).toEqual([3, 4]);
      await expect(jobs[1]!.result).resolves.toBe(4);
    });

    it('makes trySubmit throw TableFullError when the queue is full, and never waits', async () => {
      const queue = queueName();
      const front = producer(queue, { capacity: 2 });
      await front.submit('add', [1, 1]);
      front.trySubmit('add', [2, 2]);
      const error = thrownBy(() => front.trySubmit('add', [3, 3]));
      expect(error).toBeInstanceOf(TableFullError);
      expect(error.code).toBe('BAOZI_TABLE_FULL');
    });

    it('counts the jobs other producers put on the queue', async () => {
      const queue = queueName();
      const first = producer(queue, { capacity: 2 });
      await first.submit('add', [1, 1]);
      await first.submit('add', [1, 1]);
      const second = producer(queue, { capacity: 2 });
      const waiting = track(second.submit('add', [2, 2]));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(waiting.isSettled).toBe(false);
      consumer(queue);
      await expect((await waiting.promise).result).resolves.toBe(4);
    });

    it('shows the queue depth Redis counts in stats() and metrics(), even after changes no event told of', async () => {
      const queue = queueName();
      const first = producer(queue, { capacity: 10 });
      for (let i = 0; i < 4; i++) await first.submit('add', [i, 0]);
      const watcher = producer(queue, { capacity: 10 });
      // Nothing tells a watcher of every change: it counts again as its figures are read, at most once a second.
      const depthBecomes = async (expected: number): Promise<void> => {
        for (const deadline = Date.now() + 10_000; watcher.stats().queued !== expected && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 50));
        expect({ queued: watcher.stats().queued, gauge: watcher.metrics().gauges.queued }).toEqual({ queued: expected, gauge: expected });
      };
      await depthBecomes(4);
      // Emptied by hand (BullMQ sends no event per job for it).
      const admin = rawQueue(queue);
      await admin.drain();
      await admin.close();
      await depthBecomes(0);
    });

    it('does not count delayed jobs: they wait in BullMQ, not on the table', async () => {
      const queue = queueName();
      const front = producer(queue, { capacity: 1 });
      await front.submit('add', [1, 1], { delay: 60_000 });
      await front.submit('add', [1, 1], { delay: 60_000 });
      const now = await front.submit('add', [2, 2]);
      expect(now.state).toBe('queued');
    });
  });

  describe('a consumer', () => {
    it('takes a job only when one of its thread slots is free: never more running than threads', async () => {
      const queue = queueName();
      const front = producer(queue);
      const jobs = await Promise.all(Array.from({ length: 6 }, () => front.submit('sleep', [150])));
      const observer = rawQueue(queue);
      consumer(queue, { maxThreads: 2, minThreads: 2 });
      let mostActive = 0;
      const all = Promise.all(jobs.map((job) => job.result));
      let done = false;
      void all.then(() => (done = true));
      while (!done) {
        mostActive = Math.max(mostActive, await observer.getActiveCount());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await observer.close();
      expect(mostActive).toBeGreaterThan(0);
      expect(mostActive).toBeLessThanOrEqual(2);
    });

    it(`holds up to ${MAX_HELD_PER_SLOT} more jobs per slot past its slots while the jobs it runs are quick`, async () => {
      const queue = queueName();
      const jobCount = 200;
      // The queue's own record of what is active, in the order Redis did it.
      const events = new QueueEvents(queue, { connection: { host: '127.0.0.1', port: Number(new URL(REDIS_URL!).port) } });
      await events.waitUntilReady();
      let active = 0;
      let mostActive = 0;
      let completed = 0;
      const allCompleted = new Promise<void>((resolve) => {
        events.on('active', () => void (mostActive = Math.max(mostActive, ++active)));
        events.on('completed', () => {
          active--;
          if (++completed === jobCount) resolve();
        });
      });
      try {
        const front = producer(queue);
        consumer(queue, { maxThreads: 1, minThreads: 1 });
        const jobs = await Promise.all(Array.from({ length: jobCount }, (_, i) => front.submit('add', [i, 1])));
        expect(await Promise.all(jobs.map((job) => job.result))).toEqual(Array.from({ length: jobCount }, (_, i) => i + 1));
        await allCompleted;
      } finally {
        await events.close();
      }
      expect(mostActive).toBeGreaterThan(1);
      expect(mostActive).toBeLessThanOrEqual(1 + MAX_HELD_PER_SLOT);
    });
  });

  describe('semantics that cannot hold over Redis', () => {
    const broker = (): ReturnType<typeof bullmq> => bullmq({ queue: queueName(), connection: REDIS_URL! });

    it('refuses per-task rate limits at creation', () => {
      const error = thrownBy(() => createRunner<TestTasks>({ tasks: TASKS, broker: broker(), rateLimits: { add: '10/s' } }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.option).toBe('rateLimits');
    });

    it('refuses retryOn in task defaults at creation, and in a job at submit', async () => {
      const error = thrownBy(() => createRunner<TestTasks>({ tasks: TASKS, broker: broker(), defaults: { add: { retries: { max: 1, retryOn: () => true } } } }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      const front = producer(queueName());
      const rejected = await rejectionOf(front.submit('add', [1, 2], { retries: { max: 1, retryOn: () => true } }));
      expect(rejected).toBeInstanceOf(InvalidOptionError);
      expect(rejected.option).toBe('retries.retryOn');
    });

    it('refuses a transferList at submit', async () => {
      const front = producer(queueName());
      const buffer = new ArrayBuffer(8);
      const error = await rejectionOf(front.submit('incrementBytes', [new Uint8Array(buffer)], { transferList: [buffer] }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.option).toBe('transferList');
    });

    it('refuses a schedule with `overlap`, a jobId BullMQ cannot take, and consume without a broker', async () => {
      const front = producer(queueName());
      expect(thrownBy(() => front.schedule('add', [1, 2], { every: 1000, overlap: 'skip' }))).toBeInstanceOf(InvalidOptionError);
      expect(await rejectionOf(front.submit('add', [1, 2], { jobId: '123' }))).toBeInstanceOf(InvalidOptionError);
      expect(await rejectionOf(front.submit('add', [1, 2], { jobId: 'a:b' }))).toBeInstanceOf(InvalidOptionError);
      expect(thrownBy(() => createRunner<TestTasks>({ tasks: TASKS, consume: false }))).toBeInstanceOf(InvalidOptionError);
      await flush();
    });

    it('checks bullmq() options', () => {
      expect(thrownBy(() => bullmq({ queue: 'a:b', connection: REDIS_URL! }))).toBeInstanceOf(InvalidOptionError);
      expect(thrownBy(() => bullmq({ queue: 'a', connection: 'http://x' }))).toBeInstanceOf(InvalidOptionError);
      expect(thrownBy(() => bullmq({ queue: 'a', connection: REDIS_URL!, lockDuraton: 5 } as never))).toBeInstanceOf(InvalidOptionError);
    });
  });
});
