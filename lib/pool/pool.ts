import { randomBytes } from 'node:crypto';
import { setEnvironmentData, type MessagePort, type Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { piscinaSymbols } from '../../workers/piscina-symbols.js';
import type {
  JobReply,
  RunMessage,
  RetireReason,
  SettingsArgvFlag,
  SingleJobArgvFlag,
  TasksArgvFlag,
  ThreadNotice,
  ThreadSettings,
} from '../../workers/protocol.js';
import { TaskLoadError, type CrashReason } from '../errors.js';
import { rebuildError } from '../job/remote-error.js';
import { ThreadHealth } from './thread-health.js';
import type { ResolvedRunnerOptions } from '../admission/validate.js';

const ENTRY = new URL('../../workers/thread.cjs', import.meta.url).href;
const TASKS_ARGV_FLAG: TasksArgvFlag = '--baozi-tasks';
const SINGLE_JOB_ARGV_FLAG: SingleJobArgvFlag = '--baozi-single-job';
const SETTINGS_ARGV_FLAG: SettingsArgvFlag = '--baozi-settings';
// Piscina keeps its record of a thread under this symbol on the thread's
// public interface, which is all its 'workerDestroy' event gives.
const { kWorkerData } = piscinaSymbols;

/**
 * What Piscina shows a load balancer of each thread (its `PiscinaWorker`).
 * A new object at every call: only its `kWorkerData` record is the same.
 */
interface ThreadView {
  readonly id: number;
  readonly currentUsage: number;
  readonly isRunningAbortableTask: boolean;
}

/** What Piscina shows a load balancer of a task (and, under its queue-options symbol, the run's placement). */
interface PiscinaTask {
  readonly isAbortable: boolean;
}

function placementOf(task: PiscinaTask): Placement | undefined {
  return (task as unknown as Record<symbol, Placement | null | undefined>)[Piscina.queueOptionsSymbol] ?? undefined;
}

/** Piscina's record of a thread: the thread, and the reading of replies waiting in its port. */
interface ThreadRecord {
  readonly worker: Worker;
  processPendingMessages(): void;
}

function recordOf(view: ThreadView): ThreadRecord {
  return (view as unknown as Record<symbol, ThreadRecord>)[kWorkerData]!;
}

function threadOf(view: ThreadView): Worker {
  return recordOf(view).worker;
}

/**
 * Where a run goes, as the load balancer decides it. It rides on the
 * message under Piscina's queue-options symbol, which Piscina shows the
 * balancer and which does not travel to the thread.
 */
export interface Placement {
  /** A prefetch: may wait in a thread that runs something else without a stop signal. */
  readonly mayWait: boolean;
  /** The thread it went to, once placed. */
  thread: Worker | undefined;
}

/** What Piscina accepts as a task's abort signal, short of an AbortSignal. */
export interface StopSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  once(event: 'abort', listener: () => void): void;
  removeListener(event: 'abort', listener: () => void): void;
}

/**
 * The only file that talks to Piscina. It runs one message on a thread,
 * reports its threads and their health, and replaces threads that retire;
 * it knows nothing of tables or jobs.
 */
export class Pool {
  private readonly piscina: Piscina;
  /** Every thread seen and not yet exited, with a promise of its exit. */
  private readonly exits = new Map<Worker, Promise<void>>();
  /** Threads that reported the task module loaded: their death is not a start failure. */
  private readonly loadedThreads = new WeakSet<Worker>();
  /** Retiring threads by id: they get no new job and are terminated once idle. */
  private readonly retiring = new Map<number, { thread: Worker; isTerminating: boolean }>();
  /** Messages given to each thread (only with `maxJobsPerWorker`). */
  private readonly given = new Map<Worker, number>();
  /** Threads terminated by `terminateThreadOf`, until they exit: they get no new run. */
  private readonly terminating = new Set<Worker>();
  /** Every ready thread's view: how busy it is. */
  private readonly views = new Map<Worker, ThreadView>();
  private readonly settingsKey = `baozi:thread-settings:${randomBytes(6).toString('hex')}`;
  private readonly settings: ThreadSettings;
  readonly health: ThreadHealth;
  recycledThreads = 0;

  constructor(
    options: ResolvedRunnerOptions,
    private readonly events: {
      /** A thread failed outside any job. */
      workerError(error: unknown): void;
      /** A retired thread exited. */
      workerRecycled(threadId: number, reason: RetireReason): void;
    },
  ) {
    this.settings = {
      maxJobs: options.maxJobsPerWorker,
      maxHeapBytes: options.maxHeapPerWorkerMb * 1024 * 1024,
      preloadDelayMs: 0,
      loadTimeoutMs: options.loadTimeout,
    };
    // Threads copy the environment data as they start.
    setEnvironmentData(this.settingsKey, this.settings);
    this.health = new ThreadHealth(options.tasksUrl, options.minThreads > 0, (delayMs) => {
      this.settings.preloadDelayMs = delayMs;
      setEnvironmentData(this.settingsKey, this.settings);
    });
    const maximumUsage = options.concurrentTasksPerWorker;
    this.piscina = new Piscina({
      filename: ENTRY,
      minThreads: options.minThreads,
      maxThreads: options.maxThreads,
      idleTimeout: options.idleTimeout,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker,
      // 'sync' freezes a task's leftover timers until the next task arrives.
      atomics: 'async',
      // baozi times jobs itself (stats, metrics): Piscina's histograms would cost every run twice.
      recordTiming: false,
      argv: [
        TASKS_ARGV_FLAG,
        options.tasksUrl,
        SETTINGS_ARGV_FLAG,
        this.settingsKey,
        ...(options.concurrentTasksPerWorker === 1 ? [SINGLE_JOB_ARGV_FLAG] : []),
      ],
      // Piscina's least-busy choice, minus threads retiring, exiting or being
      // terminated, and with room behind a run only for a prefetch.
      loadBalancer: (task: PiscinaTask, threads: ThreadView[]) => this.place(task, threads, maximumUsage),
      ...(options.resourceLimits && { resourceLimits: options.resourceLimits }),
      ...(options.env && { env: options.env }),
      ...(options.workerData !== undefined && { workerData: options.workerData }),
    } as ConstructorParameters<typeof Piscina>[0]);
    // Piscina emits 'error' for thread failures outside a task; unheard, that
    // would crash the host process.
    this.piscina.on('error', (error: unknown) => events.workerError(error));
    this.piscina.on('workerCreate', (view: ThreadView) => {
      const record = recordOf(view);
      this.views.set(record.worker, view);
      // A thread that dies right after a reply (the job behind it killed it)
      // may leave that reply unread in its port when Piscina hears of the
      // exit (or of the error that killed it), and Piscina would fail the
      // finished job as crashed: read it first.
      const readLastReplies = (): void => record.processPendingMessages();
      record.worker.prependListener('error', readLastReplies);
      record.worker.prependListener('exit', readLastReplies);
      this.noteThreads();
    });
    this.piscina.on('message', (notice: ThreadNotice) => this.hear(notice));
    this.piscina.on('workerDestroy', (view: ThreadView) => {
      const thread = threadOf(view);
      // Piscina destroys a thread it decided to stop before it exits, and
      // one that died by itself after: by then its threadId reads -1.
      if (thread.threadId === -1 && !this.loadedThreads.has(thread)) events.workerError(this.health.diedStarting());
      this.views.delete(thread);
      this.given.delete(thread);
    });
    this.noteThreads();
  }

  /**
   * Runs one job message. `stop` aborting terminates the job's thread;
   * without it the job cannot be stopped (but see `terminateThreadOf`), and
   * may share a thread when `concurrentTasksPerWorker` is above 1, or wait
   * in a busy one when `placement.mayWait`.
   */
  run(
    message: RunMessage,
    stop: StopSignal | undefined,
    transferList: readonly (ArrayBuffer | MessagePort)[] | undefined,
    placement: Placement,
  ): Promise<JobReply> {
    (message as unknown as Record<symbol, Placement>)[Piscina.queueOptionsSymbol] = placement;
    const reply = this.piscina.run(message, { signal: stop as never, transferList: transferList as never }) as Promise<JobReply>;
    this.noteThreads();
    return reply;
  }

  get threads(): number {
    return this.piscina.threads.length;
  }

  /**
   * Retires a thread that said it reached its job or heap limit: it gets no
   * new job and is terminated once idle. `onGone` runs when it has exited.
   * Returns false when the thread is already gone or retiring.
   */
  retire(threadId: number, reason: RetireReason, onGone: () => void): boolean {
    if (this.retiring.has(threadId)) return false;
    const thread = this.piscina.threads.find((candidate) => candidate.threadId === threadId);
    if (!thread) return false;
    this.retiring.set(threadId, { thread, isTerminating: false });
    thread.once('exit', () => {
      this.retiring.delete(threadId);
      this.recycledThreads++;
      onGone();
      this.events.workerRecycled(threadId, reason);
    });
    this.terminateIdleRetirees();
    return true;
  }

  /**
   * Terminates the thread of a run sent without a stop signal (Piscina then
   * fails every run on it). With `onlyIfAlone`, only when that run is all
   * the thread has.
   */
  terminateThreadOf(placement: Placement, onlyIfAlone: boolean): void {
    const { thread } = placement;
    if (!thread || thread.threadId === -1) return;
    if (onlyIfAlone && (this.views.get(thread)?.currentUsage ?? Infinity) > 1) return;
    // Its run may still reply meanwhile, and the thread look free.
    if (!this.terminating.has(thread)) {
      this.terminating.add(thread);
      thread.once('exit', () => this.terminating.delete(thread));
    }
    void thread.terminate();
  }

  /** Terminates retiring threads that have no job left. Call after a run settles. */
  terminateIdleRetirees(): void {
    // Called after every run: most of the time there is none.
    if (this.retiring.size === 0) return;
    for (const retiree of this.retiring.values()) {
      if (retiree.isTerminating || (this.views.get(retiree.thread)?.currentUsage ?? 0) > 0) continue;
      retiree.isTerminating = true;
      void retiree.thread.terminate();
    }
  }

  /** Resolves once every thread the pool ever started has exited. */
  async destroy(): Promise<void> {
    this.health.close();
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
    setEnvironmentData(this.settingsKey, undefined);
  }

  // Piscina's choice for a run, noted on its placement.
  private place(task: PiscinaTask, threads: ThreadView[], maximumUsage: number): ThreadView | null {
    const placement = placementOf(task);
    // With one job per thread at a time, only a prefetch may wait behind another run.
    const usageLimit = maximumUsage === 1 && placement?.mayWait ? 2 : maximumUsage;
    const chosen = this.pick(task, threads, usageLimit);
    if (chosen && placement) {
      placement.thread = threadOf(chosen);
      // A thread still starting has no view from 'workerCreate' yet.
      if (!this.views.has(placement.thread)) this.views.set(placement.thread, chosen);
    }
    return chosen;
  }

  /**
   * Piscina's least-busy choice, never a retiring thread, and a thread
   * running something only for a run without a stop signal. With
   * `maxJobsPerWorker`, a thread already given that many messages is
   * chosen only when no other can take the run: its last reply may still
   * be on its way, and Piscina hands out queued runs before baozi hears it.
   */
  private pick(task: PiscinaTask, threads: ThreadView[], maximumUsage: number): ThreadView | null {
    let candidate: ThreadView | null = null;
    let least = Infinity;
    for (const thread of threads) {
      if (this.retiring.size > 0 && this.retiring.has(thread.id)) continue;
      // Exited (Piscina may offer it while the pool reads its last replies), or being terminated.
      if (thread.id === -1 || (this.terminating.size > 0 && this.terminating.has(threadOf(thread)))) continue;
      const usage = thread.currentUsage;
      // Piscina's rule: a run that may be aborted (its thread terminated) never shares one.
      if (usage > 0 && (usage >= maximumUsage || thread.isRunningAbortableTask || task.isAbortable)) continue;
      const load = usage + (this.given.size > 0 && (this.given.get(threadOf(thread)) ?? 0) >= this.settings.maxJobs ? maximumUsage : 0);
      if (load < least) {
        candidate = thread;
        least = load;
        if (load === 0) break;
      }
    }
    if (candidate && this.settings.maxJobs !== Infinity) {
      const thread = threadOf(candidate);
      this.given.set(thread, (this.given.get(thread) ?? 0) + 1);
    }
    return candidate;
  }

  private hear(notice: ThreadNotice): void {
    if (notice?.type === 'baozi:loaded') {
      const thread = this.piscina.threads.find((candidate) => candidate.threadId === notice.threadId);
      if (thread) this.loadedThreads.add(thread);
      this.health.loaded();
    } else if (notice?.type === 'baozi:load-failed') {
      this.health.loadFailed(new TaskLoadError(notice.module, { cause: rebuildError(notice.error) }));
    }
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

// What Node throws in a thread for a message it cannot deserialize (src/node_messaging.cc).
const UNREADABLE_MESSAGE = 'Unable to deserialize cloned data.';

/** What a rejection from Piscina that is not a job failure says about the thread. */
export function classifyCrash(error: unknown): { reason: CrashReason; exitCode: number | undefined } {
  if ((error as { code?: unknown } | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return { reason: 'oom', exitCode: undefined };
  if ((error as { message?: unknown } | null)?.message === UNREADABLE_MESSAGE) return { reason: 'unreadable-message', exitCode: undefined };
  const exit = error instanceof Error ? /worker exited with code: (-?\d+)/.exec(error.message) : null;
  if (exit) return { reason: 'exit', exitCode: Number(exit[1]) };
  return { reason: 'uncaught', exitCode: undefined };
}
