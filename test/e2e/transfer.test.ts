import { describe, expect, it } from '@jest/globals';
import { useRunners } from '../helpers/e2e.js';

const runners = useRunners();

function isUint8Array(value: unknown): value is Uint8Array {
  // Across realms `instanceof` fails: values from other threads are built outside Jest's sandbox.
  return Object.prototype.toString.call(value) === '[object Uint8Array]';
}

describe('Runner', () => {
  describe('when arguments are submitted with a transferList', () => {
    it('moves the buffer to the thread, detaching it here, and the result is right', async () => {
      const runner = runners.runner();
      const bytes = new Uint8Array([0, 1, 2, 254, 255]);
      const job = await runner.submit('incrementBytes', [bytes], { transferList: [bytes.buffer] });
      expect(bytes.buffer.byteLength).toBe(0);
      expect(bytes.length).toBe(0);
      const result = await job.result;
      expect(isUint8Array(result)).toBe(true);
      expect([...result]).toEqual([1, 2, 3, 255, 0]);
      await runner.close();
    });

    it('moves a large buffer without trouble', async () => {
      const runner = runners.runner();
      const bytes = new Uint8Array(8 * 1024 * 1024).fill(7);
      const job = await runner.submit('incrementBytes', [bytes], { transferList: [bytes.buffer] });
      expect(bytes.byteLength).toBe(0);
      const result = await job.result;
      expect(result.byteLength).toBe(8 * 1024 * 1024);
      expect(result[0]).toBe(8);
      expect(result[result.length - 1]).toBe(8);
      await runner.close();
    });
  });

  describe('when arguments are submitted without a transferList', () => {
    it('copies them: the caller’s buffer stays intact', async () => {
      const runner = runners.runner();
      const bytes = new Uint8Array([10, 20, 30]);
      const result = await runner.run('incrementBytes', bytes);
      expect(bytes.buffer.byteLength).toBe(3);
      expect([...bytes]).toEqual([10, 20, 30]);
      expect(isUint8Array(result)).toBe(true);
      expect([...result]).toEqual([11, 21, 31]);
      await runner.close();
    });
  });

  describe('when a task returns its result with transfer()', () => {
    it('moves the result: the thread’s copy is detached and the caller gets the bytes', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const result = await runner.run('incrementBytesAndKeep', new Uint8Array([1, 2, 3]));
      expect(isUint8Array(result)).toBe(true);
      expect([...result]).toEqual([2, 3, 4]);
      expect(result.buffer.byteLength).toBe(3);
      // The same thread still holds the array it returned: moved away, it is empty there.
      expect(await runner.run('keptOutputByteLength')).toBe(0);
      await runner.close();
    });
  });
});
