/**
 * `maxPayloadBytes` (RELIABILITY.md, BI6): arguments over the limit are
 * refused before anything is queued, and large buffers pass under a raised
 * limit, moved when they are in the transferList.
 */
import { describe, expect, it } from '@jest/globals';
import { createRunner, InvalidOptionError } from 'baozi';
import { PayloadTooLargeError } from '../../lib/errors.js';
import { recordJobEvents, rejectionOf, thrownBy, useRunners } from '../helpers/e2e.js';
import { TASKS } from '../helpers/runner.js';

const runners = useRunners();
const MiB = 1024 * 1024;

function expectTooLarge(error: unknown, limit: number): void {
  expect(error).toBeInstanceOf(PayloadTooLargeError);
  const tooLarge = error as PayloadTooLargeError;
  expect(tooLarge.code).toBe('BAOZI_PAYLOAD_TOO_LARGE');
  expect(tooLarge.limit).toBe(limit);
  expect(tooLarge.size).toBeGreaterThan(limit);
}

describe('Runner', () => {
  describe('when a job’s arguments are larger than maxPayloadBytes', () => {
    it('BI6: rejects submit() with PayloadTooLargeError, queues nothing, and stays usable', async () => {
      const runner = runners.runner({ maxPayloadBytes: 1024 });
      const events = recordJobEvents(runner);
      const error = await rejectionOf(runner.submit('echo', [{ text: 'x'.repeat(2000) }]));
      expectTooLarge(error, 1024);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0, blocked: 0, succeeded: 0, failed: 0 });
      expect(events).toEqual([]);
      expect(await runner.run('echo', { text: 'small' })).toEqual({ text: 'small' });
      await runner.close();
    });

    it('makes trySubmit() throw at once for string arguments, counted at two bytes a character', async () => {
      const runner = runners.runner({ maxPayloadBytes: 1000 });
      expectTooLarge(thrownBy(() => runner.trySubmit('echo', ['x'.repeat(600)])), 1000);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0 });
      expect(await runner.trySubmit('echo', ['x'.repeat(400)]).result).toBe('x'.repeat(400));
      await runner.close();
    });

    it('counts the bytes of buffers in the transferList, and leaves a refused buffer attached', async () => {
      const runner = runners.runner({ maxPayloadBytes: 4096 });
      const bytes = new Uint8Array(8192).fill(1);
      expectTooLarge(await rejectionOf(runner.submit('incrementBytes', [bytes], { transferList: [bytes.buffer] })), 4096);
      expect(bytes.byteLength).toBe(8192);
      expect(runner.stats().queued).toBe(0);
      await runner.close();
    });

    it('refuses a 64 MiB buffer under the default limit of 64 MiB, arguments and all', async () => {
      const runner = runners.runner();
      const bytes = new Uint8Array(64 * MiB);
      expectTooLarge(await rejectionOf(runner.submit('incrementBytes', [bytes], { transferList: [bytes.buffer] })), 64 * MiB);
      expect(bytes.byteLength).toBe(64 * MiB);
      await runner.close();
    });
  });

  describe('when maxPayloadBytes is raised', () => {
    it('BI6: moves a 64 MiB buffer in the transferList: the job succeeds and the caller’s buffer is detached', async () => {
      const runner = runners.runner({ maxPayloadBytes: 128 * MiB, maxThreads: 1 });
      const bytes = new Uint8Array(64 * MiB).fill(41);
      const job = await runner.submit('incrementBytes', [bytes], { transferList: [bytes.buffer] });
      const result = await job.result;
      expect(bytes.byteLength).toBe(0);
      expect(result.byteLength).toBe(64 * MiB);
      expect(result[0]).toBe(42);
      expect(result[result.length - 1]).toBe(42);
      await runner.close();
    });

    it('BI6: copies a 64 MiB buffer without a transferList: the job succeeds and the caller keeps its buffer', async () => {
      const runner = runners.runner({ maxPayloadBytes: 128 * MiB, maxThreads: 1 });
      const bytes = new Uint8Array(64 * MiB).fill(7);
      const result = await runner.run('incrementBytes', bytes);
      expect(bytes.byteLength).toBe(64 * MiB);
      expect(bytes[0]).toBe(7);
      expect(result.byteLength).toBe(64 * MiB);
      expect(result[0]).toBe(8);
      await runner.close();
    });
  });

  describe('maxPayloadBytes', () => {
    it.each([0, -1, 1.5, NaN, Infinity, '1024'])('BI7: is refused by createRunner() when set to %p, naming the option', (value) => {
      const error = thrownBy(() => createRunner({ tasks: TASKS, maxPayloadBytes: value as number }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
      expect(error.option).toBe('maxPayloadBytes');
    });
  });
});
