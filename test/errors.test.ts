import { describe, expect, it } from '@jest/globals';
import * as baozi from 'baozi';
import {
  BaoziError,
  CancelledError,
  describeValue,
  InvalidOptionError,
  OutsideTaskError,
  PayloadTooLargeError,
  RunnerClosedError,
  SerializationError,
  TableFullError,
  TaskError,
  TaskLoadError,
  UnknownTaskError,
  WorkerCrashedError,
  type JobInfo,
} from '../lib/errors.js';

const job: JobInfo = { jobId: 'a1b2-7', task: 'steam', attempt: 2 };
const cause = new Error('the root cause');

interface ErrorCase {
  name: string;
  code: string;
  Class: abstract new (...args: never[]) => BaoziError;
  make: () => BaoziError;
}

// The codes are the public contract: never reused or renamed.
const ERRORS: ErrorCase[] = [
  { name: 'InvalidOptionError', code: 'BAOZI_INVALID_OPTION', Class: InvalidOptionError, make: () => new InvalidOptionError('capacity', -1, 'an integer') },
  { name: 'TableFullError', code: 'BAOZI_TABLE_FULL', Class: TableFullError, make: () => new TableFullError(4) },
  { name: 'RunnerClosedError', code: 'BAOZI_RUNNER_CLOSED', Class: RunnerClosedError, make: () => new RunnerClosedError() },
  { name: 'CancelledError', code: 'BAOZI_CANCELLED', Class: CancelledError, make: () => new CancelledError('cancelled', { cause, job }) },
  {
    name: 'SerializationError',
    code: 'BAOZI_SERIALIZATION',
    Class: SerializationError,
    make: () => new SerializationError('argument', 'args[0].cb', 'could not be cloned', { cause, job }),
  },
  { name: 'UnknownTaskError', code: 'BAOZI_UNKNOWN_TASK', Class: UnknownTaskError, make: () => new UnknownTaskError('stem', ['steam'], { job }) },
  { name: 'TaskError', code: 'BAOZI_TASK_FAILED', Class: TaskError, make: () => new TaskError({ cause, job }) },
  { name: 'TaskLoadError', code: 'BAOZI_TASK_LOAD', Class: TaskLoadError, make: () => new TaskLoadError('file:///tasks.js', { cause, job }) },
  { name: 'WorkerCrashedError', code: 'BAOZI_WORKER_CRASHED', Class: WorkerCrashedError, make: () => new WorkerCrashedError('exit', 3, { cause, job }) },
  { name: 'PayloadTooLargeError', code: 'BAOZI_PAYLOAD_TOO_LARGE', Class: PayloadTooLargeError, make: () => new PayloadTooLargeError(2048, 1024, { job }) },
  { name: 'OutsideTaskError', code: 'BAOZI_OUTSIDE_TASK', Class: OutsideTaskError, make: () => new OutsideTaskError('jobContext') },
];

const WITH_JOB = ERRORS.filter((entry) => !['InvalidOptionError', 'TableFullError', 'RunnerClosedError', 'OutsideTaskError'].includes(entry.name));
const WITH_CAUSE = WITH_JOB.filter((entry) => !['UnknownTaskError', 'PayloadTooLargeError'].includes(entry.name));

describe('errors', () => {
  describe.each(ERRORS)('$name', ({ name, code, Class, make }) => {
    it('extends BaoziError and Error', () => {
      const error = make();
      expect(error).toBeInstanceOf(Class);
      expect(error).toBeInstanceOf(BaoziError);
      expect(error).toBeInstanceOf(Error);
    });

    it(`has the name ${name} and the code ${code}`, () => {
      const error = make();
      expect(error.name).toBe(name);
      expect(error.code).toBe(code);
      expect(error.message.length).toBeGreaterThan(0);
      expect(error.stack).toContain(name);
    });

    it('is exported from baozi as the same class', () => {
      expect((baozi as Record<string, unknown>)[name]).toBe(Class);
    });
  });

  it('uses a different code for every class', () => {
    const codes = ERRORS.map(({ make }) => make().code);
    expect(new Set(codes).size).toBe(ERRORS.length);
  });

  it('exports BaoziError from baozi so callers can match any of them', () => {
    expect(baozi.BaoziError).toBe(BaoziError);
  });

  describe.each(WITH_CAUSE)('$name with a cause', ({ make }) => {
    it('keeps the cause as given', () => {
      expect(make().cause).toBe(cause);
    });
  });

  describe.each(WITH_JOB)('$name for a job', ({ make }) => {
    it('carries the job id, task and attempt', () => {
      expect(make()).toMatchObject({ jobId: 'a1b2-7', task: 'steam', attempt: 2 });
    });
  });

  it('has no cause and no job when given neither', () => {
    const error = new CancelledError('cancelled');
    expect('cause' in error).toBe(false);
    expect(error.jobId).toBeUndefined();
    expect(error.task).toBeUndefined();
    expect(error.attempt).toBeUndefined();
  });

  it('keeps a cause that is not an error, such as an abort reason string', () => {
    expect(new CancelledError('cancelled', { cause: 'shutdown' }).cause).toBe('shutdown');
  });

  describe('fields', () => {
    it('InvalidOptionError tells which option, what arrived and what was expected', () => {
      const error = new InvalidOptionError('maxThreads', 0, 'an integer 1 or more');
      expect(error).toMatchObject({ option: 'maxThreads', value: 0, expected: 'an integer 1 or more' });
    });

    it('TableFullError tells the capacity', () => {
      expect(new TableFullError(16).capacity).toBe(16);
    });

    it('SerializationError tells the direction and the path', () => {
      expect(new SerializationError('result', 'result.nested.cb', 'could not be cloned')).toMatchObject({ direction: 'result', path: 'result.nested.cb' });
      expect(new SerializationError('argument', undefined, 'could not be cloned').path).toBeUndefined();
    });

    it('SerializationError ends a detail that ends with a period once, not twice', () => {
      // V8's DataCloneError message ends with a period.
      expect(new SerializationError('argument', 'args[0]', '#<Object> could not be cloned.', { job }).message).not.toContain('..');
    });

    it('PayloadTooLargeError tells the size and the limit', () => {
      expect(new PayloadTooLargeError(2048, 1024)).toMatchObject({ size: 2048, limit: 1024, jobId: undefined });
    });

    it('OutsideTaskError tells which call it was', () => {
      expect(new OutsideTaskError('jobContext').call).toBe('jobContext');
    });

    it('UnknownTaskError tells the name asked for and the tasks there are', () => {
      expect(new UnknownTaskError('stem', ['steam', 'fold'])).toMatchObject({ taskName: 'stem', available: ['steam', 'fold'] });
    });

    it('TaskLoadError tells the module', () => {
      expect(new TaskLoadError('file:///tasks.js', { cause }).module).toBe('file:///tasks.js');
    });

    it('WorkerCrashedError tells the reason and the exit code', () => {
      expect(new WorkerCrashedError('exit', 3, {})).toMatchObject({ reason: 'exit', exitCode: 3 });
      expect(new WorkerCrashedError('oom', undefined, {})).toMatchObject({ reason: 'oom', exitCode: undefined });
    });
  });
});

describe('describeValue()', () => {
  it('quotes strings', () => {
    expect(describeValue('bun')).toBe('"bun"');
    expect(describeValue('')).toBe('""');
  });

  it('shortens long strings to 80 characters', () => {
    const described = describeValue('x'.repeat(200));
    expect(described).toBe(JSON.stringify(`${'x'.repeat(77)}...`));
  });

  it('renders numbers, booleans, bigints, null and undefined as they read', () => {
    expect([NaN, -1.5, true, 10n, null, undefined].map(describeValue)).toEqual(['NaN', '-1.5', 'true', '10', 'null', 'undefined']);
  });

  it('names functions, and says so when they have no name', () => {
    function steam(): void {}
    expect(describeValue(steam)).toBe('a function (steam)');
    expect(describeValue(class Steamer {})).toBe('a function (Steamer)');
    expect(describeValue(Object.defineProperty(() => {}, 'name', { value: '' }))).toBe('a function');
  });

  it('renders symbols with their description', () => {
    expect(describeValue(Symbol('plate'))).toBe('a symbol (plate)');
    expect(describeValue(Symbol())).toBe('a symbol ()');
  });

  it('renders arrays by length', () => {
    expect(describeValue([1, 2, 3])).toBe('an array of 3');
    expect(describeValue([])).toBe('an array of 0');
  });

  it('renders class instances by class name', () => {
    class Plate {}
    expect(describeValue(new Plate())).toBe('a Plate');
    expect(describeValue(new Map())).toBe('a Map');
  });

  it('renders plain and null-prototype objects as an object', () => {
    expect(describeValue({ capacity: 4 })).toBe('an object');
    expect(describeValue(Object.create(null))).toBe('an object');
  });
});
