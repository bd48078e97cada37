/**
 * The broker contract's cases (test/broker/contract.ts) that can hold over
 * Redis, through a runner over BullMQ: the BullMQ side is no `Broker` (its
 * `take` is BullMQ's Worker, not a synchronous call), so each case is
 * asserted on what a user sees and on what Redis holds. docs/bullmq.md says
 * which contract cases do not carry over, and why.
 */
import { describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { CancelledError, RunnerClosedError, type JobHandle } from 'baozi';
import { MAX_HELD_PER_SLOT } from '../../lib/broker/bullmq/consumer.js';
import { rejectionOf, track } from '../helpers/e2e.js';
import { describeWithRedis, queueName, rawQueue, useBrokerRunners } from './helpers.js';

async function waitingOn(raw: Queue): Promise<number> {
  return raw.getJobCountByTypes('wait', 'prioritized');
}

describeWithRedis('The table over BullMQ (the broker contract, over Redis)', () => {
  const { producer, consumer } = useBrokerRunners();

  describe('when full', () => {
    it('never holds more than its capacity with 100 producers against capacity 4, and admits them in arrival order', async () => {
      const queue = queueName();
      const raw = rawQueue(queue);
      const front = producer(queue, { capacity: 4 });
      const admitted: number[] = [];
      // Each job returns its place in its thread's run order: the order jobs
      // started, which the completion events (several jobs of one run
      // complete in one turn) need not keep.
      const key = `fifo-${queue}`;
      // More producers than the consumer may hold, so that the order check below can fail.
      const count = 100;
      const submits = Array.from({ length: count }, (_, i) => front.submit('countRun', [key]).then((job) => (admitted.push(i), job)));
      await Promise.all(submits.slice(0, 4));
      expect(await waitingOn(raw)).toBe(4);
      expect(front.stats().blocked).toBe(count - 4);
      consumer(queue, { maxThreads: 1 });
      let most = 0;
      const places = await Promise.all(
        submits.map(async (submitted) => {
          const place = (await (await submitted).result) as number;
          most = Math.max(most, await waitingOn(raw));
          return place;
        }),
      );
      await raw.close();
      expect(most).toBeLessThanOrEqual(4);
      expect(admitted).toEqual([...Array(count).keys()]);
      // One thread, one priority: first in, first out, up to the jobs the
      // consumer holds (see docs/bullmq.md): those BullMQ handed over in
      // different turns of its event loop may start in either order.
      expect([...places].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      const held = 1 + MAX_HELD_PER_SLOT;
      places.forEach((place, i) => expect(Math.abs(place - (i + 1))).toBeLessThan(held));
    });
  });

  describe('admission order', () => {
    it('resolves submits in the order they were admitted, also when an earlier add takes more round trips', async () => {
      const queue = queueName();
      const front = producer(queue);
      const resolved: number[] = [];
      // A jobId's add also reads the job's state (the id may name a finished
      // job): two round trips, against one for the others' bulk add.
      const submits = [front.submit('echo', [0], { jobId: `first-${queue}` }), front.submit('echo', [1]), front.submit('echo', [2])].map((submitted, i) =>
        submitted.then((job) => (resolved.push(i), job)),
      );
      const jobs = await Promise.all(submits);
      expect(resolved).toEqual([0, 1, 2]);
      consumer(queue, { maxThreads: 1 });
      expect(await Promise.all(jobs.map((job) => job.result))).toEqual([0, 1, 2]);
    });
  });

  describe('priority', () => {
    it('takes higher priorities first, negative ones after zero, first in, first out within one', async () => {
      const queue = queueName();
      const front = producer(queue);
      const priorities = [0, -5, 3, -1, 3, 0];
      const jobs = await Promise.all(priorities.map((priority, i) => front.submit('echo', [i], { priority })));
      consumer(queue, { maxThreads: 1 });
      const order: number[] = [];
      await Promise.all(jobs.map((job) => job.result.then((value) => order.push(value as number))));
      expect(order.map((i) => priorities[i])).toEqual([3, 3, 0, 0, -1, -5]);
      expect(order).toEqual([2, 4, 0, 5, 3, 1]);
    });
  });

  describe('remove (cancel)', () => {
    it('takes a queued job off and keeps the others in order', async () => {
      const queue = queueName();
      const front = producer(queue);
      const jobs = await Promise.all([0, 1, 2, 3, 4].map((i) => front.submit('echo', [i])));
      expect(jobs[2]!.cancel('not needed')).toBe(true);
      const error = await rejectionOf(jobs[2]!.result);
      expect(error).toBeInstanceOf(CancelledError);
      consumer(queue, { maxThreads: 1 });
      const order: number[] = [];
      await Promise.all(jobs.filter((_, i) => i !== 2).map((job) => job.result.then((value) => order.push(value as number))));
      expect(order).toEqual([0, 1, 3, 4]);
    });

    it('admits exactly one waiter for the room it frees', async () => {
      const queue = queueName();
      const raw = rawQueue(queue);
      const front = producer(queue, { capacity: 2 });
      const onTable = [await front.submit('add', [1, 1]), await front.submit('add', [2, 2])];
      const first = track(front.submit('add', [3, 3]));
      const second = track(front.submit('add', [4, 4]));
      onTable[0]!.cancel();
      await rejectionOf(onTable[0]!.result);
      await first.promise;
      expect(second.isSettled).toBe(false);
      expect(front.stats().blocked).toBe(1);
      expect(await waitingOn(raw)).toBe(2);
      await raw.close();
    });
  });

  describe('when a waiting producer’s signal aborts', () => {
    it('rejects the submit with CancelledError carrying the abort reason, and leaves no reservation: the next waiter gets the room', async () => {
      const queue = queueName();
      const raw = rawQueue(queue);
      const front = producer(queue, { capacity: 1 });
      const onTable = await front.submit('add', [1, 1]);
      const controller = new AbortController();
      const withdrawn = front.submit('add', [2, 2], { signal: controller.signal });
      const next = track(front.submit('add', [3, 3]));
      controller.abort('changed my mind');
      const error = await rejectionOf(withdrawn);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe('changed my mind');
      expect(front.stats().blocked).toBe(1);
      onTable.cancel();
      const admitted = (await next.promise) as JobHandle;
      expect(await waitingOn(raw)).toBe(1);
      consumer(queue);
      await expect(admitted.result).resolves.toBe(6);
      await raw.close();
    });

    it('rejects at once when the signal had already aborted, and adds nothing', async () => {
      const queue = queueName();
      const raw = rawQueue(queue);
      const front = producer(queue);
      const error = await rejectionOf(front.submit('add', [1, 1], { signal: AbortSignal.abort('no') }));
      expect(error).toBeInstanceOf(CancelledError);
      expect(await raw.getJobCountByTypes('wait', 'prioritized', 'delayed', 'active', 'completed')).toBe(0);
      await raw.close();
    });
  });

  describe('rejectBlocked (close)', () => {
    it('rejects every waiting producer with RunnerClosedError and adds none of their jobs', async () => {
      const queue = queueName();
      const raw = rawQueue(queue);
      const front = producer(queue, { capacity: 1 });
      await front.submit('add', [1, 1]);
      const waiting = [front.submit('add', [2, 2]), front.submit('add', [3, 3])];
      await front.close({ drain: 'none' });
      for (const submitted of waiting) expect(await rejectionOf(submitted)).toBeInstanceOf(RunnerClosedError);
      expect(await waitingOn(raw)).toBe(1);
      await raw.close();
    });
  });
});
