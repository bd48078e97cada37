import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MessagePort, ResourceLimits } from 'node:worker_threads';
import { InvalidOptionError } from './errors.js';
import { DEFAULTS, PRIORITY_RANGE, type CloseOptions, type RunnerOptions, type SubmitOptions } from './options.js';

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
}

const RUNNER_KEYS = [
  'tasks', 'minThreads', 'maxThreads', 'idleTimeout', 'capacity', 'concurrentTasksPerWorker',
  'resourceLimits', 'env', 'workerData', 'cancelGraceMs',
] as const satisfies readonly (keyof RunnerOptions)[];
const SUBMIT_KEYS = ['signal', 'transferList', 'priority'] as const satisfies readonly (keyof SubmitOptions)[];
const CLOSE_KEYS = ['drain'] as const satisfies readonly (keyof CloseOptions)[];
const RESOURCE_LIMIT_KEYS = [
  'maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb',
] as const satisfies readonly (keyof ResourceLimits)[];

/** Checks `createRunner()` options without touching the caller's object. Throws `InvalidOptionError`. */
export function resolveRunnerOptions(options: RunnerOptions): ResolvedRunnerOptions {
  checkObject('options', options, RUNNER_KEYS);
  const maxThreads = integer('maxThreads', options.maxThreads, DEFAULTS.maxThreads, 1);
  const minThreads = integer('minThreads', options.minThreads, Math.min(DEFAULTS.minThreads, maxThreads), 0, maxThreads);
  return {
    tasksUrl: tasksUrl(options.tasks),
    minThreads,
    maxThreads,
    idleTimeout: integer('idleTimeout', options.idleTimeout, DEFAULTS.idleTimeout, 0),
    capacity: integer('capacity', options.capacity, DEFAULTS.capacity, 1),
    concurrentTasksPerWorker: integer('concurrentTasksPerWorker', options.concurrentTasksPerWorker, DEFAULTS.concurrentTasksPerWorker, 1),
    resourceLimits: resourceLimits(options.resourceLimits),
    env: env(options.env),
    workerData: options.workerData,
    cancelGraceMs: integer('cancelGraceMs', options.cancelGraceMs, DEFAULTS.cancelGraceMs, 0),
  };
}

/** Per-job options after validation. */
export interface ResolvedSubmitOptions {
  signal: AbortSignal | undefined;
  transferList: (ArrayBuffer | MessagePort)[] | undefined;
  priority: number;
}

const NO_SUBMIT_OPTIONS: ResolvedSubmitOptions = Object.freeze({ signal: undefined, transferList: undefined, priority: DEFAULTS.priority });

/** Checks one job's options. Throws `InvalidOptionError`; callers turn that into their channel (reject or throw). */
export function resolveSubmitOptions(options: SubmitOptions | undefined): ResolvedSubmitOptions {
  if (options === undefined) return NO_SUBMIT_OPTIONS;
  checkObject('submit options', options, SUBMIT_KEYS);
  const { signal, transferList } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new InvalidOptionError('signal', signal, 'an AbortSignal');
  }
  if (transferList !== undefined && !Array.isArray(transferList)) {
    throw new InvalidOptionError('transferList', transferList, 'an array of ArrayBuffers or MessagePorts');
  }
  return {
    signal,
    transferList: transferList ? [...transferList] : undefined,
    priority: integer('priority', options.priority, DEFAULTS.priority, PRIORITY_RANGE.min, PRIORITY_RANGE.max),
  };
}

export function resolveCloseOptions(options: CloseOptions | undefined): Required<CloseOptions> {
  if (options === undefined) return { drain: DEFAULTS.drain };
  checkObject('close options', options, CLOSE_KEYS);
  if (options.drain !== undefined && typeof options.drain !== 'boolean') {
    throw new InvalidOptionError('drain', options.drain, 'true or false');
  }
  return { drain: options.drain ?? DEFAULTS.drain };
}

function checkObject(what: string, value: unknown, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(what, value, 'an object');
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(key, (value as Record<string, unknown>)[key], `no such option; known ${what}: ${known.join(', ')}`);
    }
  }
}

function integer(name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new InvalidOptionError(name, value, `an integer ${range}`);
  }
  return value;
}

function tasksUrl(tasks: unknown): string {
  if (tasks instanceof URL) {
    if (tasks.protocol !== 'file:') throw new InvalidOptionError('tasks', tasks.href, 'a file: URL or a path');
    return tasks.href;
  }
  if (typeof tasks === 'string' && tasks.trim() !== '') {
    return tasks.startsWith('file:') ? new URL(tasks).href : pathToFileURL(resolve(tasks)).href;
  }
  throw new InvalidOptionError('tasks', tasks, 'the task module as a file: URL or a path');
}

function resourceLimits(limits: unknown): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  checkObject('resourceLimits', limits, RESOURCE_LIMIT_KEYS);
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
