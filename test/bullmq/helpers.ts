/**
 * Helpers for the broker suites: a queue name of a test's own, runners over
 * BullMQ that are always closed, bare BullMQ queues to look into Redis with,
 * and the shared redis-server's URL (the suites skip when `npm test` found
 * no redis-server).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe } from '@jest/globals';
import { Queue } from 'bullmq';
import { createRunner, type Runner, type RunnerOptions } from 'baozi';
import { bullmq, type BullmqOptions } from 'baozi/bullmq';
import { sharedRedisUrl } from '../helpers/redis.js';
import { TASKS, type TestTasks } from '../helpers/runner.js';

export const REDIS_URL = sharedRedisUrl();

/** `describe`, or `describe.skip` when no redis-server runs (global-teardown then says so). */
export const describeWithRedis = REDIS_URL ? describe : describe.skip;

export function queueName(): string {
  return `test-${randomBytes(6).toString('hex')}`;
}

/** A bare BullMQ queue on the shared redis-server, to read (or write) what baozi does not show; close it after. */
export function rawQueue(queue: string): Queue {
  return new Queue(queue, { connection: { host: '127.0.0.1', port: Number(new URL(REDIS_URL!).port) } });
}

/** Runners over a BullMQ queue, closed after each test (without draining) if the test did not. */
export function useBrokerRunners(): {
  producer(queue: string, options?: Partial<RunnerOptions>, broker?: Partial<BullmqOptions>): Runner<TestTasks>;
  consumer(queue: string, options?: Partial<RunnerOptions>, broker?: Partial<BullmqOptions>): Runner<TestTasks>;
} {
  const made: Runner<TestTasks>[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((runner) => runner.close({ drain: 'none' })));
  });
  const make = (queue: string, consume: boolean, options: Partial<RunnerOptions> = {}, broker: Partial<BullmqOptions> = {}): Runner<TestTasks> => {
    const runner = createRunner<TestTasks>({
      tasks: TASKS,
      minThreads: consume ? 1 : 0,
      maxThreads: 2,
      broker: bullmq({ queue, connection: REDIS_URL!, ...broker }),
      consume,
      ...options,
    });
    made.push(runner);
    return runner;
  };
  return {
    producer: (queue, options, broker) => make(queue, false, options, broker),
    consumer: (queue, options, broker) => make(queue, true, options, broker),
  };
}
