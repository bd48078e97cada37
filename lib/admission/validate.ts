import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isArrayBuffer } from 'node:util/types';
import { MessagePort, type ResourceLimits } from 'node:worker_threads';
import type { RemoteBroker } from '../broker/remote.js';
import { InvalidOptionError } from '../errors.js';
import { MAX_TIMER_DELAY } from '../../workers/long-timer.js';
import { DEFAULTS, PRIORITY_RANGE, type CloseOptions, type DrainMode, type JournalOptions, type RunnerOptions, type SubmitOptions, type TaskDefaults } from '../options.js';
import { parseRateLimit, type RateLimit } from '../semantics/rate-limit.js';
import type { RetryOptions, RetryPolicy } from '../semantics/retry.js';

/** The policy of a job that gave no `retries` (its task may still ask for a retry), from `DEFAULTS.retries`. */
export const RETRY_DEFAULTS: Readonly<RetryPolicy> = Object.freeze({
  ...DEFAULTS.retries,
  jitter: DEFAULTS.retries.jitter[DEFAULTS.retries.backoff],
  retryOn: undefined,
});

/** Runner options after validation, with every default filled in. */
export interface ResolvedRunnerOptions {
  tasksUrl: string;
  minThreads: number;
  maxThreads: number;
  idleTimeout: number;
  capacity: number;
  concurrentTasksPerWorker: number;
  resourceLimits: ResourceLimits | undefined;
  env: Record<string, string> | undefined;
  workerData: unknown;
  cancelGraceMs: number;
  loadTimeout: number;
  batching: 'auto' | 'off';
  prefetch: 'auto' | 'off';
  defaults: Map<string, TaskDefaults>;
  rateLimits: Map<string, RateLimit>;
  resultTtl: number;
  maxResults: number;
  maxScheduled: number;
  maxPayloadBytes: number;
  /** Infinity when unset. */
  maxJobsPerWorker: number;
  /** Infinity when unset. */
  maxHeapPerWorkerMb: number;
  /** Undefined without a journal. */
  journal: ResolvedJournalOptions | undefined;
  /** A table shared through Redis, or undefined for the in-memory one. */
  broker: RemoteBroker | undefined;
  /** With `broker`: whether this runner runs jobs (a consumer). */
  consume: boolean;
}

export interface ResolvedJournalOptions {
  path: string;
  sync: 'full' | 'normal';
  maxSizeMb: number | undefined;
  maxRedeliveries: number;
}

const RUNNER_KEYS = [
  'tasks', 'minThreads', 'maxThreads', 'idleTimeout', 'capacity', 'concurrentTasksPerWorker',
  'resourceLimits', 'env', 'workerData', 'cancelGraceMs', 'loadTimeout', 'batching', 'prefetch', 'defaults', 'rateLimits', 'resultTtl', 'maxResults', 'maxScheduled',
  'maxPayloadBytes', 'maxJobsPerWorker', 'maxHeapPerWorkerMb', 'broker', 'consume', 'journal',
] as const satisfies readonly (keyof RunnerOptions)[];
const TASK_DEFAULT_KEYS = ['priority', 'retries', 'timeout', 'softTimeout', 'expiresIn'] as const satisfies readonly (keyof TaskDefaults)[];
const SUBMIT_KEYS = [
  ...TASK_DEFAULT_KEYS, 'signal', 'transferList', 'jobId', 'delay', 'runAt', 'expiresAt', 'onProgress',
] as const satisfies readonly (keyof SubmitOptions)[];
const RETRY_KEYS = ['max', 'backoff', 'delay', 'maxDelay', 'jitter', 'retryOn'] as const satisfies readonly (keyof RetryOptions)[];
const JOURNAL_KEYS = ['path', 'sync', 'maxSizeMb', 'maxRedeliveries'] as const satisfies readonly (keyof JournalOptions)[];
const CLOSE_KEYS = ['drain', 'deadlineMs'] as const satisfies readonly (keyof CloseOptions)[];
const RESOURCE_LIMIT_KEYS = [
  'maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb',
] as const satisfies readonly (keyof ResourceLimits)[];

/** Checks `createRunner()` options without touching the caller's object. Throws `InvalidOptionError`. */
export function resolveRunnerOptions(options: RunnerOptions<never>): ResolvedRunnerOptions {
  checkObject('options', options, RUNNER_KEYS);
  const maxThreads = integer('maxThreads', options.maxThreads, DEFAULTS.maxThreads, 1);
  const minThreads = integer('minThreads', options.minThreads, maxThreads, 0, maxThreads);
  return {
    tasksUrl: tasksUrl(options.tasks),
    minThreads,
    maxThreads,
    // Piscina's own timer: it cannot wait longer.
    idleTimeout: integer('idleTimeout', options.idleTimeout, DEFAULTS.idleTimeout, 0, MAX_TIMER_DELAY),
    capacity: integer('capacity', options.capacity, DEFAULTS.capacity, 1),
    concurrentTasksPerWorker: integer('concurrentTasksPerWorker', options.concurrentTasksPerWorker, DEFAULTS.concurrentTasksPerWorker, 1),
    resourceLimits: resourceLimits(options.resourceLimits),
    env: env(options.env),
    workerData: cloneable('workerData', options.workerData),
    cancelGraceMs: integer('cancelGraceMs', options.cancelGraceMs, DEFAULTS.cancelGraceMs, 0),
    loadTimeout: integer('loadTimeout', options.loadTimeout, DEFAULTS.loadTimeout, 1),
    batching: oneOf('batching', options.batching, ['auto', 'off'] as const, DEFAULTS.batching),
    prefetch: oneOf('prefetch', options.prefetch, ['auto', 'off'] as const, DEFAULTS.prefetch),
    defaults: resolveTaskDefaults(options.defaults),
    rateLimits: resolveRateLimits(options.rateLimits),
    resultTtl: integer('resultTtl', options.resultTtl, DEFAULTS.resultTtl, 0),
    maxResults: integer('maxResults', options.maxResults, DEFAULTS.maxResults, 0),
    maxScheduled: integer('maxScheduled', options.maxScheduled, DEFAULTS.maxScheduled, 1),
    maxPayloadBytes: integer('maxPayloadBytes', options.maxPayloadBytes, DEFAULTS.maxPayloadBytes, 1),
    maxJobsPerWorker: integer('maxJobsPerWorker', options.maxJobsPerWorker, Infinity, 1),
    maxHeapPerWorkerMb: positive('maxHeapPerWorkerMb', options.maxHeapPerWorkerMb, Infinity),
    ...remote(options),
    journal: journal(options.journal, options.broker),
  };
}

function journal(value: unknown, broker: RemoteBroker | undefined): ResolvedJournalOptions | undefined {
  if (value === undefined) return undefined;
  if (broker !== undefined) throw new InvalidOptionError('journal', value, 'no `journal` with a `broker`: the broker (Redis) already keeps accepted jobs; give one or the other');
  if (typeof value === 'string') value = { path: value };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError('journal', value, 'the path of the journal file, or { path, sync?, maxSizeMb? }');
  checkObject('journal', value, JOURNAL_KEYS, 'journal.');
  const options = value as JournalOptions;
  if (typeof options.path !== 'string' || options.path.trim() === '') throw new InvalidOptionError('journal.path', options.path, 'the path of the journal file: a non-empty string');
  const maxSizeMb = positive('journal.maxSizeMb', options.maxSizeMb, Infinity);
  return {
    path: resolve(options.path),
    sync: oneOf('journal.sync', options.sync, ['full', 'normal'] as const, DEFAULTS.journal.sync),
    maxSizeMb: maxSizeMb === Infinity ? undefined : maxSizeMb,
    maxRedeliveries: integer('journal.maxRedeliveries', options.maxRedeliveries, DEFAULTS.journal.maxRedeliveries, 0),
  };
}

/**
 * Checks `broker` and `consume`, and refuses at creation what cannot hold
 * over a broker shared through Redis (see docs/bullmq.md).
 */
function remote(options: RunnerOptions<never>): { broker: RemoteBroker | undefined; consume: boolean } {
  const { broker, consume } = options;
  if (consume !== undefined && typeof consume !== 'boolean') throw new InvalidOptionError('consume', consume, 'true or false');
  if (broker === undefined) {
    if (consume !== undefined) throw new InvalidOptionError('consume', consume, 'no `consume` without a `broker`: the in-memory table is always consumed by its own runner');
    return { broker: undefined, consume: true };
  }
  const candidate = broker as Partial<RemoteBroker> | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.producer !== 'function' || typeof candidate.consumer !== 'function') {
    throw new InvalidOptionError('broker', broker, 'a broker made by `bullmq()` from baozi/bullmq');
  }
  if (options.rateLimits !== undefined && Object.keys(options.rateLimits).length > 0) {
    throw new InvalidOptionError('rateLimits', options.rateLimits, 'no per-task rate limits over a shared broker: each consumer would hold its own window, not one for the fleet');
  }
  for (const [task, taskDefaults] of Object.entries((options.defaults ?? {}) as Record<string, TaskDefaults | undefined>)) {
    if (taskDefaults?.retries?.retryOn !== undefined) {
      throw new InvalidOptionError(`defaults.${task}.retries.retryOn`, taskDefaults.retries.retryOn, 'no `retryOn` over a shared broker: a function cannot travel to the consumer that decides');
    }
  }
  return { broker, consume: consume ?? true };
}

/** Refuses, for one job, what cannot travel through a shared broker. Throws `InvalidOptionError`. */
export function checkRemoteSubmit(options: ResolvedSubmitOptions): void {
  if (options.transferList !== undefined) throw new InvalidOptionError('transferList', options.transferList, 'no `transferList` over a shared broker: buffers cannot move to another process');
  if (options.retry?.retryOn !== undefined) throw new InvalidOptionError('retries.retryOn', options.retry.retryOn, 'no `retryOn` over a shared broker: a function cannot travel to the consumer that decides');
}

/** One job's options after validation, merged with its task's defaults. Times are epoch ms. */
export interface ResolvedSubmitOptions {
  signal: AbortSignal | undefined;
  transferList: (ArrayBuffer | MessagePort)[] | undefined;
  priority: number;
  jobId: string | undefined;
  /** When the job may enter the table; undefined for now. */
  runAt: number | undefined;
  expiresAt: number | undefined;
  retry: RetryPolicy | undefined;
  timeout: number | undefined;
  softTimeout: number | undefined;
  onProgress: ((value: unknown) => void) | undefined;
}

const NO_SUBMIT_OPTIONS: ResolvedSubmitOptions = Object.freeze({
  signal: undefined,
  transferList: undefined,
  priority: DEFAULTS.priority,
  jobId: undefined,
  runAt: undefined,
  expiresAt: undefined,
  retry: undefined,
  timeout: undefined,
  softTimeout: undefined,
  onProgress: undefined,
});

/**
 * Checks one job's options, over its task's `defaults` (already checked by
 * `resolveTaskDefaults`). Throws `InvalidOptionError`; callers turn that
 * into their channel (reject or throw).
 */
export function resolveSubmitOptions(options: SubmitOptions | undefined, defaults?: TaskDefaults, at = Date.now()): ResolvedSubmitOptions {
  if (options === undefined && defaults === undefined) return NO_SUBMIT_OPTIONS;
  if (options !== undefined) checkObject('submit options', options, SUBMIT_KEYS);
  const merged: SubmitOptions = { ...defaults, ...options };
  const { signal, transferList, jobId, runAt, expiresAt, onProgress } = merged;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionError('signal', signal, 'an AbortSignal');
  }
  if (transferList !== undefined) checkTransferList(transferList);
  if (jobId !== undefined && (typeof jobId !== 'string' || jobId === '' || jobId.length > 256)) {
    throw new InvalidOptionError('jobId', jobId, 'a non-empty string of at most 256 characters');
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new InvalidOptionError('onProgress', onProgress, 'a function');
  }
  if (merged.delay !== undefined && runAt !== undefined) throw new InvalidOptionError('delay', merged.delay, 'no `delay` together with `runAt`');
  if (merged.expiresIn !== undefined && expiresAt !== undefined) {
    throw new InvalidOptionError('expiresIn', merged.expiresIn, 'no `expiresIn` together with `expiresAt`');
  }
  const delay = integer('delay', merged.delay, 0, 0);
  const expiresIn = optionalInteger('expiresIn', merged.expiresIn, 1);
  const { timeout, softTimeout } = timeLimits(merged);
  return {
    signal,
    transferList: transferList ? [...transferList] : undefined,
    priority: integer('priority', merged.priority, DEFAULTS.priority, PRIORITY_RANGE.min, PRIORITY_RANGE.max),
    jobId,
    runAt: runAt !== undefined ? date('runAt', runAt) : delay > 0 ? at + delay : undefined,
    expiresAt: expiresAt !== undefined ? date('expiresAt', expiresAt) : expiresIn !== undefined ? at + expiresIn : undefined,
    retry: merged.retries === undefined ? undefined : retryPolicy(merged.retries),
    timeout,
    softTimeout,
    onProgress,
  };
}

/**
 * A transfer list must be an array of distinct ArrayBuffers and
 * MessagePorts: anything else makes `postMessage` throw when the job is
 * sent. (Whether a buffer is detached is checked with the arguments.)
 */
function checkTransferList(transferList: unknown): void {
  if (!Array.isArray(transferList)) throw new InvalidOptionError('transferList', transferList, 'an array of ArrayBuffers or MessagePorts');
  const seen = new Set<unknown>();
  transferList.forEach((entry: unknown, i) => {
    if (!isArrayBuffer(entry) && !(entry instanceof MessagePort)) {
      throw new InvalidOptionError(
        `transferList[${i}]`,
        entry,
        'an ArrayBuffer (a typed array\'s `.buffer`) or a MessagePort; a SharedArrayBuffer is shared as it is and never listed',
      );
    }
    if (seen.has(entry)) throw new InvalidOptionError(`transferList[${i}]`, entry, 'each buffer or port listed once');
    seen.add(entry);
  });
}

/** Checks `RunnerOptions.defaults` once, at creation. */
export function resolveTaskDefaults(defaults: unknown): Map<string, TaskDefaults> {
  const resolved = new Map<string, TaskDefaults>();
  if (defaults === undefined) return resolved;
  checkObject('defaults', defaults, Object.keys(defaults as object));
  for (const [task, taskDefaults] of Object.entries(defaults as Record<string, unknown>)) {
    checkObject(`defaults for ${task}`, taskDefaults, TASK_DEFAULT_KEYS, `defaults.${task}.`);
    // Checks every field the same way a job's options are checked.
    resolveSubmitOptions(taskDefaults as TaskDefaults);
    resolved.set(task, { ...(taskDefaults as TaskDefaults) });
  }
  return resolved;
}

/** Checks `RunnerOptions.rateLimits` once, at creation. */
export function resolveRateLimits(limits: unknown): Map<string, RateLimit> {
  const resolved = new Map<string, RateLimit>();
  if (limits === undefined) return resolved;
  checkObject('rateLimits', limits, Object.keys(limits as object));
  for (const [task, limit] of Object.entries(limits as Record<string, unknown>)) {
    resolved.set(task, parseRateLimit(`rateLimits.${task}`, limit));
  }
  return resolved;
}

function timeLimits(options: TaskDefaults): { timeout: number | undefined; softTimeout: number | undefined } {
  const timeout = optionalInteger('timeout', options.timeout, 1);
  const softTimeout = optionalInteger('softTimeout', options.softTimeout, 1);
  if (timeout !== undefined && softTimeout !== undefined && softTimeout >= timeout) {
    throw new InvalidOptionError('softTimeout', softTimeout, `an integer below timeout (${timeout} ms), so the task hears of it before it is stopped`);
  }
  return { timeout, softTimeout };
}

function retryPolicy(retries: unknown): RetryPolicy {
  checkObject('retries', retries, RETRY_KEYS, 'retries.');
  const options = retries as RetryOptions;
  if (options.backoff !== undefined && options.backoff !== 'fixed' && options.backoff !== 'exponential') {
    throw new InvalidOptionError('retries.backoff', options.backoff, "'fixed' or 'exponential'");
  }
  if (options.jitter !== undefined && options.jitter !== 'full' && options.jitter !== 'none') {
    throw new InvalidOptionError('retries.jitter', options.jitter, "'full' or 'none'");
  }
  if (options.retryOn !== undefined && typeof options.retryOn !== 'function') {
    throw new InvalidOptionError('retries.retryOn', options.retryOn, 'a function (error, attempt) => boolean');
  }
  const backoff = options.backoff ?? RETRY_DEFAULTS.backoff;
  return {
    max: integer('retries.max', options.max, RETRY_DEFAULTS.max, 0, 100),
    backoff,
    delay: integer('retries.delay', options.delay, RETRY_DEFAULTS.delay, 0),
    maxDelay: integer('retries.maxDelay', options.maxDelay, RETRY_DEFAULTS.maxDelay, 0),
    jitter: options.jitter ?? DEFAULTS.retries.jitter[backoff],
    retryOn: options.retryOn,
  };
}

function oneOf<Value extends string>(name: string, value: unknown, allowed: readonly Value[], fallback: Value): Value {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as Value)) throw new InvalidOptionError(name, value, `one of ${allowed.map((entry) => `'${entry}'`).join(', ')}`);
  return value as Value;
}

function optionalInteger(name: string, value: unknown, min: number): number | undefined {
  return value === undefined ? undefined : integer(name, value, 0, min);
}

function date(name: string, value: unknown): number {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new InvalidOptionError(name, value, 'a valid Date');
  return value.getTime();
}

const DRAIN_MODES: readonly DrainMode[] = ['all', 'running', 'none'];

/** A close's drain mode; `true` and `false` are the deprecated spellings of `'all'` and `'none'`. */
export function resolveDrainMode(drain: unknown): DrainMode {
  if (drain === undefined) return DEFAULTS.drain;
  if (drain === true) return 'all';
  if (drain === false) return 'none';
  if (!DRAIN_MODES.includes(drain as DrainMode)) throw new InvalidOptionError('drain', drain, "'all', 'running' or 'none'");
  return drain as DrainMode;
}

export function resolveCloseOptions(options: CloseOptions | undefined): { drain: DrainMode; deadlineMs: number | undefined } {
  if (options === undefined) return { drain: DEFAULTS.drain, deadlineMs: undefined };
  checkObject('close options', options, CLOSE_KEYS);
  return { drain: resolveDrainMode(options.drain), deadlineMs: optionalInteger('deadlineMs', options.deadlineMs, 0) };
}

/** Checks that `value` is an object whose keys are all `known`; `prefix` makes option names dotted. */
function checkObject(what: string, value: unknown, known: readonly string[], prefix = ''): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(prefix ? prefix.slice(0, -1) : what, value, 'an object');
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(`${prefix}${key}`, (value as Record<string, unknown>)[key], `no such option; known ${what}: ${known.join(', ')}`);
    }
  }
}

function cloneable(name: string, value: unknown): unknown {
  try {
    structuredClone(value);
  } catch {
    throw new InvalidOptionError(name, value, 'a structured-cloneable value (no functions, symbols or class instances with behaviour)');
  }
  return value;
}

function integer(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new InvalidOptionError(name, value, `an integer ${range}`);
  }
  return value;
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new InvalidOptionError(name, value, 'a finite number above 0');
  return value;
}

function tasksUrl(tasks: unknown): string {
  if (tasks instanceof URL) {
    if (tasks.protocol !== 'file:') throw new InvalidOptionError('tasks', tasks.href, 'a file: URL or a path');
    return tasks.href;
  }
  if (typeof tasks === 'string' && tasks.trim() !== '') {
    // A scheme of two letters or more is a URL; one letter is a Windows drive (C:\tasks.js).
    if (!/^[a-z][a-z0-9+.-]+:/i.test(tasks)) return pathToFileURL(resolve(tasks)).href;
    if (tasks.startsWith('file:') && URL.canParse(tasks)) return new URL(tasks).href;
  }
  throw new InvalidOptionError('tasks', tasks, 'the task module as a file: URL or a path');
}

function resourceLimits(limits: unknown): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  checkObject('resourceLimits', limits, RESOURCE_LIMIT_KEYS, 'resourceLimits.');
  const copy: ResourceLimits = {};
  for (const key of RESOURCE_LIMIT_KEYS) {
    const value = (limits as ResourceLimits)[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidOptionError(`resourceLimits.${key}`, value, 'a finite number of megabytes above 0');
    }
    copy[key] = value;
  }
  return copy;
}

function env(value: unknown): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError('env', value, 'an object of strings');
  }
  const copy: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value as object)) {
    if (typeof entry !== 'string') throw new InvalidOptionError(`env.${key}`, entry, 'a string');
    copy[key] = entry;
  }
  return copy;
}
