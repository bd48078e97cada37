import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError, SerializationError } from 'baozi';
import { holdThread, recordJobEvents, rejectionOf, thrownBy, useRunners } from '../helpers/e2e.js';

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

  describe('when a buffer is detached (moved by an earlier transfer)', () => {
    function detachedView(): Uint8Array {
      const bytes = new Uint8Array(1024);
      structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
      return bytes;
    }

    it.each([
      ['in the arguments and the transferList', () => { const view = detachedView(); return { args: [view], transferList: [view.buffer] }; }, 'transferList[0]'],
      ['in the arguments, with a transferList of another buffer', () => ({ args: [{ nested: detachedView() }], transferList: [new ArrayBuffer(8)] }), 'args[0].nested'],
      ['in the arguments, without a transferList', () => ({ args: [{ nested: detachedView() }], transferList: undefined }), 'args[0].nested'],
    ])('refuses it %s at submit with SerializationError naming where, and queues nothing', async (_, make, path) => {
      const runner = runners.runner();
      await runner.ready();
      const records = recordJobEvents(runner);
      const { args, transferList } = make();
      const options = transferList && { transferList: transferList as ArrayBuffer[] };
      for (const error of [await rejectionOf(runner.submit('echo', args as [unknown], options)), thrownBy(() => runner.trySubmit('echo', args as [unknown], options))]) {
        expect(error).toBeInstanceOf(SerializationError);
        expect(error.code).toBe('BAOZI_SERIALIZATION');
        expect(error.direction).toBe('argument');
        expect(error.path).toBe(path);
      }
      expect(records).toEqual([]);
      expect(await runner.run('add', 1, 2)).toBe(3);
      await runner.close();
    });

    it('settles the second of two jobs given the same buffer to move, and close() resolves (issue 16 A)', async () => {
      for (const options of [{}, { maxThreads: 1 }, { minThreads: 2 }]) {
        const runner = runners.runner(options);
        await runner.ready();
        const bytes = new Uint8Array(1024);
        const first = await runner.submit('byteLength', [bytes], { transferList: [bytes.buffer] });
        const second = await rejectionOf(runner.submit('byteLength', [bytes], { transferList: [bytes.buffer] }));
        expect(second).toBeInstanceOf(SerializationError);
        expect(second.path).toBe('transferList[0]');
        expect(await first.result).toBe(1024);
        expect(await runner.close()).toMatchObject({ succeeded: 0, failed: 0 });
      }
    });

    it('fails a queued job whose buffer another job moved first with SerializationError, and runs the next job', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const held = await holdThread(runner);
      const bytes = new Uint8Array(64);
      // Both are accepted while the buffer is still here; the first to start moves it.
      const first = await runner.submit('byteLength', [bytes], { transferList: [bytes.buffer] });
      const second = await runner.submit('byteLength', [bytes], { transferList: [bytes.buffer] });
      held.open();
      expect(await first.result).toBe(64);
      const error = await rejectionOf(second.result);
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.direction).toBe('argument');
      expect(error.path).toBe('transferList[0]');
      expect(error.jobId).toBe(second.id);
      expect(second.state).toBe('failed');
      expect(await runner.run('add', 2, 2)).toBe(4);
      await runner.close();
    });
  });

  describe('when a transferList holds what cannot be moved', () => {
    it.each([
      ['a number', [1]],
      ['a plain object', [{}]],
      ['a SharedArrayBuffer', [new SharedArrayBuffer(8)]],
      ['a typed array (not its buffer)', [new Uint8Array(8)]],
    ])('refuses %s at submit with InvalidOptionError, queueing nothing', async (_, transferList) => {
      const runner = runners.runner();
      const records = recordJobEvents(runner);
      for (const error of [
        await rejectionOf(runner.submit('echo', [1], { transferList } as never)),
        thrownBy(() => runner.trySubmit('echo', [1], { transferList } as never)),
      ]) {
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error.code).toBe('BAOZI_INVALID_OPTION');
        expect(error.option).toBe('transferList[0]');
      }
      expect(records).toEqual([]);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0, failed: 0 });
      await runner.close();
    });

    it('refuses the same buffer listed twice with InvalidOptionError', async () => {
      const runner = runners.runner();
      const bytes = new ArrayBuffer(8);
      const error = await rejectionOf(runner.submit('echo', [bytes], { transferList: [bytes, bytes] }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.option).toBe('transferList[1]');
      expect(bytes.byteLength).toBe(8);
      await runner.close();
    });
  });
});
