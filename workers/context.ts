import { AsyncLocalStorage } from 'node:async_hooks';
import type { MessagePort } from 'node:worker_threads';
import type { JobControl } from './protocol.js';

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
   * with a `signal`): clean up and return or throw. A task that ignores it
   * is stopped anyway when its thread is terminated.
   */
  readonly signal: AbortSignal;
}

const storage = new AsyncLocalStorage<JobContext>();

/**
 * The context of the job the calling task runs for. Call it inside a task
 * (also after an `await`); outside one it throws.
 */
export function jobContext(): JobContext {
  const context = storage.getStore();
  if (!context) throw new Error('jobContext() was called outside a running baozi task. Call it from inside a task function.');
  return context;
}

/** The context of one run; `dispose()` releases its control port. */
export class RunningJob implements JobContext {
  private controller: AbortController | undefined;

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
    return storage.run(this, fn);
  }

  dispose(): void {
    this.control?.close();
  }

  private abortController(): AbortController {
    this.controller ??= new AbortController();
    return this.controller;
  }
}
