import { describe, expect, it } from '@jest/globals';
import { CancelledError, InvalidOptionError, TaskError } from 'baozi';
import { mapJobs } from '../lib/workflows/map.js';
import type { SettledResult } from '../lib/workflows/workflow-types.js';
import { rejectionOf, thrownBy, useRunners } from './helpers/e2e.js';
import { broadcastGate, runnerWithSubmitter } from './helpers/workflows.js';

const runners = useRunners();

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** A generator that records whether it was closed. */
function closable<T>(items: Iterable<T>): { source: Generator<T>; readonly isClosed: boolean } {
  let isClosed = false;
  function* generate(): Generator<T> {
    try {
      yield* items;
    } finally {
      isClosed = true;
    }
  }
  return {
    source: generate(),
    get isClosed() {
      return isClosed;
    },
  };
}

function* forever<T>(first: readonly T[], then: T): Generator<T> {
  yield* first;
  for (;;) yield then;
}

const range = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

describe('map with batchSize', () => {
  it('sends 100 inputs with batchSize 10 as exactly 10 jobs and yields every result in input order', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 32, maxThreads: 2 });
    let accepted = 0;
    runner.on('queued', () => void accepted++);
    expect(await collect(mapJobs(submitter, 'double', range(100), { batchSize: 10 }))).toEqual(range(100).map((i) => i * 2));
    expect(accepted).toBe(10);
    expect(runner.stats()).toMatchObject({ succeeded: 10, failed: 0 });
    await runner.close();
  });

  it("builds each input's arguments with args(item, index)", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 8 });
    const results = await collect(mapJobs(submitter, 'add', range(7), { batchSize: 3, args: (item, index) => [item, index * 10] }));
    expect(results).toEqual(range(7).map((i) => i + i * 10));
    await runner.close();
  });

  it('sends inputs that are objects, or of varying numbers of arguments, and gets each back', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 8 });
    const inputs = [{ a: 1 }, 'text', { b: [2, 3] }, 4, null];
    expect(await collect(mapJobs(submitter, 'echo', inputs, { batchSize: 5 }))).toEqual(inputs);
    const varying = await collect(mapJobs(submitter, 'echo', [0, 1, 2, 3], { batchSize: 4, args: (i) => (i % 2 === 0 ? [i] : [i, 'ignored']) as [number] }));
    expect(varying).toEqual([0, 1, 2, 3]);
    await runner.close();
  });

  it("with ordered: false, yields a chunk's results once it settles, ahead of an earlier chunk still running", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2, minThreads: 2 });
    const [a1, a2, b1, b2] = [broadcastGate(), broadcastGate(), broadcastGate(), broadcastGate()];
    const iterator = mapJobs(submitter, 'waitForBroadcast', [a1.name, a2.name, b1.name, b2.name], { batchSize: 2, ordered: false });
    const next = iterator.next();
    // Both chunks run, one per thread, each on its first input.
    await Promise.all([a1.ready, b1.ready]);
    b1.open('b1');
    await b2.ready;
    b2.open('b2');
    expect(await next).toEqual({ done: false, value: 'b1' });
    expect(await iterator.next()).toEqual({ done: false, value: 'b2' });
    a1.open('a1');
    await a2.ready;
    a2.open('a2');
    expect(await collect(iterator)).toEqual(['a1', 'a2']);
    for (const gate of [a1, a2, b1, b2]) gate.close();
    await runner.close();
  });

  it("ends the iteration with the first failing input's error, the error its own job would give, and cancels the chunks in flight", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 6, maxThreads: 2 });
    const input = closable(forever([0, 0, -1, 0], 60_000));
    const iterator = mapJobs(submitter, 'sleepOrThrow', input.source, { batchSize: 3 });

    const error = await rejectionOf(collect(iterator));
    expect(error).toBeInstanceOf(TaskError);
    expect(error.code).toBe('BAOZI_TASK_FAILED');
    expect(error.cause.code).toBe('NEGATIVE');
    expect(input.isClosed).toBe(true);
    await runner.onIdle();
    // The failing input's chunk ran to its end; the other chunk was cancelled.
    expect(runner.stats()).toMatchObject({ succeeded: 1, cancelled: 1, failed: 0 });
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    await runner.close();
  });

  it("with settle: 'all', yields each input's own outcome with its index", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 8 });
    const outcomes = await collect(mapJobs(submitter, 'sleepOrThrow', [1, -1, 2, -2, 3], { batchSize: 5, settle: 'all' }));
    expect(outcomes.map(({ status, index }) => [status, index])).toEqual([
      ['fulfilled', 0],
      ['rejected', 1],
      ['fulfilled', 2],
      ['rejected', 3],
      ['fulfilled', 4],
    ]);
    const rejected = outcomes[3] as Extract<SettledResult<number>, { status: 'rejected' }>;
    expect(rejected.reason).toBeInstanceOf(TaskError);
    expect((rejected.reason as TaskError).cause).toMatchObject({ code: 'NEGATIVE', message: 'negative input: -2' });
    expect(outcomes[4]).toEqual({ status: 'fulfilled', value: 3, index: 4 });
    expect(runner.stats()).toMatchObject({ succeeded: 1 });
    await runner.close();
  });

  it('fails every input of a chunk whose thread crashes, with the error a crashed job gives', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1 });
    const outcomes = await collect(mapJobs(submitter, 'exit', [1, 1], { batchSize: 2, settle: 'all' }));
    expect(outcomes.map((outcome) => [outcome.status, outcome.index, (outcome as { reason?: { code?: string } }).reason?.code])).toEqual([
      ['rejected', 0, 'BAOZI_WORKER_CRASHED'],
      ['rejected', 1, 'BAOZI_WORKER_CRASHED'],
    ]);
    await runner.close();
  });

  describe('when an input fails and may run again', () => {
    it("runs it again on its own, from attempt 2, when its task's retry policy allows", async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, {
        capacity: 8,
        maxThreads: 1,
        defaults: { failTimes: { retries: { max: 2, delay: 0 } } },
      });
      let retrying = 0;
      runner.on('retrying', () => void retrying++);
      // failTimes(key, 1) fails the first run of each key, then returns its job's attempt.
      const keys = ['a', 'b', 'c'].map((key) => `chunk-retry-${key}`);
      const results = await collect(mapJobs(submitter, 'failTimes', keys, { batchSize: 3, args: (key) => [key, 1] }));
      expect(results).toEqual([2, 2, 2]);
      expect(retrying).toBe(3);
      await runner.close();
    });

    it('runs it again when the task asks with retry(), as a job would', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 8, maxThreads: 1 });
      // askRetry(0, 2) asks for a retry until its attempt is 2, then returns the attempt.
      const results = await collect(mapJobs(submitter, 'askRetry', [0, 0], { batchSize: 2, args: (delay) => [delay, 2] }));
      expect(results).toEqual([2, 2]);
      expect(runner.stats()).toMatchObject({ retried: 2 });
      await runner.close();
    });
  });

  describe('when the consumer stops early', () => {
    it('cancels the chunks in flight and closes the input', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 8, maxThreads: 2 });
      const input = closable(forever([1, 1], 60_000));
      const results: number[] = [];
      for await (const ms of mapJobs(submitter, 'sleep', input.source, { batchSize: 2 })) {
        results.push(ms);
        if (results.length === 2) break;
      }
      expect(results).toEqual([1, 1]);
      expect(input.isClosed).toBe(true);
      await runner.onIdle();
      // The first chunk succeeded; the three others (8 inputs in flight, 2 a chunk) were cancelled.
      expect(runner.stats()).toMatchObject({ succeeded: 1, cancelled: 3, queued: 0, running: 0 });
      await runner.close();
    });

    it('cancels them when its signal aborts, and rejects with CancelledError', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1 });
      const controller = new AbortController();
      const iterator = mapJobs(submitter, 'sleep', forever([], 60_000), { batchSize: 2, signal: controller.signal });
      const bothQueued = new Promise<void>((resolve) => {
        let queued = 0;
        runner.on('queued', () => ++queued === 2 && resolve());
      });
      const next = iterator.next();
      // Two chunks of two fill the window of 4: one runs, one waits.
      await bothQueued;
      controller.abort('user left');
      const error = await rejectionOf(next);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe('user left');
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ cancelled: 2, succeeded: 0 });
      await runner.close();
    });
  });

  it("with 'auto', sends quick inputs in chunks, and far fewer jobs than inputs", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 256, maxThreads: 2, minThreads: 2 });
    let accepted = 0;
    runner.on('queued', () => void accepted++);
    const count = 5_000;
    expect(await collect(mapJobs(submitter, 'double', range(count)))).toEqual(range(count).map((i) => i * 2));
    // A task this tiny gets chunks of up to (capacity - 1) / threads = 127 inputs.
    expect(accepted).toBeGreaterThanOrEqual(count / 127);
    expect(accepted).toBeLessThan(count / 8);
    await runner.close();
  });

  it("with 'auto', starts where the runner's last map of the task left off", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 256, maxThreads: 2, minThreads: 2 });
    let accepted = 0;
    runner.on('queued', () => void accepted++);
    await collect(mapJobs(submitter, 'double', range(2_000)));
    accepted = 0;
    expect(await collect(mapJobs(submitter, 'double', range(256)))).toEqual(range(256).map((i) => i * 2));
    // Chunks of the largest size (64) from the start, not single inputs first.
    expect(accepted).toBeLessThanOrEqual(8);
    await runner.close();
  });

  it("with 'auto', sends slow inputs one per job", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 16, maxThreads: 2, minThreads: 2 });
    let accepted = 0;
    runner.on('queued', () => void accepted++);
    // busyFor(5) holds its thread 5 ms: over the 2 ms a chunk aims at.
    const results = await collect(mapJobs(submitter, 'busyFor', [5, 5, 5, 5, 5, 5, 5, 5], { batchSize: 'auto' }));
    expect(results).toHaveLength(8);
    expect(accepted).toBe(8);
    await runner.close();
  });

  it('sends each input as its own job when one cannot be sent, so that only that one fails', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const outcomes = await collect(mapJobs(submitter, 'echo', [1, () => 2, 3], { batchSize: 3, settle: 'all' }));
    expect(outcomes.map(({ status }) => status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as { reason: { code: string } }).reason.code).toBe('BAOZI_SERIALIZATION');
    await runner.close();
  });

  it('throws InvalidOptionError naming batchSize for a value that is not an integer from 1 to 10000 or auto', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 2 });
    for (const batchSize of [0, -1, 1.5, 10_001, Number.NaN, '10', 'big', null]) {
      const error = thrownBy(() => mapJobs(submitter, 'double', [1], { batchSize } as never));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
      expect(error.option).toBe('batchSize');
      expect(error.value).toBe(batchSize);
    }
    await runner.close();
  });
});
