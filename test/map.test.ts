import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { CancelledError, InvalidOptionError, SerializationError, TaskError } from 'baozi';
import { mapJobs } from '../lib/workflows/map.js';
import type { JobSubmitter, SettledResult } from '../lib/workflows/workflow-types.js';
import type { TestTasks } from './helpers/runner.js';
import { flush, rejectionOf, thrownBy, track, useRunners } from './helpers/e2e.js';
import { nextEvent } from './helpers/events.js';
import { broadcastGate, collectGarbage, runnerWithSubmitter } from './helpers/workflows.js';

const runners = useRunners();

/** Collects an async iterable. */
async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** A generator that counts what was read from it and whether it was closed. */
function countingSource<T>(items: Iterable<T>): { source: Generator<T>; readonly pulled: number; readonly isClosed: boolean } {
  let pulled = 0;
  let isClosed = false;
  function* generate(): Generator<T> {
    try {
      for (const item of items) {
        pulled++;
        yield item;
      }
    } finally {
      isClosed = true;
    }
  }
  return {
    source: generate(),
    get pulled() {
      return pulled;
    },
    get isClosed() {
      return isClosed;
    },
  };
}

function* forever<T>(first: readonly T[], then: T): Generator<T> {
  yield* first;
  for (;;) yield then;
}

describe('map', () => {
  it('runs the task once per input and yields the results in input order by default', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    // Later inputs finish first; the results still come in input order.
    expect(await collect(mapJobs(submitter, 'sleep', [40, 30, 20, 10, 0]))).toEqual([40, 30, 20, 10, 0]);
    expect(runner.stats().succeeded).toBe(5);
    await runner.close();
  });

  it('reads async iterables too, and builds arguments with args(item, index)', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 2 });
    async function* pairs(): AsyncGenerator<[number, number]> {
      for (let i = 0; i < 6; i++) yield [i, i * 10];
    }
    const results = await collect(mapJobs(submitter, 'add', pairs(), { args: ([a, b], index) => [a + index, b] }));
    expect(results).toEqual([0, 12, 24, 36, 48, 60]);
    await runner.close();
  });

  it('holds back a finished result until the ones before it are out, in input order', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2, minThreads: 2 });
    const first = broadcastGate();
    const second = broadcastGate();
    const iterator = mapJobs(submitter, 'waitForBroadcast', [first.name, second.name]);
    const next = track(iterator.next());
    await Promise.all([first.ready, second.ready]);

    const secondDone = nextEvent(runner, 'succeeded');
    second.open('second');
    await secondDone;
    await flush();
    expect(next.isSettled).toBe(false);
    first.open('first');
    expect(await next.promise).toEqual({ done: false, value: 'first' });
    expect(await iterator.next()).toEqual({ done: false, value: 'second' });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    first.close();
    second.close();
    await runner.close();
  });

  it('with ordered: false, yields results as their jobs finish', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2, minThreads: 2 });
    const first = broadcastGate();
    const second = broadcastGate();
    const iterator = mapJobs(submitter, 'waitForBroadcast', [first.name, second.name], { ordered: false });
    const next = iterator.next();
    await Promise.all([first.ready, second.ready]);

    second.open('second');
    expect(await next).toEqual({ done: false, value: 'second' });
    first.open('first');
    expect(await iterator.next()).toEqual({ done: false, value: 'first' });
    expect((await iterator.next()).done).toBe(true);
    first.close();
    second.close();
    await runner.close();
  });

  it('reads nothing and submits nothing before the first next()', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const counted = countingSource([1, 2, 3]);
    const iterator = mapJobs(submitter, 'double', counted.source);
    await flush();
    expect(counted.pulled).toBe(0);
    expect(runner.stats().queued + runner.stats().running).toBe(0);
    expect(await collect(iterator)).toEqual([2, 4, 6]);
    await runner.close();
  });

  it('never has more than capacity inputs in flight, and reads the next input only when the consumer comes back for a result', async () => {
    const capacity = 3;
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity, maxThreads: 1 });
    const counted = countingSource(Array.from({ length: 10 }, (_, i) => i));
    const iterator = mapJobs(submitter, 'double', counted.source);

    expect(await iterator.next()).toEqual({ done: false, value: 0 });
    await flush();
    await runner.onIdle();
    // The consumer holds result 0 and the next two wait: capacity inputs in flight, none more read.
    expect(counted.pulled).toBe(capacity);
    expect(await iterator.next()).toEqual({ done: false, value: 2 });
    await flush();
    await runner.onIdle();
    // Coming back for a result released the one before it: one more input read.
    expect(counted.pulled).toBe(capacity + 1);
    expect(await collect(iterator)).toEqual([4, 6, 8, 10, 12, 14, 16, 18]);
    await runner.close();
  });

  it('maps a long generator in bounded memory: in flight never exceeds capacity and the heap does not grow with the input', async () => {
    // 100 000 inputs, not 200 000: under jest a tiny job costs about 0.06 ms
    // of a 2-core machine, so 200 000 take about 12 s. The heap bound below
    // is 4 MB: anything kept per input (40 bytes or more) would exceed it.
    const count = 100_000;
    const capacity = 64;
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity, maxThreads: 2, minThreads: 2 });
    let pulled = 0;
    let yielded = 0;
    let mostInFlight = 0;
    function* inputs(): Generator<number> {
      for (let i = 0; i < count; i++) {
        pulled++;
        mostInFlight = Math.max(mostInFlight, pulled - yielded);
        yield i;
      }
    }
    // Warm up the threads and the code paths before the baseline.
    await collect(mapJobs(submitter, 'double', [1, 2, 3]));
    collectGarbage();
    const baseline = process.memoryUsage().heapUsed;
    let mostGrowth = 0;
    let isInOrder = true;

    for await (const result of mapJobs(submitter, 'double', inputs())) {
      if (result !== yielded * 2) isInOrder = false;
      yielded++;
      if (yielded % 10_000 === 0) {
        collectGarbage();
        mostGrowth = Math.max(mostGrowth, process.memoryUsage().heapUsed - baseline);
      }
    }

    expect(yielded).toBe(count);
    expect(isInOrder).toBe(true);
    expect(mostInFlight).toBe(capacity);
    expect(mostGrowth).toBeLessThan(4 * 1024 * 1024);
    await runner.close();
  }, 30_000);

  describe('when the consumer stops early', () => {
    it('cancels the jobs in flight and closes the input', async () => {
      const capacity = 4;
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity, maxThreads: 2 });
      const counted = countingSource(forever([1, 2, 3], 60_000));
      const results: number[] = [];
      for await (const ms of mapJobs(submitter, 'sleep', counted.source)) {
        results.push(ms);
        if (results.length === 3) break;
      }

      expect(results).toEqual([1, 2, 3]);
      expect(counted.isClosed).toBe(true);
      // The third result was still held when the loop broke: at most capacity inputs were in flight.
      expect(counted.pulled).toBeGreaterThan(3);
      expect(counted.pulled).toBeLessThanOrEqual(2 + capacity);
      await runner.onIdle();
      // The ones not yielded were cancelled.
      expect(runner.stats()).toMatchObject({ succeeded: 3, cancelled: counted.pulled - 3, queued: 0, running: 0 });
      await runner.close();
    });

    it('answers a next() after return() with done', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 2 });
      const iterator = mapJobs(submitter, 'double', [1, 2, 3]);
      expect(await iterator.next()).toEqual({ done: false, value: 2 });
      expect(await iterator.return!()).toEqual({ done: true, value: undefined });
      expect(await iterator.next()).toEqual({ done: true, value: undefined });
      await runner.close();
    });
  });

  describe('when a job fails', () => {
    it('rejects the iteration with that job error, after cancelling the rest and closing the input', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2 });
      const counted = countingSource(forever([60_000, -1], 60_000));
      // batchSize 1: one job per input, so the failure is a failed job.
      const iterator = mapJobs(submitter, 'sleepOrThrow', counted.source, { batchSize: 1 });

      const error = await rejectionOf(iterator.next());
      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.cause.code).toBe('NEGATIVE');
      expect(counted.isClosed).toBe(true);
      expect(counted.pulled).toBe(4);
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ failed: 1, cancelled: 3, succeeded: 0 });
      expect(await iterator.next()).toEqual({ done: true, value: undefined });
      await runner.close();
    });

    it("with settle: 'all', yields every outcome with its input index and goes on", async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 2 });
      const outcomes = await collect(mapJobs(submitter, 'sleepOrThrow', [1, -1, 2], { settle: 'all' }));
      expect(outcomes.map(({ status, index }) => [status, index])).toEqual([
        ['fulfilled', 0],
        ['rejected', 1],
        ['fulfilled', 2],
      ]);
      const rejected = outcomes[1] as Extract<SettledResult<number>, { status: 'rejected' }>;
      expect(rejected.reason).toBeInstanceOf(TaskError);
      expect(outcomes[2]).toEqual({ status: 'fulfilled', value: 2, index: 2 });
      await runner.close();
    });

    it('treats an input whose arguments cannot be sent like a failing job', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 2 });
      const error = await rejectionOf(collect(mapJobs(submitter, 'echo', [1, () => 2, 3])));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.code).toBe('BAOZI_SERIALIZATION');
      await runner.close();
    });
  });

  it('rejects the iteration with the error an input throws, and cancels the jobs in flight', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1 });
    const broken = new Error('the input broke');
    async function* inputs(): AsyncGenerator<number> {
      yield 60_000;
      yield 60_000;
      throw broken;
    }
    // batchSize 1: 'auto' would read no further until a first job is measured.
    expect(await rejectionOf(collect(mapJobs(submitter, 'sleep', inputs(), { batchSize: 1 })))).toBe(broken);
    await runner.onIdle();
    expect(runner.stats()).toMatchObject({ cancelled: 2, succeeded: 0 });
    await runner.close();
  });

  it('when its signal aborts, cancels the jobs in flight, closes the input and rejects with CancelledError', async () => {
    const capacity = 3;
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity, maxThreads: 1 });
    const controller = runners.abortController();
    const counted = countingSource(forever([], 60_000));
    // batchSize 1: 'auto' would hold back inputs until a first job is measured.
    const iterator = mapJobs(submitter, 'sleep', counted.source, { signal: controller.signal, batchSize: 1 });
    const next = iterator.next();
    await nextEvent(runner, 'running');
    await flush();
    expect(runner.stats()).toMatchObject({ running: 1, queued: capacity - 1 });

    controller.abort('user left');
    const error = await rejectionOf(next);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.code).toBe('BAOZI_CANCELLED');
    expect(error.cause).toBe('user left');
    expect(counted.isClosed).toBe(true);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    await runner.onIdle();
    expect(runner.stats()).toMatchObject({ cancelled: capacity, succeeded: 0 });
    await runner.close();
  });

  it('throws InvalidOptionError at once for an unknown option or inputs that are not iterable', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 2 });
    const noRoom: JobSubmitter<TestTasks> = { ...submitter, capacity: 0 };
    const cases = [
      () => mapJobs(submitter, 'double', [1], { orderd: false } as never),
      () => mapJobs(submitter, 'double', [1], { ordered: 'yes' } as never),
      () => mapJobs(submitter, 'double', 42 as never),
      () => mapJobs(noRoom, 'double', [1]),
    ];
    for (const make of cases) {
      const error = thrownBy(make);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
    }
    await runner.close();
  });
});
