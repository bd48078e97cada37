import type { MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { JobMessage, JobReply, TasksArgvFlag } from '../workers/protocol.js';
import type { CrashReason } from './errors.js';
import type { ResolvedRunnerOptions } from './validate.js';

const ENTRY = new URL('../workers/entry.js', import.meta.url).href;
const TASKS_ARGV_FLAG: TasksArgvFlag = '--baozi-tasks';

/**
 * The only file that talks to Piscina. It runs one message on a thread
 * and reports threads and utilization; it knows nothing of tables or jobs.
 */
export class Pool {
  private readonly piscina: Piscina;

  constructor(options: ResolvedRunnerOptions, onWorkerError: (error: unknown) => void) {
    this.piscina = new Piscina({
      filename: ENTRY,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: options.idleTimeout,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker,
      // 'sync' freezes a task's leftover timers until the next task arrives.
      atomics: 'async',
      argv: [TASKS_ARGV_FLAG, options.tasksUrl],
      ...(options.resourceLimits && { resourceLimits: options.resourceLimits }),
      ...(options.env && { env: options.env }),
      ...(options.workerData !== undefined && { workerData: options.workerData }),
    });
    // Piscina emits 'error' for thread failures outside a task; unheard, that
    // would crash the host process.
    this.piscina.on('error', onWorkerError);
  }

  /** Runs one job message. `signal` aborting terminates the job's thread. */
  run(message: JobMessage, signal: AbortSignal, transferList: readonly (ArrayBuffer | MessagePort)[] | undefined): Promise<JobReply> {
    return this.piscina.run(message, { signal, transferList: transferList as never }) as Promise<JobReply>;
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  /** Share of thread time spent running jobs since the pool started, 0 to 1. */
  get utilization(): number {
    return this.piscina.utilization;
  }

  async destroy(): Promise<void> {
    await this.piscina.destroy();
  }
}

/** What a rejection from Piscina that is not a job failure says about the thread. */
export function classifyCrash(error: unknown): { reason: CrashReason; exitCode: number | undefined } {
  if ((error as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return { reason: 'oom', exitCode: undefined };
  const exit = error instanceof Error ? /worker exited with code: (-?\d+)/.exec(error.message) : null;
  if (exit) return { reason: 'exit', exitCode: Number(exit[1]) };
  return { reason: 'uncaught', exitCode: undefined };
}
