/**
 * Imports the task module once per thread and finds a task by name. The
 * module's URL travels in the thread's argv (see lib/pool.ts), so no job
 * message has to carry it.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { serializeError } from './errors.js';
import type { TasksArgvFlag, ThreadNotice } from './protocol.js';
import { clearLongTimeout, setLongTimeout } from './long-timer.js';
import { argvValue, settings } from './settings.js';
export const TASKS_ARGV_FLAG: TasksArgvFlag = '--baozi-tasks';

type TaskModule = Record<string, unknown>;
export type TaskFunction = (...args: unknown[]) => unknown;

let loading: Promise<TaskModule> | undefined;
// Once imported, every job reads the namespace directly: no promise per job.
let loaded: TaskModule | undefined;
// Tasks found so far by name: a namespace's own properties are slow to look up.
const found = new Map<string, TaskFunction>();
let failedLoads = 0;
let hasWaited = false;
// Set while an import that passed `loadTimeout` is still pending: jobs fail at once meanwhile.
let timedOut: Error | undefined;

export function taskModuleUrl(): string {
  const url = argvValue(TASKS_ARGV_FLAG);
  if (!url) throw new Error(`baozi worker started without ${TASKS_ARGV_FLAG}; create it through createRunner().`);
  return url;
}

/**
 * Starts importing the task module as the thread starts, so the first job
 * does not wait for it. A failure is kept for the first job to report.
 * While threads keep dying as they load the module, the pool asks new ones
 * to wait first (`preloadDelayMs`), so that the respawns back off; a job
 * arriving meanwhile imports at once.
 */
export function preloadTaskModule(): void {
  if (!hasWaited && settings.preloadDelayMs > 0) {
    hasWaited = true;
    setTimeout(preloadTaskModule, settings.preloadDelayMs).unref();
    return;
  }
  loading ??= importTaskModule();
  loading.catch(() => {});
}

/**
 * The task module's namespace. A failed import is reported once, then
 * forgotten: Node caches a module that failed to evaluate, so the next try
 * imports a distinct URL and a transient failure recovers on the next job.
 */
export function loadTaskModule(): TaskModule | Promise<TaskModule> {
  if (loaded) return loaded;
  if (timedOut) return Promise.reject(timedOut);
  loading ??= importTaskModule();
  return loading.catch((error: unknown) => {
    loading = undefined;
    throw error;
  });
}

function importTaskModule(): Promise<TaskModule> {
  const url = taskModuleUrl();
  const attemptUrl = failedLoads === 0 ? url : `${url}${url.includes('?') ? '&' : '?'}baozi-reload=${failedLoads}`;
  const importing = import(attemptUrl).then(
    (module: TaskModule) => {
      timedOut = undefined;
      notify({ type: 'baozi:loaded', threadId });
      return (loaded = module);
    },
    (error: unknown) => {
      failedLoads++;
      timedOut = undefined;
      notify({ type: 'baozi:load-failed', threadId, module: url, error: serializeError(error) });
      throw error;
    },
  );
  return withinLoadTimeout(importing, url);
}

/**
 * The import, or its failure once `loadTimeout` passes (a top-level await
 * that never settles). The import itself cannot be stopped: it stays
 * pending, and should it finish after all, the thread recovers.
 */
function withinLoadTimeout(importing: Promise<TaskModule>, url: string): Promise<TaskModule> {
  const limitMs = settings.loadTimeoutMs;
  if (!Number.isFinite(limitMs)) return importing;
  return new Promise((resolve, reject) => {
    const timer = setLongTimeout(() => {
      timedOut = new Error(`it did not finish loading within ${limitMs} ms (loadTimeout): does a top-level await never settle?`);
      notify({ type: 'baozi:load-failed', threadId, module: url, error: serializeError(timedOut) });
      reject(timedOut);
    }, limitMs);
    importing.then(
      (module) => {
        clearLongTimeout(timer);
        resolve(module);
      },
      (error: unknown) => {
        clearLongTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The task by name once the module is loaded; undefined before, or for no such task. */
export function loadedTask(name: string): TaskFunction | undefined {
  let task = found.get(name);
  if (task === undefined && loaded !== undefined) {
    task = findTask(loaded, name);
    if (task) found.set(name, task);
  }
  return task;
}

/** Only the module's own exported functions are tasks: never `constructor`, `__proto__` or inherited members. */
export function findTask(module: TaskModule, name: string): TaskFunction | undefined {
  if (!Object.hasOwn(module, name)) return undefined;
  const candidate = module[name];
  return typeof candidate === 'function' ? (candidate as TaskFunction) : undefined;
}

export function taskNames(module: TaskModule): string[] {
  return Object.keys(module).filter((name) => typeof module[name] === 'function');
}

/** Tells the pool how loading went (its health check and `ready()` listen). */
function notify(notice: ThreadNotice): void {
  parentPort?.postMessage(notice);
}
