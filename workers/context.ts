import { AsyncLocalStorage } from 'node:async_hooks';
import type { MessagePort } from 'node:worker_threads';
import type { JobControl, JobReport } from './protocol.js';
import { OutsideTaskError } from './api-errors.js';
import { isSingleJob } from './settings.js';

/** What a running task may know about its job. Ask for it with `jobContext()`. */
export interface JobContext {
  /** The job's id, the same as `JobHandle.id` on the main thread. */
  readonly jobId: string;
  /** The task name the job runs. */
  readonly task: string;
  /** 1 for the first run; counts up when the job is retried. */
  readonly attempt: number;
  /**
   * Aborted when the job is cancelled while it runs (when it was submitted
   * with a `signal`) or reaches its `softTimeout`: clean up, then return or
   * throw. A task that ignores it is stopped anyway when its thread is
   * terminated.
   */
  readonly signal: AbortSignal;
}

// A thread that runs one job at a time needs no AsyncLocalStorage (which
// costs every promise a hook): the running job is simply the current one.
const storage = isSingleJob ? undefined : new AsyncLocalStorage<RunningJob>();
let current: RunningJob | undefined;

function currentJob(): RunningJob | undefined {
  return storage ? storage.getStore() : current;
}

/**
 * The context of the job the calling task runs for. Call it inside a task
 * (also after an `await`); outside one it throws `OutsideTaskError`
 * (`BAOZI_OUTSIDE_TASK`).
 */
export function jobContext(): JobContext {
  const job = currentJob();
  if (!job) throw new OutsideTaskError('jobContext');
  return job;
}

/**
 * Reports progress of the running job: a number or a small JSON-like
 * value. The producer sees it as `JobHandle.progress`, through the job's
 * `onProgress` option and the runner's `progress` event. Free when nobody
 * listens: the value is then dropped in the thread. Throws a DataCloneError
 * for a value that cannot be cloned (when somebody listens).
 */
export function reportProgress(value: unknown): void {
  currentJob()?.report(value);
}

/** The context of one run; `dispose()` releases its control port. */
export class RunningJob implements JobContext {
  private controller: AbortController | undefined;
  /** Reports kept for the reply, for a job without a control port whose progress someone wants (a batched one). */
  reports: unknown[] | undefined;

  constructor(
    readonly jobId: string,
    readonly task: string,
    readonly attempt: number,
    private readonly control: MessagePort | undefined,
  ) {
    control?.on('message', (message: JobControl) => {
      if (message.type === 'abort') this.abortController().abort(new Error(message.reason));
    });
  }

  // Created on first use: most tasks never look at their signal.
  get signal(): AbortSignal {
    return this.abortController().signal;
  }

  run<T>(fn: () => T): T {
    if (storage) return storage.run(this, fn);
    current = this;
    return fn();
  }

  /** Throws (a DataCloneError) at the caller when the value cannot be cloned and somebody listens. */
  report(value: unknown): void {
    if (this.control) this.control.postMessage({ type: 'progress', value } satisfies JobReport);
    // Cloned now, so that a value that cannot travel throws here, at the
    // task, and not later in the reply, which would take its thread down.
    else this.reports?.push(structuredClone(value));
  }

  dispose(): void {
    if (current === this) current = undefined;
    this.control?.close();
  }

  private abortController(): AbortController {
    this.controller ??= new AbortController();
    return this.controller;
  }
}
