import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from '@jest/globals';
import { CancelledError, InvalidOptionError, TaskError } from 'baozi';
import { StreamNullResultError } from '../lib/errors.js';
import { jobStream } from '../lib/workflows/stream.js';
import type { SettledResult } from '../lib/workflows/workflow-types.js';
import { flush, holdThread, recordJobEvents, rejectionOf, thrownBy, useRunners } from './helpers/e2e.js';
import { nextEvent } from './helpers/events.js';
import { broadcastGate, runnerWithSubmitter } from './helpers/workflows.js';

const runners = useRunners();

/** A Writable that keeps every chunk. */
function collector<T>(): { sink: Writable; chunks: T[] } {
  const chunks: T[] = [];
  const sink = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(chunk: T, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, chunks };
}

/** A fast source of `0 … count - 1` that counts the chunks read from it. Its own buffer holds one chunk. */
function countingSource(count: number): { source: Readable; readonly reads: number } {
  let reads = 0;
  const source = new Readable({
    objectMode: true,
    highWaterMark: 1,
    read() {
      this.push(reads < count ? reads++ : null);
    },
  });
  return {
    source,
    get reads() {
      return reads;
    },
  };
}

describe('stream', () => {
  it('turns written chunks into jobs and gives their results in write order', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const records = recordJobEvents(runner);
    const { sink, chunks } = collector<number>();
    // Later chunks finish first; the results still come in write order.
    await pipeline(Readable.from([40, 30, 20, 10, 0]), jobStream(submitter, 'sleep'), sink);
    expect(chunks).toEqual([40, 30, 20, 10, 0]);
    expect(records.filter((record) => record.event === 'succeeded')).toHaveLength(5);
    await runner.close();
  });

  it('builds arguments with args(chunk, index)', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const results = await Readable.from([5, 6, 7])
      .pipe(jobStream(submitter, 'add', { args: (n: number, index) => [n, index * 100] }))
      .toArray();
    expect(results).toEqual([5, 106, 207]);
    await runner.close();
  });

  it('with ordered: false, gives results as their jobs finish', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2, minThreads: 2 });
    const first = broadcastGate();
    const second = broadcastGate();
    const stream = jobStream(submitter, 'waitForBroadcast', { ordered: false });
    stream.write(first.name);
    stream.end(second.name);
    await Promise.all([first.ready, second.ready]);

    const results = stream.toArray();
    const secondDone = nextEvent(runner, 'succeeded');
    second.open('second');
    await secondDone;
    first.open('first');
    expect(await results).toEqual(['second', 'first']);
    first.close();
    second.close();
    await runner.close();
  });

  describe('backpressure', () => {
    it('stops reading a fast source once the table is full: reads stay within capacity + highWaterMark + 1', async () => {
      const capacity = 4;
      const highWaterMark = 2;
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity, maxThreads: 1 });
      const hold = await holdThread(runner);
      const counted = countingSource(200);
      const { sink, chunks } = collector<number>();
      const full = nextEvent(runner, 'full');
      const done = pipeline(counted.source, jobStream(submitter, 'double', { highWaterMark }), sink);

      await full;
      await flush();
      // The stream's jobs fill the table; the stream buffers at most
      // highWaterMark chunks; the source keeps 1 chunk in its own buffer
      // (its highWaterMark): that is the constant.
      const readWhileFull = counted.reads;
      expect(readWhileFull).toBeGreaterThanOrEqual(capacity);
      expect(readWhileFull).toBeLessThanOrEqual(capacity + highWaterMark + 1);
      expect(runner.stats()).toMatchObject({ queued: capacity, blocked: 0 });
      await flush();
      expect(counted.reads).toBe(readWhileFull);

      hold.open();
      await done;
      expect(chunks).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
      await runner.close();
    });

    it('stops taking writes while its reader does not read: reads stay within capacity + 2 × highWaterMark + 1', async () => {
      const capacity = 4;
      const highWaterMark = 2;
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity, maxThreads: 2, minThreads: 2 });
      const counted = countingSource(200);
      const stream = jobStream(submitter, 'double', { highWaterMark });
      counted.source.pipe(stream);

      await flush();
      await runner.onIdle();
      await flush();
      // Results fill the readable buffer (highWaterMark), then wait inside
      // the stream as jobs in flight (capacity); writes wait in the
      // writable buffer (highWaterMark); the source buffers 1.
      const readWhileStalled = counted.reads;
      expect(readWhileStalled).toBeLessThanOrEqual(capacity + 2 * highWaterMark + 1);
      expect(stream.readableLength).toBe(highWaterMark);
      await flush();
      await runner.onIdle();
      expect(counted.reads).toBe(readWhileStalled);
      expect(runner.stats().succeeded).toBeLessThanOrEqual(capacity + highWaterMark);

      expect(await stream.toArray()).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
      await runner.close();
    });
  });

  describe('when a job fails', () => {
    it('destroys the stream with that job error and cancels its jobs in flight', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2 });
      const records = recordJobEvents(runner);
      const { sink, chunks } = collector<number>();
      const error = await rejectionOf(pipeline(Readable.from([60_000, -1, 60_000, 60_000]), jobStream(submitter, 'sleepOrThrow'), sink));

      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.cause.code).toBe('NEGATIVE');
      expect(chunks).toEqual([]);
      await runner.onIdle();
      const submitted = records.filter((record) => record.event === 'queued').length;
      expect(runner.stats()).toMatchObject({ failed: 1, cancelled: submitted - 1, succeeded: 0 });
      await runner.close();
    });

    it("with settle: 'all', gives every outcome with its chunk index and goes on", async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
      const outcomes: SettledResult<number>[] = await Readable.from([1, -1, 2]).pipe(jobStream(submitter, 'sleepOrThrow', { settle: 'all' })).toArray();
      expect(outcomes.map(({ status, index }) => [status, index])).toEqual([
        ['fulfilled', 0],
        ['rejected', 1],
        ['fulfilled', 2],
      ]);
      expect((outcomes[1] as { reason: unknown }).reason).toBeInstanceOf(TaskError);
      await runner.close();
    });

    it('destroys the stream with StreamNullResultError when a job resolves with null, which a stream cannot carry', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
      const { sink } = collector<unknown>();
      const error = await rejectionOf(pipeline(Readable.from([1, null, 3].map((value) => ({ value }))), jobStream(submitter, 'echo', { args: ({ value }: { value: unknown }) => [value] }), sink));
      expect(error).toBeInstanceOf(StreamNullResultError);
      expect(error.code).toBe('BAOZI_STREAM_NULL_RESULT');
      expect(error.task).toBe('echo');
      await runner.close();
    });
  });

  it('when destroyed, cancels its jobs in flight', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1 });
    const records = recordJobEvents(runner);
    const stream = jobStream(submitter, 'sleep');
    const written = [60_000, 60_000, 60_000].map((ms) => new Promise((resolve) => stream.write(ms, resolve)));
    await Promise.all(written);
    expect(runner.stats()).toMatchObject({ running: 1, queued: 2 });

    stream.destroy();
    await runner.onIdle();
    expect(runner.stats()).toMatchObject({ cancelled: 3, succeeded: 0 });
    expect(records.filter((record) => record.event === 'cancelled')).toHaveLength(3);
    await runner.close();
  });

  it('when its signal aborts, is destroyed with CancelledError and cancels its jobs in flight', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1 });
    const controller = runners.abortController();
    const stream = jobStream(submitter, 'sleep', { signal: controller.signal });
    const closed = new Promise<unknown>((resolve) => stream.once('error', resolve));
    await new Promise((resolve) => stream.write(60_000, resolve));

    controller.abort('user left');
    const error = (await closed) as CancelledError;
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.code).toBe('BAOZI_CANCELLED');
    expect(error.cause).toBe('user left');
    await runner.onIdle();
    expect(runner.stats()).toMatchObject({ cancelled: 1, succeeded: 0 });
    await runner.close();
  });

  it('throws InvalidOptionError at once for an unknown option or a bad highWaterMark', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    for (const options of [{ highWatermark: 4 }, { highWaterMark: 0 }, { ordered: 1 }]) {
      const error = thrownBy(() => jobStream(submitter, 'double', options as never));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
    }
    await runner.close();
  });
});
