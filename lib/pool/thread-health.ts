import { RunnerClosedError, TaskLoadError } from '../errors.js';

// Threads dying before they load the task module, in a row, after which
// jobs fail at once instead of each killing a fresh thread.
const FAIL_FAST_AFTER = 3;
// New threads wait this long before loading, doubling per such death.
const FIRST_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 10_000;

/** What `runner.health()` reports. */
export interface RunnerHealth {
  /** The task module loads and threads are not dying as they start; false once closed. */
  ok: boolean;
  /** How the latest import of the task module in a thread went. */
  taskModule: 'loading' | 'loaded' | 'failed';
  /** Threads that died in a row before loading the task module (0 once one loads). */
  startFailures: number;
  /** Until when jobs fail at once with `BAOZI_TASK_LOAD`, after repeated start failures. */
  failingFastUntil: Date | undefined;
  /** Why the task module did not load, when it did not. */
  lastError: TaskLoadError | undefined;
  /** Live worker threads. */
  threads: number;
  /** Threads replaced by `maxJobsPerWorker` or `maxHeapPerWorkerMb` so far. */
  recycledThreads: number;
}

/**
 * Whether threads can load the task module, from what they report (loaded,
 * load failed) and from threads that die before loading it. Drives the
 * respawn backoff, failing jobs fast while threads keep dying as they start,
 * `runner.ready()` and `runner.health()`.
 */
export class ThreadHealth {
  #taskModule: RunnerHealth['taskModule'] = 'loading';
  #lastError: TaskLoadError | undefined;
  #startFailures = 0;
  #failFastUntil = 0;
  #isClosed = false;
  #keepAlive: NodeJS.Timeout | undefined;
  #waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(
    private readonly tasksUrl: string,
    /** Threads start with the pool (`minThreads` above 0): one will load the module or die trying. */
    private readonly hasThreadsStarting: boolean,
    /** Called with how long threads started from now on should wait before loading the module. */
    private readonly setBackoff: (delayMs: number) => void,
  ) {}

  /** A thread imported the task module. */
  loaded(): void {
    const wasFailing = this.#startFailures > 0;
    this.#taskModule = 'loaded';
    this.#lastError = undefined;
    this.#startFailures = 0;
    this.#failFastUntil = 0;
    if (wasFailing) this.setBackoff(0);
    this.#settleWaiters(undefined);
  }

  /** A thread's import of the task module threw (the thread lives on). */
  loadFailed(error: TaskLoadError): void {
    this.#taskModule = 'failed';
    this.#lastError = error;
    this.#settleWaiters(error);
  }

  /** A thread died before it loaded the task module. Returns the error that describes it. */
  diedStarting(): TaskLoadError {
    this.#startFailures++;
    const cause = new Error(`a worker thread exited while loading it (${this.#startFailures} in a row)`);
    const error = new TaskLoadError(this.tasksUrl, { cause });
    this.#taskModule = 'failed';
    this.#lastError = error;
    const backoff = Math.min(FIRST_BACKOFF_MS * 2 ** (this.#startFailures - 1), MAX_BACKOFF_MS);
    this.setBackoff(backoff);
    if (this.#startFailures >= FAIL_FAST_AFTER) {
      this.#failFastUntil = Date.now() + backoff;
      this.#settleWaiters(error);
    }
    return error;
  }

  /** The error a job fails with at once, without dispatch, while threads keep dying as they start. */
  failFastError(): TaskLoadError | undefined {
    return this.#isFailingFast() ? this.#lastError : undefined;
  }

  /** Resolves once a thread loaded the task module; rejects with `TaskLoadError` if loading fails first. */
  ready(): Promise<void> {
    if (this.#isClosed) return Promise.reject(new RunnerClosedError());
    if (this.#taskModule === 'loaded') return Promise.resolve();
    if (this.#taskModule === 'failed' && (this.#startFailures === 0 || this.#startFailures >= FAIL_FAST_AFTER)) return Promise.reject(this.#lastError);
    // Idle threads do not keep the process alive; a caller awaiting this
    // must get an answer. Without threads to start (minThreads: 0) none is
    // coming until a job arrives, so the wait must not hold the process.
    if (this.hasThreadsStarting) this.#keepAlive ??= setInterval(() => {}, 2 ** 30);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  close(): void {
    this.#isClosed = true;
    this.#settleWaiters(new RunnerClosedError());
  }

  snapshot(threads: number, recycledThreads: number): RunnerHealth {
    // A start failure marks the module failed too, until a thread loads it.
    return {
      ok: !this.#isClosed && this.#taskModule !== 'failed',
      taskModule: this.#taskModule,
      startFailures: this.#startFailures,
      failingFastUntil: this.#isFailingFast() ? new Date(this.#failFastUntil) : undefined,
      lastError: this.#lastError,
      threads,
      recycledThreads,
    };
  }

  // Asked before every dispatch: the clock is read only while failing.
  #isFailingFast(): boolean {
    return this.#failFastUntil !== 0 && this.#failFastUntil > Date.now();
  }

  #settleWaiters(error: unknown): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  }
}
