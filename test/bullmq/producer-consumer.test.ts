import { describe, expect, it } from '@jest/globals';
import { RetriesExhaustedError, TaskError, TimeoutError } from 'baozi';
import { Redis } from 'ioredis';
import { describeWithRedis, queueName, rawQueue, REDIS_URL, useBrokerRunners } from './helpers.js';
import { rejectionOf } from '../helpers/e2e.js';

describeWithRedis('Runner over BullMQ', () => {
  const { producer, consumer } = useBrokerRunners();

  describe('a producer and a consumer', () => {
    it('runs a job submitted by a producer on a consumer and brings its result back', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const job = await front.submit('add', [2, 3]);
      await expect(job.result).resolves.toBe(5);
      expect(job.state).toBe('succeeded');
    });

    it('carries arguments and results that JSON cannot (bytes, Map, Date)', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const value = { bytes: new Uint8Array([1, 2, 3]), map: new Map([['a', 1]]), at: new Date(0) };
      await expect(front.run('echo', value)).resolves.toEqual(value);
      await expect(front.run('incrementBytes', new Uint8Array([1, 2]))).resolves.toEqual(new Uint8Array([2, 3]));
    });

    it('sends plain arguments and results as themselves, and any other value v8-serialized, each arriving exact', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const raw = rawQueue(queue);
      try {
        const plain = await front.submit('echo', ['text']);
        await expect(plain.result).resolves.toBe('text');
        const stored = (await raw.getJob(plain.id))!;
        expect(stored.data.args).toEqual(['text']);
        expect(stored.returnvalue).toEqual({ plain: 'text' });
        // JSON would turn these into null, 0 or drop them.
        for (const value of [-0, NaN, Infinity, undefined, 10n]) await expect(front.run('echo', value)).resolves.toBe(value);
        const encoded = await front.submit('echo', [-0]);
        await encoded.result;
        expect(typeof (await raw.getJob(encoded.id))!.data.args).toBe('string');
      } finally {
        await raw.close();
      }
    });

    it("does not read the queue's events in a runner that only consumes, until it submits a job itself", async () => {
      const queue = queueName();
      // BullMQ names the connection that reads a queue's event stream `<prefix>:<queue in base64>:qe`.
      const eventReader = `bull:${Buffer.from(queue).toString('base64')}:qe`;
      const redis = new Redis(REDIS_URL!);
      const eventReaders = async (): Promise<number> => ((await redis.client('LIST')) as string).split('\n').filter((line) => line.includes(` name=${eventReader} `)).length;
      try {
        const back = consumer(queue);
        await back.ready();
        const front = producer(queue);
        await expect(front.run('add', 2, 3)).resolves.toBe(5);
        expect(await eventReaders()).toBe(1);
        await expect(back.run('add', 1, 1)).resolves.toBe(2);
        expect(await eventReaders()).toBe(2);
      } finally {
        await redis.quit();
      }
    });

    it('starts no thread in a producer', async () => {
      const front = producer(queueName());
      await front.ready();
      expect(front.stats().threads).toBe(0);
    });
  });

  describe('errors', () => {
    it("brings a task's error back as TaskError with its code, task and job id", async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const job = await front.submit('throwError', ['no', 'E_NO']);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.jobId).toBe(job.id);
      expect(error.task).toBe('throwError');
      expect(error.cause).toMatchObject({ message: 'no', code: 'E_NO' });
      expect(job.state).toBe('failed');
    });

    it('brings a hard time limit back as TimeoutError, enforced by the consumer, and does not retry it', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const job = await front.submit('spin', [], { timeout: 200, retries: { max: 2, delay: 0 } });
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ code: 'BAOZI_TIMEOUT', kind: 'hard', limitMs: 200, jobId: job.id, task: 'spin' });
      expect(job.attempt).toBe(1);
    });
  });

  describe('job options', () => {
    it('retries a failing task as BullMQ attempts, with baozi backoff, and gives RetriesExhaustedError at the end', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue, { maxThreads: 1 });
      const ok = await front.submit('failTimes', [`${queue}-a`, 2], { retries: { max: 3, delay: 10, jitter: 'none' } });
      await expect(ok.result).resolves.toBe(3);
      const exhausted = await front.submit('failTimes', [`${queue}-b`, 5], { retries: { max: 1, delay: 10 } });
      const error = await rejectionOf(exhausted.result);
      expect(error).toBeInstanceOf(RetriesExhaustedError);
      expect(error).toMatchObject({ attempts: 2, jobId: exhausted.id });
      expect(error.cause).toBeInstanceOf(TaskError);
    });

    it('runs higher priorities first (BullMQ 1 is highest; baozi higher runs first)', async () => {
      const queue = queueName();
      const front = producer(queue);
      const jobs = await Promise.all([0, 5, -3, 10].map((priority) => front.submit('echo', [priority], { priority })));
      const order: number[] = [];
      const runner = consumer(queue, { maxThreads: 1 });
      await Promise.all(jobs.map((job) => job.result.then((value) => order.push(value as number))));
      expect(order).toEqual([10, 5, 0, -3]);
      await runner.close();
    });

    it('holds a delayed job until its time', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const submittedAt = Date.now();
      const job = await front.submit('add', [1, 1], { delay: 300 });
      expect(job.state).toBe('scheduled');
      await expect(job.result).resolves.toBe(2);
      expect(job.startedAt! - submittedAt).toBeGreaterThanOrEqual(290);
    });

    it('dedupes a jobId: the same id submitted again is the same job, run once', async () => {
      const queue = queueName();
      const front = producer(queue);
      const first = await front.submit('countRun', [queue], { jobId: 'once' });
      const second = await front.submit('countRun', [queue], { jobId: 'once' });
      expect(second).toBe(first);
      consumer(queue, { maxThreads: 1 });
      await expect(first.result).resolves.toBe(1);
      // Another producer process sees the id taken too.
      const other = producer(queue);
      const again = await other.submit('countRun', [queue], { jobId: 'once' });
      expect(again.id).toBe('once');
      await expect(again.result).resolves.toBe(1);
    });

    it('reports progress through the queue events, to onProgress and the handle', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const seen: unknown[] = [];
      const job = await front.submit('progressSteps', [3], { onProgress: (value) => seen.push(value) });
      await expect(job.result).resolves.toBe(3);
      // Progress events and the completed event travel on one stream, in order.
      expect(seen).toEqual([1, 2, 3]);
      expect(job.progress).toBe(3);
    });

    it('expires a job that did not start in time, without running it', async () => {
      const queue = queueName();
      const front = producer(queue);
      const job = await front.submit('countRun', [queue], { expiresIn: 50 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      consumer(queue);
      const error = await rejectionOf(job.result);
      expect(error.code).toBe('BAOZI_EXPIRED');
      expect(job.state).toBe('expired');
    });

    it('cancels a waiting job by removing it from the queue', async () => {
      const queue = queueName();
      const front = producer(queue);
      const job = await front.submit('add', [1, 2]);
      expect(job.cancel('not needed')).toBe(true);
      const error = await rejectionOf(job.result);
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(job.state).toBe('cancelled');
    });
  });

  describe('results by id', () => {
    it('finds a finished job from another producer process with fetchJob(id)', async () => {
      const queue = queueName();
      const front = producer(queue);
      consumer(queue);
      const job = await front.submit('add', [20, 22], { jobId: 'answer' });
      await job.result;
      const other = producer(queue);
      const found = await other.fetchJob('answer');
      expect(found?.state).toBe('succeeded');
      await expect(found!.result).resolves.toBe(42);
      expect(await other.fetchJob('nope')).toBeUndefined();
    });

    it('follows a job another process submitted until it settles', async () => {
      const queue = queueName();
      const front = producer(queue);
      const job = await front.submit('add', [1, 2], { jobId: 'later' });
      const other = producer(queue);
      const found = await other.fetchJob(job.id);
      expect(found?.state).toBe('queued');
      consumer(queue);
      await expect(found!.result).resolves.toBe(3);
    });
  });
});
