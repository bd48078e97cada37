import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { createRunner, InvalidOptionError, type CloseOptions, type RunnerOptions, type SubmitOptions } from 'baozi';
import { DEFAULTS } from '../lib/options.js';
import { resolveCloseOptions, resolveRunnerOptions, resolveSubmitOptions } from '../lib/admission/validate.js';
import { thrownBy } from './helpers/e2e.js';

const TASKS = new URL('./fixtures/tasks.js', import.meta.url);

/** Options as a caller might pass them, typos and wrong types included. */
function runnerOptions(fields: Record<string, unknown>): RunnerOptions {
  return { tasks: TASKS, ...fields } as RunnerOptions;
}


function expectInvalidOption(fn: () => unknown, option: string): InvalidOptionError {
  const error = thrownBy(fn);
  expect(error).toBeInstanceOf(InvalidOptionError);
  expect((error as InvalidOptionError).code).toBe('BAOZI_INVALID_OPTION');
  expect((error as InvalidOptionError).option).toBe(option);
  return error as InvalidOptionError;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Live worker threads show up as their MessagePort among the process's resources. */
function threadResources(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'MessagePort' || name === 'Worker').length;
}

const BAD_NUMBERS: unknown[] = [NaN, Infinity, -Infinity, -1, 1.5, '4', null, 4n];
const RUNNER_NUMBERS = ['capacity', 'maxThreads', 'minThreads', 'idleTimeout', 'concurrentTasksPerWorker', 'cancelGraceMs', 'loadTimeout'];

describe('resolveRunnerOptions()', () => {
  describe('with numeric options', () => {
    it.each(RUNNER_NUMBERS.flatMap((option) => BAD_NUMBERS.map((value) => [option, value] as const)))(
      'BI7: rejects %s set to %p, naming it',
      (option, value) => {
        const error = expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ [option]: value })), option);
        expect(error.value).toBe(value);
      },
    );

    it.each(['capacity', 'maxThreads', 'concurrentTasksPerWorker', 'loadTimeout'])('rejects %s set to 0', (option) => {
      expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ [option]: 0 })), option);
    });

    it.each(['minThreads', 'idleTimeout', 'cancelGraceMs'])('accepts %s set to 0', (option) => {
      const resolved = resolveRunnerOptions(runnerOptions({ [option]: 0 }));
      expect(resolved[option as keyof typeof resolved]).toBe(0);
    });

    it('keeps the integers it is given', () => {
      const resolved = resolveRunnerOptions(
        runnerOptions({ capacity: 7, maxThreads: 3, minThreads: 2, idleTimeout: 50, concurrentTasksPerWorker: 4, cancelGraceMs: 25 }),
      );
      expect(resolved).toMatchObject({ capacity: 7, maxThreads: 3, minThreads: 2, idleTimeout: 50, concurrentTasksPerWorker: 4, cancelGraceMs: 25 });
    });
  });

  describe('with threads', () => {
    it('BI7: rejects minThreads above maxThreads, naming minThreads', () => {
      expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ minThreads: 3, maxThreads: 2 })), 'minThreads');
    });

    it('accepts minThreads equal to maxThreads', () => {
      expect(resolveRunnerOptions(runnerOptions({ minThreads: 2, maxThreads: 2 }))).toMatchObject({ minThreads: 2, maxThreads: 2 });
    });

    it('starts the whole pool by default: minThreads follows maxThreads', () => {
      expect(resolveRunnerOptions(runnerOptions({ maxThreads: 1 }))).toMatchObject({ minThreads: 1, maxThreads: 1 });
      expect(resolveRunnerOptions(runnerOptions({ maxThreads: 5 }))).toMatchObject({ minThreads: 5, maxThreads: 5 });
    });
  });

  describe('with a mode', () => {
    it.each([['batching', 'on'], ['batching', true], ['prefetch', 'on'], ['prefetch', 1], ['prefetch', null]] as const)(
      'rejects %s set to %p, naming it',
      (option, value) => {
        const error = expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ [option]: value })), option);
        expect(error.value).toBe(value);
      },
    );

    it.each(['batching', 'prefetch'] as const)('accepts %s set to off', (option) => {
      expect(resolveRunnerOptions(runnerOptions({ [option]: 'off' }))[option]).toBe('off');
    });
  });

  describe('with unknown keys', () => {
    it.each(['capacty', 'maxThread', 'signal', 'priority'])('rejects %s, naming the key', (key) => {
      const error = expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ [key]: 4 })), key);
      expect(error.value).toBe(4);
    });

    it('BI7: rejects an unknown key even when its value is undefined', () => {
      expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ capacty: undefined })), 'capacty');
    });
  });

  it.each([undefined, null, 'tasks.js', [TASKS]])('rejects %p as the options object', (value) => {
    expectInvalidOption(() => resolveRunnerOptions(value as never), 'options');
  });

  describe('with tasks', () => {
    it.each([
      ['missing', undefined],
      ['empty', ''],
      ['blank', '   '],
      ['a number', 42],
      ['an http: URL', new URL('http://example.com/tasks.js')],
      ['a data: URL', new URL('data:text/javascript,export const a = 1')],
    ])('rejects tasks that is %s', (_, tasks) => {
      expectInvalidOption(() => resolveRunnerOptions({ tasks } as RunnerOptions), 'tasks');
    });

    it('rejects tasks given as an http: URL string rather than treating it as a path', () => {
      expectInvalidOption(() => resolveRunnerOptions({ tasks: 'http://example.com/tasks.js' }), 'tasks');
    });

    it('rejects a malformed file: URL string with InvalidOptionError', () => {
      expectInvalidOption(() => resolveRunnerOptions({ tasks: 'file://[tasks' }), 'tasks');
    });

    it('turns a relative path into a file: URL from the working directory', () => {
      expect(resolveRunnerOptions({ tasks: 'dist/tasks.js' }).tasksUrl).toBe(pathToFileURL(resolve('dist/tasks.js')).href);
    });

    it('turns an absolute path into an escaped file: URL', () => {
      expect(resolveRunnerOptions({ tasks: '/srv/my tasks/jobs.js' }).tasksUrl).toBe('file:///srv/my%20tasks/jobs.js');
    });

    it('keeps a file: URL, given as a URL or as a string', () => {
      expect(resolveRunnerOptions({ tasks: TASKS }).tasksUrl).toBe(TASKS.href);
      expect(resolveRunnerOptions({ tasks: TASKS.href }).tasksUrl).toBe(TASKS.href);
    });
  });

  describe('with resourceLimits', () => {
    it('rejects an unknown key, naming it under resourceLimits', () => {
      expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ resourceLimits: { maxOldGenSizeMb: 64 } })), 'resourceLimits.maxOldGenSizeMb');
    });

    it.each([0, -1, NaN, Infinity, '64'])('rejects a limit of %p, naming it', (value) => {
      const error = expectInvalidOption(
        () => resolveRunnerOptions(runnerOptions({ resourceLimits: { maxOldGenerationSizeMb: value } })),
        'resourceLimits.maxOldGenerationSizeMb',
      );
      expect(error.value).toBe(value);
    });

    it.each([null, 64, [64]])('rejects %p as resourceLimits', (value) => {
      expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ resourceLimits: value })), 'resourceLimits');
    });

    it('keeps a copy of the limits it is given', () => {
      const resourceLimits = { maxOldGenerationSizeMb: 64, stackSizeMb: 0.5 };
      const resolved = resolveRunnerOptions(runnerOptions({ resourceLimits }));
      expect(resolved.resourceLimits).toEqual(resourceLimits);
      expect(resolved.resourceLimits).not.toBe(resourceLimits);
    });
  });

  describe('with env', () => {
    it.each([1, undefined, null, true, ['a']])('rejects a variable set to %p, naming it', (value) => {
      const error = expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ env: { PLATE: value } })), 'env.PLATE');
      expect(error.value).toBe(value);
    });

    it.each([null, 'PLATE=1', [['PLATE', '1']]])('rejects %p as env', (value) => {
      expectInvalidOption(() => resolveRunnerOptions(runnerOptions({ env: value })), 'env');
    });

    it('keeps a copy of the variables it is given', () => {
      const env = { PLATE: 'bun', EMPTY: '' };
      const resolved = resolveRunnerOptions(runnerOptions({ env }));
      expect(resolved.env).toEqual(env);
      expect(resolved.env).not.toBe(env);
    });
  });

  it('fills every default from DEFAULTS', () => {
    expect(resolveRunnerOptions({ tasks: TASKS })).toEqual({
      tasksUrl: TASKS.href,
      minThreads: DEFAULTS.maxThreads,
      maxThreads: DEFAULTS.maxThreads,
      idleTimeout: DEFAULTS.idleTimeout,
      capacity: DEFAULTS.capacity,
      concurrentTasksPerWorker: DEFAULTS.concurrentTasksPerWorker,
      resourceLimits: undefined,
      env: undefined,
      workerData: undefined,
      cancelGraceMs: DEFAULTS.cancelGraceMs,
      loadTimeout: DEFAULTS.loadTimeout,
      batching: 'auto',
      prefetch: 'auto',
      defaults: new Map(),
      rateLimits: new Map(),
      resultTtl: DEFAULTS.resultTtl,
      maxResults: DEFAULTS.maxResults,
      maxScheduled: DEFAULTS.maxScheduled,
      maxPayloadBytes: DEFAULTS.maxPayloadBytes,
      maxJobsPerWorker: Infinity,
      maxHeapPerWorkerMb: Infinity,
      broker: undefined,
      consume: true,
    });
  });

  it('has the documented defaults', () => {
    expect(DEFAULTS).toMatchObject({
      capacity: 1024, idleTimeout: 1000, concurrentTasksPerWorker: 1, cancelGraceMs: 1000, priority: 0, drain: 'all',
      resultTtl: 3_600_000, maxResults: 1000, maxScheduled: 10_000,
    });
    expect(DEFAULTS.maxThreads).toBeGreaterThanOrEqual(1);
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
  });

  it('keeps every default in one place, retries, schedules and workflows included', () => {
    expect(DEFAULTS.retries).toEqual({ max: 0, backoff: 'exponential', delay: 1000, maxDelay: 60_000, jitter: { fixed: 'none', exponential: 'full' } });
    expect(DEFAULTS.schedule).toEqual({ overlap: 'skip' });
    expect(DEFAULTS.workflows).toEqual({ settle: 'fail-fast', ordered: true, highWaterMark: 16, batchSize: 'auto' });
    for (const group of [DEFAULTS.retries, DEFAULTS.retries.jitter, DEFAULTS.schedule, DEFAULTS.workflows]) expect(Object.isFrozen(group)).toBe(true);
  });

  it('BI7: does not change the caller’s options object', () => {
    const options = {
      tasks: 'dist/test/fixtures/tasks.js',
      capacity: 8,
      maxThreads: 2,
      resourceLimits: { maxOldGenerationSizeMb: 64 },
      env: { PLATE: 'bun' },
      workerData: { recipe: ['flour', 'water'] },
    };
    const before = structuredClone(options);
    deepFreeze(options);
    const resolved = resolveRunnerOptions(options);
    expect(options).toEqual(before);
    expect(resolved.workerData).toEqual(before.workerData);
  });
});

describe('resolveSubmitOptions()', () => {
  it('fills the defaults when no options are given', () => {
    expect(resolveSubmitOptions(undefined)).toEqual({ signal: undefined, transferList: undefined, priority: DEFAULTS.priority });
    expect(resolveSubmitOptions({})).toEqual({ signal: undefined, transferList: undefined, priority: 0 });
  });

  it.each([NaN, Infinity, -1001, 1001, 1.5, '4', null])('rejects priority set to %p, naming it', (value) => {
    const error = expectInvalidOption(() => resolveSubmitOptions({ priority: value } as SubmitOptions), 'priority');
    expect(error.value).toBe(value);
  });

  it.each([-1000, -1, 0, 1000])('accepts priority %p', (priority) => {
    expect(resolveSubmitOptions({ priority }).priority).toBe(priority);
  });

  it('rejects an unknown key, naming it', () => {
    expectInvalidOption(() => resolveSubmitOptions({ priorty: 1 } as SubmitOptions), 'priorty');
  });

  it.each([null, 'high', [1]])('rejects %p as the options object', (value) => {
    expectInvalidOption(() => resolveSubmitOptions(value as SubmitOptions), 'submit options');
  });

  it('rejects a signal that is not an AbortSignal', () => {
    expectInvalidOption(() => resolveSubmitOptions({ signal: new AbortController() } as unknown as SubmitOptions), 'signal');
  });

  it('rejects a transferList that is not an array', () => {
    expectInvalidOption(() => resolveSubmitOptions({ transferList: new ArrayBuffer(8) } as unknown as SubmitOptions), 'transferList');
  });

  it('keeps the signal and a copy of the transferList without changing the caller’s object', () => {
    const controller = new AbortController();
    const buffer = new ArrayBuffer(8);
    const options = deepFreeze({ signal: controller.signal, transferList: [buffer], priority: 3 });
    const resolved = resolveSubmitOptions(options);
    expect(resolved.signal).toBe(controller.signal);
    expect(resolved.transferList).toEqual([buffer]);
    expect(resolved.transferList).not.toBe(options.transferList);
    expect(resolved.transferList![0]).toBe(buffer);
    expect(resolved.priority).toBe(3);
    expect(options.transferList).toEqual([buffer]);
  });
});

describe('resolveCloseOptions()', () => {
  it('drains every job by default', () => {
    expect(resolveCloseOptions(undefined)).toEqual({ drain: 'all', deadlineMs: undefined });
    expect(resolveCloseOptions({})).toEqual({ drain: 'all', deadlineMs: undefined });
  });

  it.each(['all', 'running', 'none'] as const)("keeps drain: '%s'", (mode) => {
    expect(resolveCloseOptions(deepFreeze({ drain: mode }))).toEqual({ drain: mode, deadlineMs: undefined });
    expect(resolveCloseOptions({ deadlineMs: 300 })).toEqual({ drain: 'all', deadlineMs: 300 });
  });

  it("reads the deprecated true and false as 'all' and 'none'", () => {
    expect(resolveCloseOptions({ drain: true })).toEqual({ drain: 'all', deadlineMs: undefined });
    expect(resolveCloseOptions({ drain: false })).toEqual({ drain: 'none', deadlineMs: undefined });
  });

  it("keeps drain: 'running'", () => {
    expect(resolveCloseOptions({ drain: 'running', deadlineMs: 50 })).toEqual({ drain: 'running', deadlineMs: 50 });
  });

  it.each([0, 1, 'false', 'All', 'drain', null])('rejects drain set to %p, naming it', (value) => {
    expectInvalidOption(() => resolveCloseOptions({ drain: value } as unknown as CloseOptions), 'drain');
  });

  it('rejects an unknown key, naming it', () => {
    expectInvalidOption(() => resolveCloseOptions({ drian: true } as CloseOptions), 'drian');
    for (const deadlineMs of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectInvalidOption(() => resolveCloseOptions({ deadlineMs }), 'deadlineMs');
    }
  });

  it.each([null, true, ['drain']])('rejects %p as the options object', (value) => {
    expectInvalidOption(() => resolveCloseOptions(value as CloseOptions), 'close options');
  });
});

describe('createRunner()', () => {
  /** Creates a runner that should not exist; closes it if it does, so no thread outlives the test. */
  async function createExpectingThrow(options: RunnerOptions): Promise<unknown> {
    let error: unknown;
    try {
      const runner = createRunner(options);
      await runner.close();
    } catch (thrown) {
      error = thrown;
    }
    return error;
  }

  it.each([
    ['capacity', { capacity: 0 }],
    ['maxThreads', { maxThreads: 1.5 }],
    ['minThreads', { minThreads: 5, maxThreads: 4 }],
    ['idleTimeout', { idleTimeout: -1 }],
    ['concurrentTasksPerWorker', { concurrentTasksPerWorker: NaN }],
    ['cancelGraceMs', { cancelGraceMs: Infinity }],
    ['capacty', { capacty: 4 }],
    ['env.PLATE', { env: { PLATE: 1 } }],
  ])('BI7: throws synchronously for a bad %s, naming it', (option, fields) => {
    expectInvalidOption(() => createRunner(runnerOptions(fields)), option);
  });

  it('throws for missing tasks', () => {
    expectInvalidOption(() => createRunner({} as RunnerOptions), 'tasks');
  });

  it('BI7: starts no thread when an option is bad', () => {
    const before = threadResources();
    expectInvalidOption(() => createRunner(runnerOptions({ maxThreads: 0 })), 'maxThreads');
    expect(threadResources()).toBe(before);
  });

  it('throws InvalidOptionError for workerData that cannot be cloned, naming workerData', async () => {
    const before = threadResources();
    const error = await createExpectingThrow(runnerOptions({ workerData: { onReady: () => {} } }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).option).toBe('workerData');
    expect(threadResources()).toBe(before);
  });

  it('starts threads for good options and stops them on close()', async () => {
    const before = threadResources();
    const runner = createRunner({ tasks: TASKS, minThreads: 1, maxThreads: 1 });
    try {
      expect(threadResources()).toBe(before + 1);
    } finally {
      await runner.close();
    }
    expect(threadResources()).toBe(before);
  });
});
