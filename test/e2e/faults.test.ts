import { describe, expect, it } from '@jest/globals';
import {
  createRunner,
  InvalidOptionError,
  SerializationError,
  TaskError,
  TaskLoadError,
  UnknownTaskError,
  WorkerCrashedError,
} from 'baozi';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, MessagePort } from 'node:worker_threads';
import { idsOf, recordJobEvents, rejectionOf, thrownBy, useRunners } from '../helpers/e2e.js';
import { nextEvent } from '../helpers/events.js';

const runners = useRunners();

const BROKEN = new URL('../fixtures/broken-tasks.js', import.meta.url);
const FLAKY = new URL('../fixtures/flaky-tasks.js', import.meta.url);

describe('Runner', () => {
  describe('when a task throws an Error', () => {
    it('CR1: rejects with TaskError whose cause is a faithful copy of the error', async () => {
      const runner = runners.runner();
      const job = await runner.submit('throwError', ['out of range', 'E_RANGE']);
      const error = await rejectionOf(job.result);

      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.task).toBe('throwError');
      expect(error.jobId).toBe(job.id);
      expect(error.attempt).toBe(1);
      expect(job.state).toBe('failed');

      const cause = error.cause;
      expect(cause).toBeInstanceOf(RangeError);
      expect(cause.name).toBe('RangeError');
      expect(cause.message).toBe('out of range');
      expect(cause.code).toBe('E_RANGE');
      expect(cause.detail).toEqual({ retryable: false });
      expect(cause.cause).toBeInstanceOf(Error);
      expect(cause.cause.message).toBe('the root cause');
      expect(cause.stack).toContain('RangeError');
      expect(cause.stack).toContain('fixtures/tasks.js');
      await runner.close();
    });

    it('CR1: rejects with TaskError when an async task rejects', async () => {
      const runner = runners.runner();
      const job = await runner.submit('rejectAsync', ['later']);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.jobId).toBe(job.id);
      expect(error.cause).toBeInstanceOf(TypeError);
      expect(error.cause.message).toBe('later');
      expect(error.cause.stack).toContain('fixtures/tasks.js');
      await runner.close();
    });

    it('CR1: keeps the thread: the next job runs on the same one', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      await expect(runner.run('throwError', 'sync')).rejects.toBeInstanceOf(TaskError);
      await expect(runner.run('rejectAsync', 'async')).rejects.toBeInstanceOf(TaskError);
      expect(await runner.run('threadId')).toBe(before);
      await runner.close();
    });

    it('CR1: fails a job whose result has a then that throws with TaskError, alone and in a batch, and keeps the thread', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const error = await rejectionOf(runner.run('returnThrowingThen'));
      expect(error).toBeInstanceOf(TaskError);
      expect(error.cause).toMatchObject({ message: 'then exploded' });
      // Several at once travel as a batch once the task is measured quick.
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => runner.run('returnThrowingThen')));
      expect(outcomes.map((outcome) => outcome.status === 'rejected' && outcome.reason instanceof TaskError)).toEqual(outcomes.map(() => true));
      expect(await runner.run('threadId')).toBe(before);
      await runner.close();
    });
  });

  describe('when a task throws something that is not an Error', () => {
    it.each([
      ['a string', 'just a string'],
      ['undefined', undefined],
      ['a number', 42],
      ['a plain object', { reason: 'no', nested: { list: [1, 2] } }],
    ])('CR2: rejects with TaskError whose cause is %s', async (_, thrown) => {
      const runner = runners.runner();
      const job = await runner.submit('throwValue', [thrown]);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.jobId).toBe(job.id);
      expect(error.cause).toEqual(thrown);
      await runner.close();
    });
  });

  describe('when a task throws an Error with a function field and a circular field', () => {
    it('CR3: keeps the name and message, and the thread survives', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const error = await rejectionOf(runner.run('throwCustom', 'custom trouble'));
      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.cause).toBeInstanceOf(Error);
      expect(error.cause.name).toBe('CustomError');
      expect(error.cause.message).toBe('custom trouble');
      expect(error.cause.stack).toContain('fixtures/tasks.js');
      // The function field cannot cross threads; it comes back described, not lost silently.
      expect(typeof error.cause.callback).toBe('string');
      expect(await runner.run('threadId')).toBe(before);
      await runner.close();
    });
  });

  describe('when a task calls process.exit()', () => {
    it.each([1, 3, 0])('CR4: rejects with WorkerCrashedError reason exit and exitCode %i, and the next job runs on a new thread', async (code) => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const job = await runner.submit('exit', [code]);
      // Waits on the table behind the crash, and runs on the replacement.
      const buffered = await runner.submit('threadId', []);
      expect(buffered.state).toBe('queued');
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.code).toBe('BAOZI_WORKER_CRASHED');
      expect(error.reason).toBe('exit');
      expect(error.exitCode).toBe(code);
      expect(error.jobId).toBe(job.id);
      expect(job.state).toBe('failed');
      expect(job.finishedAt! - job.startedAt!).toBeLessThan(1000);
      const after = await buffered.result;
      expect(after).not.toBe(before);
      expect(await runner.run('threadId')).toBe(after);
      expect(await runner.run('add', 1, 1)).toBe(2);
      await runner.close();
    });
  });

  describe('when a task throws from a timer', () => {
    it('CR5: rejects with WorkerCrashedError reason uncaught carrying the thrown error, and the pool goes on', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const error = await rejectionOf(runner.run('throwFromTimer'));
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.code).toBe('BAOZI_WORKER_CRASHED');
      expect(error.reason).toBe('uncaught');
      // Node rebuilds the thread's error outside Jest's sandbox, so `instanceof` cannot tell.
      expect(error.cause).toMatchObject({ name: 'Error', message: 'thrown from a timer' });
      expect(error.cause.stack).toContain('fixtures/tasks.js');
      expect(await runner.run('threadId')).not.toBe(before);
      await runner.close();
    });
  });

  describe('when a thread dies after its job resolved', () => {
    it('CR6: keeps the result resolved, reports the crash as a workerError event and in stats(), and the next job runs on a new thread', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const workerError = nextEvent<{ error: Error }>(runner, 'workerError');
      const job = await runner.submit('resolveThenThrow', [20]);
      expect(await job.result).toBe('done');
      const { error } = await workerError;
      expect(error).toMatchObject({ message: 'thrown after the result' });
      expect(job.state).toBe('succeeded');
      expect(await job.result).toBe('done');
      expect(runner.stats()).toMatchObject({ succeeded: 2, failed: 0, workerErrors: 1 });
      expect(await runner.run('threadId')).not.toBe(before);
      await runner.close();
    });

    it('CR6: fails the job its thread runs when it dies, with WorkerCrashedError, and the host does not crash without a workerError listener', async () => {
      const runner = runners.runner({ maxThreads: 1 });
      const first = await runner.submit('resolveThenThrow', [100]);
      // Runs on the same thread when the first job's timer throws there.
      const next = await runner.submit('sleep', [30_000]);
      expect(await first.result).toBe('done');
      const error = await rejectionOf(next.result);
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.reason).toBe('uncaught');
      expect(error.cause).toMatchObject({ message: 'thrown after the result' });
      expect(first.state).toBe('succeeded');
      expect(await runner.run('add', 1, 1)).toBe(2);
      expect(runner.stats()).toMatchObject({ succeeded: 2, failed: 1, workerErrors: 0 });
      await runner.close();
    });
  });

  describe('when several threads crash at once with jobs in flight and waiting', () => {
    it('CR8: fails each crashed job once, runs every waiting job on replacements, never has more threads than maxThreads, and counts back to 0', async () => {
      const runner = runners.runner({ minThreads: 2, maxThreads: 2 });
      await Promise.all([runner.run('sleep', 1), runner.run('sleep', 1)]);
      let mostThreads = 0;
      runner.on('running', () => (mostThreads = Math.max(mostThreads, runner.stats().threads)));
      // One thread exits ('exit' only), the other throws (an 'error', then an 'exit').
      const exiting = await runner.submit('exit', [1]);
      const throwing = await runner.submit('throwFromTimer', []);
      const waiting = await Promise.all(Array.from({ length: 6 }, () => runner.submit('threadId', [])));
      expect(runner.stats()).toMatchObject({ running: 2, queued: 6 });

      const [exitError, throwError] = await Promise.all([rejectionOf(exiting.result), rejectionOf(throwing.result)]);
      expect(exitError).toBeInstanceOf(WorkerCrashedError);
      expect(exitError.reason).toBe('exit');
      expect(throwError).toBeInstanceOf(WorkerCrashedError);
      expect(throwError.reason).toBe('uncaught');
      const threads = await Promise.all(waiting.map((job) => job.result));
      expect(new Set(threads).size).toBeLessThanOrEqual(2);
      expect(mostThreads).toBeLessThanOrEqual(2);
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ running: 0, queued: 0, failed: 2, succeeded: 8 });
      expect(runner.stats().threads).toBeLessThanOrEqual(2);
      await runner.close();
    });
  });

  describe('when a task runs out of memory under resourceLimits', () => {
    it('CR7: rejects with WorkerCrashedError reason oom, and the next job succeeds', async () => {
      const runner = runners.runner({ maxThreads: 1, resourceLimits: { maxOldGenerationSizeMb: 32 } });
      const error = await rejectionOf(runner.run('allocateForever'));
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error.code).toBe('BAOZI_WORKER_CRASHED');
      expect(error.reason).toBe('oom');
      expect(error.cause.code).toBe('ERR_WORKER_OUT_OF_MEMORY');
      expect(await runner.run('add', 2, 2)).toBe(4);
      await runner.close();
    });
  });

  describe('when a task returns what cannot be copied', () => {
    it.each([
      ['a function deep inside', 'returnFunction', 'result.nested.callback'],
      ['a symbol', 'returnSymbol', 'result'],
    ] as const)('BI3: rejects with SerializationError direction result naming where (%s), and the same thread serves the next job', async (_, task, path) => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const job = await runner.submit(task, []);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.code).toBe('BAOZI_SERIALIZATION');
      expect(error.direction).toBe('result');
      expect(error.path).toBe(path);
      expect(error.jobId).toBe(job.id);
      expect(error.task).toBe(task);
      expect(await runner.run('threadId')).toBe(before);
      await runner.close();
    });
  });

  describe('when arguments hold a function', () => {
    it('BI1: rejects submit() with SerializationError direction argument and a path, queues nothing, and stays usable', async () => {
      const runner = runners.runner();
      await runner.run('add', 0, 0); // warm: the check must not depend on a cold pool
      const records = recordJobEvents(runner);
      const error = await rejectionOf(runner.submit('echo', [{ id: 1, onDone: () => 1 }]));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.code).toBe('BAOZI_SERIALIZATION');
      expect(error.direction).toBe('argument');
      expect(error.path).toBe('args[0].onDone');
      // Named like every job error, though the job never reached the table.
      expect(error).toMatchObject({ task: 'echo', attempt: 1 });
      expect(typeof error.jobId).toBe('string');
      expect(runner.getJob(error.jobId!)).toBeUndefined();
      const given = await rejectionOf(runner.submit('echo', [() => 1], { jobId: 'order-7' }));
      expect(given).toMatchObject({ code: 'BAOZI_SERIALIZATION', jobId: 'order-7', task: 'echo' });
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0, failed: 0 });
      expect(records).toEqual([]);

      const thrown = (() => {
        try {
          runner.trySubmit('echo', [[1, Symbol('s')]]);
        } catch (e) {
          return e as SerializationError;
        }
      })();
      expect(thrown).toBeInstanceOf(SerializationError);
      expect(thrown!.path).toBe('args[0][1]');
      expect(thrown!.task).toBe('echo');
      expect(records).toEqual([]);

      expect(await runner.run('add', 1, 2)).toBe(3);
      expect(runner.stats()).toMatchObject({ succeeded: 2, failed: 0, running: 0, queued: 0 });
      await runner.close();
    });
  });

  describe('when arguments hold what cannot be copied', () => {
    it.each([
      ['a function', () => [{ onDone: () => 1 }], 'args[0].onDone', false],
      ['a symbol', () => [1, Symbol('s')], 'args[1]', false],
      ['a WeakMap', () => [{ cache: new WeakMap() }], 'args[0].cache', false],
      ['a MessagePort outside the transferList', () => [new MessageChannel().port1], 'args[0]', false],
      ['a function, with a transferList', () => [{ bytes: new ArrayBuffer(8), onDone: () => 1 }], 'args[0].onDone', true],
      ['a MessagePort missing from a transferList', () => [{ bytes: new ArrayBuffer(8), port: new MessageChannel().port1 }], 'args[0].port', true],
    ] as const)('BI1: rejects %s with SerializationError before queueing, on a cold runner and on a warm one', async (_, makeArgs, path, withTransferList) => {
      const runner = runners.runner({ maxThreads: 1 });
      const records = recordJobEvents(runner);
      for (const phase of ['cold', 'warm']) {
        const args = makeArgs() as unknown[];
        const transferList = withTransferList ? [(args[0] as { bytes: ArrayBuffer }).bytes] : undefined;
        const error = await rejectionOf(runner.submit('echo', args as [unknown], transferList && { transferList }));
        expect(error).toBeInstanceOf(SerializationError);
        expect(error.code).toBe('BAOZI_SERIALIZATION');
        expect(error.direction).toBe('argument');
        expect(error.path).toBe(path);
        expect(error).toMatchObject({ task: 'echo', attempt: 1 });
        expect(typeof error.jobId).toBe('string');
        expect(runner.stats()).toMatchObject({ queued: 0, running: 0, failed: 0 });
        for (const arg of args) if (arg instanceof MessagePort) arg.close();
        const port = (args[0] as { port?: unknown }).port;
        if (port instanceof MessagePort) port.close();
        if (transferList) expect(transferList[0]!.byteLength).toBe(8);
        if (phase === 'cold') expect(await runner.run('add', 1, 2)).toBe(3);
      }
      expect(idsOf(records, 'queued')).toHaveLength(1);
      expect(runner.stats()).toMatchObject({ succeeded: 1, failed: 0, running: 0 });
      await runner.close();
    });
  });

  describe('when arguments hold a class instance', () => {
    it('BI2: copies it as structured clone does: own data fields only, without its prototype, getters or private fields', async () => {
      class Point {
        #secret = 'private';
        constructor(
          readonly x: number,
          readonly y: number,
        ) {}
        get length(): number {
          return Math.hypot(this.x, this.y);
        }
        secret(): string {
          return this.#secret;
        }
      }
      const runner = runners.runner({ maxThreads: 1 });
      const point = new Point(3, 4);
      const copy = (await runner.run('echo', point)) as unknown as Record<string, unknown>;
      expect(copy).toEqual({ x: 3, y: 4 });
      expect(Object.getPrototypeOf(copy)).not.toBe(Point.prototype);
      expect(copy.length).toBeUndefined();
      expect(point.secret()).toBe('private');
      await runner.close();
    });
  });

  describe('when the task name is unknown', () => {
    it.each(['nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'notATask', ' '])(
      'BI4: BI5: rejects %j with UnknownTaskError listing the tasks, and pollutes nothing',
      async (name) => {
        const runner = runners.runner();
        const job = await runner.submit(name as 'add', [] as never);
        const error = await rejectionOf(job.result);
        expect(error).toBeInstanceOf(UnknownTaskError);
        expect(error.code).toBe('BAOZI_UNKNOWN_TASK');
        expect(error.taskName).toBe(name);
        expect(error.jobId).toBe(job.id);
        expect(error.available).toContain('add');
        expect(error.available).not.toContain('notATask');
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.getPrototypeOf({})).toBe(Object.prototype);
        expect(await runner.run('add', 1, 1)).toBe(2);
        await runner.close();
      },
    );

    it.each([
      ['an empty string', ''],
      ['a number', 7],
      ['undefined', undefined],
      ['an object', { toString: () => 'add' }],
    ])('BI5: rejects a name that is %s with InvalidOptionError before queueing', async (_, name) => {
      const runner = runners.runner();
      const records = recordJobEvents(runner);
      const error = await rejectionOf(runner.submit(name as 'add', [1, 2]));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
      expect(records).toEqual([]);
      expect(runner.stats().queued).toBe(0);
      await runner.close();
    });
  });

  describe('when a job option is bad', () => {
    it.each([
      ['retries.max', { retries: { max: NaN } }],
      ['timeout', { timeout: -1 }],
      ['signal', { signal: { aborted: false } }],
      ['transferList', { transferList: new ArrayBuffer(8) }],
      ['priority', { priority: 1001 }],
      ['priority', { priority: 1.5 }],
      ['retry', { retry: 3 }],
    ])('BI8: rejects submit() (never throws) and makes trySubmit() throw InvalidOptionError naming %s, queueing nothing', async (option, options) => {
      const runner = runners.runner();
      const records = recordJobEvents(runner);
      let submitted: Promise<unknown> | undefined;
      expect(() => (submitted = runner.submit('add', [1, 1], options as never))).not.toThrow();
      const rejected = await rejectionOf(submitted!);
      const thrown = thrownBy(() => runner.trySubmit('add', [1, 1], options as never));
      for (const error of [rejected, thrown]) {
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error.code).toBe('BAOZI_INVALID_OPTION');
        expect(error.option).toBe(option);
      }
      expect(records).toEqual([]);
      expect(runner.stats()).toMatchObject({ queued: 0, running: 0, scheduled: 0 });
      await runner.close();
    });
  });

  describe('when the task module throws while it loads', () => {
    it('BI9: rejects job after job with TaskLoadError, quickly and without hanging', async () => {
      const runner = runners.track(createRunner<typeof import('../fixtures/broken-tasks.js')>({ tasks: BROKEN, minThreads: 1, maxThreads: 2 }));
      const started = Date.now();
      for (let i = 0; i < 4; i++) {
        const job = await runner.submit('never', []);
        const error = await rejectionOf(job.result);
        expect(error).toBeInstanceOf(TaskLoadError);
        expect(error.code).toBe('BAOZI_TASK_LOAD');
        expect(error.jobId).toBe(job.id);
        expect(error.module).toContain('broken-tasks.js');
        expect(error.cause).toBeInstanceOf(Error);
        expect(error.cause.message).toBe('broken at load time');
      }
      const all = await Promise.allSettled(Array.from({ length: 4 }, () => runner.run('never')));
      for (const outcome of all) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(TaskLoadError);
      }
      expect(Date.now() - started).toBeLessThan(5000);
      await runner.close();
    });

    it('BI9: rejects with TaskLoadError whose cause is the SyntaxError when the module does not parse', async () => {
      const directory = await mkdtemp(join(tmpdir(), 'baozi-'));
      const file = join(directory, 'syntax-error.mjs');
      await writeFile(file, 'export function ping() { return "pong" ;\n');
      try {
        const runner = runners.track(createRunner<{ ping(): string }>({ tasks: file, minThreads: 1, maxThreads: 1 }));
        for (let i = 0; i < 2; i++) {
          const job = await runner.submit('ping', []);
          const error = await rejectionOf(job.result);
          expect(error).toBeInstanceOf(TaskLoadError);
          expect(error.code).toBe('BAOZI_TASK_LOAD');
          expect(error.module).toContain('syntax-error.mjs');
          expect(error.cause.name).toBe('SyntaxError');
        }
        await runner.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });

    it('BI9: recovers when the failure was transient: the next job loads the module', async () => {
      const runner = runners.track(createRunner<typeof import('../fixtures/flaky-tasks.js')>({ tasks: FLAKY, minThreads: 1, maxThreads: 1 }));
      const first = await rejectionOf(runner.run('ping'));
      expect(first).toBeInstanceOf(TaskLoadError);
      expect(first.code).toBe('BAOZI_TASK_LOAD');
      expect(first.cause.message).toBe('transient load failure');
      expect(await runner.run('ping')).toBe('pong');
      expect(await runner.run('ping')).toBe('pong');
      await runner.close();
    });
  });

  describe('when some jobs fail while others run', () => {
    it('CR1: settles each job with its own outcome', async () => {
      const runner = runners.runner();
      const plan = [
        'good', 'throw', 'good', 'reject', 'good', 'exit', 'good', 'unknown', 'good', 'result',
      ] as const;
      const submitted = await Promise.all(
        plan.map((kind, i) => {
          switch (kind) {
            case 'good':
              return runner.submit('sleep', [10 + i]);
            case 'throw':
              return runner.submit('throwError', [`bad ${i}`]);
            case 'reject':
              return runner.submit('rejectAsync', [`bad ${i}`]);
            case 'exit':
              return runner.submit('exit', [2]);
            case 'unknown':
              return runner.submit('missing' as 'add', [] as never);
            case 'result':
              return runner.submit('returnFunction', []);
          }
        }),
      );
      const outcomes = await Promise.allSettled(submitted.map((job) => job.result));
      const expected = {
        good: undefined,
        throw: TaskError,
        reject: TaskError,
        exit: WorkerCrashedError,
        unknown: UnknownTaskError,
        result: SerializationError,
      } as const;
      plan.forEach((kind, i) => {
        const outcome = outcomes[i]!;
        if (kind === 'good') {
          expect(outcome).toEqual({ status: 'fulfilled', value: 10 + i });
          expect(submitted[i]!.state).toBe('succeeded');
        } else {
          expect(outcome.status).toBe('rejected');
          expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(expected[kind]);
          expect((outcome as PromiseRejectedResult).reason.jobId).toBe(submitted[i]!.id);
          expect(submitted[i]!.state).toBe('failed');
        }
      });
      expect(runner.stats()).toMatchObject({ succeeded: 5, failed: 5, running: 0, queued: 0 });
      await runner.close();
    });
  });

  describe('when what a task throws or returns misbehaves as it is read (issue 16 C)', () => {
    it.each([
      ['an Error whose message getter throws', 'throwWithThrowingMessage'],
      ['a Proxy whose traps throw', 'throwHostileProxy'],
    ] as const)('fails a job whose task throws %s with TaskError, on the same thread', async (_, task) => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const threads = runner.stats().threads;
      const job = await runner.submit(task, []);
      const error = await rejectionOf(job.result);
      expect(error).toBeInstanceOf(TaskError);
      expect(error.code).toBe('BAOZI_TASK_FAILED');
      expect(error.jobId).toBe(job.id);
      expect(await runner.run('threadId')).toBe(before);
      expect(runner.stats()).toMatchObject({ threads, workerErrors: 0 });
      await runner.close();
    });

    it.each([
      ['an object with a getter that throws', 'returnThrowingGetter'],
      ['a Proxy', 'returnProxy'],
      ['a Proxy whose traps throw', 'returnHostileProxy'],
    ] as const)('fails a job whose task returns %s with SerializationError direction result, alone and in a batch, on the same thread', async (_, task) => {
      const runner = runners.runner({ maxThreads: 1 });
      const before = await runner.run('threadId');
      const threads = runner.stats().threads;
      const error = await rejectionOf(runner.run(task));
      expect(error).toBeInstanceOf(SerializationError);
      expect(error.code).toBe('BAOZI_SERIALIZATION');
      expect(error.direction).toBe('result');
      // Several at once travel as a batch once the task is measured quick.
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => runner.run(task)));
      expect(outcomes.map((outcome) => outcome.status === 'rejected' && outcome.reason instanceof SerializationError)).toEqual(outcomes.map(() => true));
      expect(await runner.run('threadId')).toBe(before);
      expect(runner.stats()).toMatchObject({ threads, workerErrors: 0 });
      await runner.close();
    });
  });
});
