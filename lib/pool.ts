import type { MessagePort, Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { JobReply, PoolMessage, SingleJobArgvFlag, TasksArgvFlag } from '../workers/protocol.js';
import type { CrashReason } from './errors.js';
import type { ResolvedRunnerOptions } from './validate.js';

const ENTRY = new URL('../workers/entry.js', import.meta.url).href;
const TASKS_ARGV_FLAG: TasksArgvFlag = '--baozi-tasks';
const SINGLE_JOB_ARGV_FLAG: SingleJobArgvFlag = '--baozi-single-job';

/** What Piscina accepts as a task's abort signal, short of an AbortSignal. */
export interface StopSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  once(event: 'abort', listener: () => void): void;
  removeListener(event: 'abort', listener: () => void): void;
}

/**
 * The only file that talks to Piscina. It runs one message on a thread
 * and reports its threads; it knows nothing of tables or jobs.
 */
export class Pool {
  private readonly piscina: Piscina;
  /** Every thread seen and not yet exited, with a promise of its exit. */
  private readonly exits = new Map<Worker, Promise<void>>();

  constructor(options: ResolvedRunnerOptions, onWorkerError: (error: unknown) => void) {
    this.piscina = new Piscina({
      filename: ENTRY,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: options.idleTimeout,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker,
      // 'sync' freezes a task's leftover timers until the next task arrives.
      atomics: 'async',
      argv: [TASKS_ARGV_FLAG, options.tasksUrl, ...(options.concurrentTasksPerWorker === 1 ? [SINGLE_JOB_ARGV_FLAG] : [])],
      ...(options.resourceLimits && { resourceLimits: options.resourceLimits }),
      ...(options.env && { env: options.env }),
      ...(options.workerData !== undefined && { workerData: options.workerData }),
    });
    // Piscina emits 'error' for thread failures outside a task; unheard, that
    // would crash the host process.
    this.piscina.on('error', onWorkerError);
    this.piscina.on('workerCreate', () => this.noteThreads());
    this.noteThreads();
  }

  /**
   * Runs one job message. `stop` aborting terminates the job's thread;
   * without it the job cannot be stopped, but may share a thread when
   * `concurrentTasksPerWorker` is above 1.
   */
  run(message: PoolMessage, stop: StopSignal | undefined, transferList: readonly (ArrayBuffer | MessagePort)[] | undefined): Promise<JobReply> {
    const reply = this.piscina.run(message, { signal: stop as never, transferList: transferList as never }) as Promise<JobReply>;
    this.noteThreads();
    return reply;
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  /** Resolves once every thread the pool ever started has exited. */
  async destroy(): Promise<void> {
    // Piscina forgets a thread as soon as it starts terminating it (its
    // job's signal aborted, or it crashed), and its destroy() waits only for
    // the threads it still knows. Worse, when such a thread exits after
    // destroy() returned, Piscina starts a replacement (back up to
    // minThreads) that nobody would stop. So wait for every thread ever
    // seen (those already dropped first, so that few replacements start),
    // and destroy again while any is left.
    do {
      const current = new Set(this.piscina.threads);
      await Promise.all([...this.exits].filter(([thread]) => !current.has(thread)).map(([, exit]) => exit));
      await this.piscina.destroy();
      await Promise.all(this.exits.values());
    } while (this.piscina.threads.length > 0);
  }

  // Called whenever Piscina may have started a thread: every thread that
  // runs a job is in `threads` when its job is posted or when it is ready.
  private noteThreads(): void {
    for (const thread of this.piscina.threads) {
      if (this.exits.has(thread) || thread.threadId === -1) continue;
      this.exits.set(
        thread,
        new Promise<void>((resolve) => thread.once('exit', () => resolve())).then(() => void this.exits.delete(thread)),
      );
    }
  }
}

/** What a rejection from Piscina that is not a job failure says about the thread. */
export function classifyCrash(error: unknown): { reason: CrashReason; exitCode: number | undefined } {
  if ((error as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return { reason: 'oom', exitCode: undefined };
  const exit = error instanceof Error ? /worker exited with code: (-?\d+)/.exec(error.message) : null;
  if (exit) return { reason: 'exit', exitCode: Number(exit[1]) };
  return { reason: 'uncaught', exitCode: undefined };
}
