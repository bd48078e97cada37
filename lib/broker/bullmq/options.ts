import { InvalidOptionError } from '../../errors.js';

/** Options of `bullmq()`. Unknown keys are rejected. */
export interface BullmqOptions {
  /** The BullMQ queue's name: producers and consumers of one table give the same. No `:`. */
  queue: string;
  /**
   * Where Redis is: a `redis://[user:password@]host:port[/db]` URL, or
   * ioredis options (`{ host, port, password, db, tls, ... }`).
   */
  connection: string | Record<string, unknown>;
  /**
   * Prefix of the queue's Redis keys (BullMQ's `prefix`).
   * @default 'bull'
   */
  prefix?: string;
  /**
   * Milliseconds a producer waits for Redis to answer (reading the queue's
   * depth, adding a job, looking one up) before the call rejects with
   * `BAOZI_BROKER_UNREACHABLE`. Integer, at least 1.
   * @default 5000
   */
  unreachableAfterMs?: number;
  /**
   * Milliseconds a consumer's lock on a running job lasts (BullMQ's
   * `lockDuration`); it is renewed at half of it from the consumer's main
   * thread, which the job's thread leaves free. A consumer that dies holds
   * its jobs until the lock passes. Integer, at least 100.
   * @default 30000
   */
  lockDuration?: number;
  /**
   * Milliseconds between two checks for jobs whose consumer died (BullMQ's
   * `stalledInterval`): such a job runs again on another consumer within
   * about `lockDuration + stalledInterval`. Integer, at least 100.
   * @default 30000
   */
  stalledInterval?: number;
  /**
   * Times a job may be found stalled (its consumer died) and run again
   * before it fails with `BAOZI_WORKER_CRASHED` (BullMQ's `maxStalledCount`).
   * Integer, 0 or more.
   * @default 1
   */
  maxStalledCount?: number;
}

export interface ResolvedBullmqOptions {
  queue: string;
  connection: Record<string, unknown>;
  prefix: string;
  unreachableAfterMs: number;
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount: number;
}

const KEYS = ['queue', 'connection', 'prefix', 'unreachableAfterMs', 'lockDuration', 'stalledInterval', 'maxStalledCount'] as const satisfies readonly (keyof BullmqOptions)[];

export const BULLMQ_DEFAULTS = Object.freeze({
  prefix: 'bull',
  unreachableAfterMs: 5000,
  lockDuration: 30_000,
  stalledInterval: 30_000,
  maxStalledCount: 1,
});

/** Checks `bullmq()` options without touching the caller's object. Throws `InvalidOptionError`. */
export function resolveBullmqOptions(options: BullmqOptions): ResolvedBullmqOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('bullmq', options, 'an object with `queue` and `connection`');
  for (const key of Object.keys(options)) {
    if (!(KEYS as readonly string[]).includes(key)) {
      throw new InvalidOptionError(`bullmq.${key}`, (options as unknown as Record<string, unknown>)[key], `no such option; known: ${KEYS.join(', ')}`);
    }
  }
  const { queue, prefix } = options;
  if (typeof queue !== 'string' || queue === '' || queue.includes(':')) throw new InvalidOptionError('bullmq.queue', queue, 'a non-empty string without `:`');
  if (prefix !== undefined && (typeof prefix !== 'string' || prefix === '')) throw new InvalidOptionError('bullmq.prefix', prefix, 'a non-empty string');
  return {
    queue,
    connection: connection(options.connection),
    prefix: prefix ?? BULLMQ_DEFAULTS.prefix,
    unreachableAfterMs: integer('unreachableAfterMs', options.unreachableAfterMs, BULLMQ_DEFAULTS.unreachableAfterMs, 1),
    lockDuration: integer('lockDuration', options.lockDuration, BULLMQ_DEFAULTS.lockDuration, 100),
    stalledInterval: integer('stalledInterval', options.stalledInterval, BULLMQ_DEFAULTS.stalledInterval, 100),
    maxStalledCount: integer('maxStalledCount', options.maxStalledCount, BULLMQ_DEFAULTS.maxStalledCount, 0),
  };
}

function connection(value: unknown): Record<string, unknown> {
  if (typeof value === 'string') {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidOptionError('bullmq.connection', value, 'a redis:// URL or ioredis options');
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new InvalidOptionError('bullmq.connection', value, 'a redis:// or rediss:// URL');
    const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined;
    if (db !== undefined && !Number.isInteger(db)) throw new InvalidOptionError('bullmq.connection', value, 'a URL whose path is a database number');
    return {
      host: url.hostname,
      port: url.port ? Number(url.port) : 6379,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(db !== undefined ? { db } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    };
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { ...(value as Record<string, unknown>) };
  throw new InvalidOptionError('bullmq.connection', value, 'a redis:// URL or ioredis options');
}

function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new InvalidOptionError(`bullmq.${name}`, value, `an integer, ${min} or more`);
  return value;
}
