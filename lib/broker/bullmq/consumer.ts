import { UnrecoverableError, WaitingError, Worker, type Job as BullJob, type JobProgress } from 'bullmq';
import { Redis } from 'ioredis';
import { CancelledError, JobExpiredError, MalformedJobError, type BaoziError } from '../../errors.js';
import { computeBackoff, type RetryPolicy } from '../../semantics/retry.js';
import type { ConsumedRun, ConsumerSettings, RemoteConsumer } from '../remote.js';
import { CANCEL_MEMORY_MS, cancelChannel, cancelKey, decodeCancel } from './cancel-channel.js';
import type { ResolvedBullmqOptions } from './options.js';
import { decodeResult, decodeWireJob, encodeFailure, encodeResult, isRetryable, type WireJob } from './wire.js';
import { deserialize, serialize } from 'node:v8';

/**
 * Work a consumer holds per slot past its slots, in ms of thread time,
 * while the jobs it runs are quick: what a job of higher priority added
 * meanwhile may wait behind. The held jobs wait on its local table and go
 * to its threads several to a message, and Redis's round trips for them
 * overlap the runs.
 */
export const HELD_MS_PER_SLOT = 16;

/**
 * Most jobs a consumer holds per slot past its slots, however quick they
 * are: BullMQ's worker runs one promise per job it holds. Measured with
 * tiny jobs (broker bench's consumers and producer, load 2): 8 per slot
 * gave 3.0k jobs/s, 16 per slot 3.3k, 32 per slot 3.5k.
 */
export const MAX_HELD_PER_SLOT = 32;

/** Jobs held per slot past the slots after a job of `quickJobMs` (see `ConsumerSettings.quickJobMs`): none after a slow one. */
export function heldPerSlot(quickJobMs: number | undefined): number {
  if (quickJobMs === undefined) return 0;
  // A job measured at 0 ms divides to Infinity: the most.
  return Math.min(MAX_HELD_PER_SLOT, Math.floor(HELD_MS_PER_SLOT / quickJobMs));
}

/**
 * The consumer side of the BullMQ broker: a BullMQ Worker whose
 * concurrency is the runner's thread slots, so that it takes a job off
 * Redis only when a slot is free (while its jobs are quick, a few more:
 * see #setPrefetch). Each job it takes runs on the runner's
 * pool; the Worker's lock renewal runs on this main thread, which the
 * job's thread leaves free. Results, errors and progress go back through
 * BullMQ; retries and their backoff are BullMQ's, computed with baozi's
 * policy carried in the job's data.
 */
export class BullmqConsumer implements RemoteConsumer {
  readonly #settings: ConsumerSettings;
  readonly #worker: Worker;
  /** Jobs taken and not finished (queued locally or running), by BullMQ id. */
  readonly #running = new Map<string, ConsumedRun>();
  /** Set by a close that does not drain: jobs stopped now go back to the queue, not to failed. */
  #isReturning = false;
  /** Hears producers' cancels of running jobs (a subscribed connection can do nothing else). */
  readonly #subscriber: Redis;
  readonly #subscribed: Promise<unknown>;
  /** Reads the cancels left in Redis for running jobs after the subscribed connection was down; made on its first reconnect. */
  #lookup: Redis | undefined;
  #hasListened = false;
  readonly #options: ResolvedBullmqOptions;
  /** Jobs BullMQ handed over in this turn of the event loop, to start at its end in Redis's order (see #inRedisOrder). */
  #arrivals: { bullJob: BullJob; start: () => void }[] = [];
  /** Cancels heard for jobs not running here, by id, oldest first: such a job is not started. */
  readonly #cancelled = new Map<string, { reason: string | undefined; at: number; addedAt: number | undefined }>();

  constructor(options: ResolvedBullmqOptions, settings: ConsumerSettings) {
    this.#settings = settings;
    this.#options = options;
    // Two parameters: a processor that takes a third (BullMQ's signal, aborted
    // only by Worker.cancelJob, which baozi does not use) gets an AbortController per job.
    this.#worker = new Worker(options.queue, (job, token) => this.#process(job, token), {
      connection: { ...options.connection, maxRetriesPerRequest: null },
      prefix: options.prefix,
      concurrency: settings.slots,
      lockDuration: options.lockDuration,
      stalledInterval: options.stalledInterval,
      maxStalledCount: options.maxStalledCount,
      settings: { backoffStrategy: (attemptsMade, type, _error, job) => backoff(attemptsMade, type, job?.data) },
    });
    this.#worker.on('error', (error) => settings.brokerError(error));
    // Named, so that an operator (or a test) can tell it among Redis's clients.
    this.#subscriber = new Redis({ connectionName: `${cancelChannel(options)}:listener`, ...options.connection, lazyConnect: true, maxRetriesPerRequest: null });
    this.#subscriber.on('error', (error) => settings.brokerError(error));
    this.#subscriber.on('message', (_channel: string, text: string) => this.#heardCancel(text));
    this.#subscribed = this.#subscriber.connect().then(() => this.#subscriber.subscribe(cancelChannel(options)));
    this.#subscribed.catch(() => {});
    this.#subscriber.on('ready', () => {
      if (this.#hasListened) void this.#lookUpMissedCancels().catch((error: unknown) => settings.brokerError(error));
      this.#hasListened = true;
    });
  }

  ready(): Promise<void> {
    return Promise.all([this.#worker.waitUntilReady(), this.#subscribed]).then(() => {});
  }

  async close(drain: boolean): Promise<void> {
    if (!drain) {
      this.#isReturning = true;
      for (const run of this.#running.values()) run.stop(new Error('the consumer closed without draining'));
    }
    await this.#worker.close();
    await this.#subscriber.quit().catch(() => this.#subscriber.disconnect());
    await this.#lookup?.quit().catch(() => this.#lookup?.disconnect());
  }

  /**
   * The subscribed connection is back: once it listens again (ioredis
   * subscribes by itself; this waits for its own subscribe's answer), the
   * running jobs whose cancel went out meanwhile are found under their
   * cancel keys, and stopped.
   */
  async #lookUpMissedCancels(): Promise<void> {
    await this.#subscriber.subscribe(cancelChannel(this.#options));
    const ids = [...this.#running.keys()];
    if (ids.length === 0) return;
    if (!this.#lookup) {
      this.#lookup = new Redis({ ...this.#options.connection, maxRetriesPerRequest: null });
      this.#lookup.on('error', (error) => this.#settings.brokerError(error));
    }
    const messages = await this.#lookup.mget(ids.map((id) => cancelKey(this.#options, id)));
    for (const message of messages) if (message !== null) this.#heardCancel(message);
  }

  /** A producer cancelled a job: stop it if it runs here, else remember it for a while. */
  #heardCancel(text: string): void {
    const request = decodeCancel(text);
    if (!request) return;
    const running = this.#running.get(request.jobId);
    if (running) {
      running.stop(request.reason);
      return;
    }
    const now = Date.now();
    for (const [id, { at }] of this.#cancelled) {
      if (now - at < CANCEL_MEMORY_MS) break;
      this.#cancelled.delete(id);
    }
    this.#cancelled.delete(request.jobId);
    this.#cancelled.set(request.jobId, { reason: request.reason, at: now, addedAt: request.addedAt });
  }

  async #process(bullJob: BullJob, token: string | undefined): Promise<unknown> {
    const info = { jobId: bullJob.id!, task: bullJob.name, attempt: bullJob.attemptsMade + 1 };
    let wire: ReturnType<typeof decodeWireJob>;
    try {
      wire = decodeWireJob(bullJob.data);
    } catch (error) {
      const malformed = error as MalformedJobError;
      throw new UnrecoverableError(encodeFailure(new MalformedJobError(malformed.detail, { cause: malformed.cause, job: info })));
    }
    // Checked when the job starts, as in-process: it never runs late.
    if (wire.expiresAt !== undefined && wire.expiresAt <= Date.now()) {
      throw new UnrecoverableError(encodeFailure(new JobExpiredError({ job: info, expiredAt: wire.expiresAt })));
    }
    // A chord's callback: its members' results, in order, come first.
    const args = wire.chord ? await withMemberResults(bullJob, wire.chord, wire.args) : wire.args;
    await this.#inRedisOrder(bullJob);
    // Taken off Redis as a close without drain began: it never starts here.
    if (this.#isReturning && token !== undefined) return this.#returnToQueue(bullJob, token);
    // Checked in the same turn as the job joins #running: a cancel heard before or after finds it.
    const cancelled = this.#cancelled.get(info.jobId);
    // A job added after the cancelled one, under the same id, is another job.
    if (cancelled && (cancelled.addedAt === undefined || cancelled.addedAt === bullJob.timestamp)) {
      this.#cancelled.delete(info.jobId);
      throw new UnrecoverableError(encodeFailure(new CancelledError(`Job ${info.jobId} (${info.task}) was cancelled before it started.`, { cause: cancelled.reason, job: info })));
    }
    const run = this.#settings.run({
      id: info.jobId,
      name: bullJob.name,
      args,
      attempt: info.attempt,
      chunk: wire.chunk,
      timeout: wire.timeout,
      softTimeout: wire.softTimeout,
      onProgress: wire.progress ? (progress) => void bullJob.updateProgress(progress as JobProgress).catch((error: unknown) => this.#settings.brokerError(error)) : undefined,
    });
    this.#running.set(info.jobId, run);
    try {
      return encodeResult(await run.result, !wire.isEncoded);
    } catch (error) {
      if (this.#isReturning && token !== undefined) return this.#returnToQueue(bullJob, token);
      const failure = encodeFailure(error as BaoziError);
      throw isRetryable(error) ? new Error(failure) : new UnrecoverableError(failure);
    } finally {
      this.#running.delete(info.jobId);
      this.#setPrefetch(bullJob.name);
    }
  }

  /**
   * Resolves at the end of this turn, after the jobs BullMQ handed over
   * before this one in Redis's order. Holding several jobs, BullMQ fetches
   * some with a completion and some alone, and hands them over in whichever
   * order their promise chains end, not always the order Redis gave them
   * in (priority, then first in, first out). Those of one turn are put back
   * in that order before any joins the local table.
   */
  #inRedisOrder(bullJob: BullJob): Promise<void> {
    return new Promise((start) => {
      if (this.#arrivals.length === 0) setImmediate(() => this.#startArrivals());
      this.#arrivals.push({ bullJob, start });
    });
  }

  #startArrivals(): void {
    const arrivals = this.#arrivals;
    this.#arrivals = [];
    // A stable sort: jobs it cannot tell apart keep the order they came in.
    arrivals.sort((a, b) => compareRedisOrder(a.bullJob, b.bullJob));
    // Each resumes in the next microtask, all before any later one: the runner starts them together (Runner#pumpConsumed).
    for (const { start } of arrivals) start();
  }

  /**
   * A consumer takes a job off Redis only when a slot is free, unless the
   * job it just ran was quick: then it holds up to `HELD_MS_PER_SLOT` of
   * such jobs per slot more (at most `MAX_HELD_PER_SLOT`). Behind a slow
   * job, a held one would wait long while another consumer may be idle.
   * Set before BullMQ decides whether to fetch the next job with this
   * one's completion.
   */
  #setPrefetch(task: string): void {
    const { slots } = this.#settings;
    this.#worker.concurrency = slots * (1 + heldPerSlot(this.#settings.quickJobMs(task)));
  }

  /** Back to the queue, unlocked, for another consumer: it did not finish here. */
  async #returnToQueue(bullJob: BullJob, token: string): Promise<never> {
    await bullJob.moveToWait(token);
    throw new WaitingError();
  }
}

/**
 * The order Redis gives jobs out in: BullMQ's priority (a job without one
 * first), then when it was added, then, for ids one producer gave
 * (`<prefix>-<n>`, see BullmqProducer), the order it gave them.
 */
function compareRedisOrder(a: BullJob, b: BullJob): number {
  const byPriority = (a.opts.priority ?? 0) - (b.opts.priority ?? 0);
  if (byPriority !== 0) return byPriority;
  if (a.timestamp !== b.timestamp) return a.timestamp - b.timestamp;
  const aDash = a.id!.lastIndexOf('-');
  const bDash = b.id!.lastIndexOf('-');
  if (aDash < 0 || aDash !== bDash || !a.id!.startsWith(b.id!.slice(0, bDash + 1))) return 0;
  return Number(a.id!.slice(aDash + 1)) - Number(b.id!.slice(bDash + 1));
}

async function withMemberResults(bullJob: BullJob, members: string[], args: Uint8Array | unknown[]): Promise<Uint8Array> {
  const values = (await bullJob.getChildrenValues()) as Record<string, unknown>;
  const byId = new Map(Object.entries(values).map(([key, value]) => [key.slice(key.lastIndexOf(':') + 1), value]));
  const results = members.map((id) => decodeResult(byId.get(id)));
  return serialize([results, ...(Array.isArray(args) ? args : (deserialize(args) as unknown[]))]);
}

function backoff(attemptsMade: number, type: string | undefined, data: unknown): number {
  const retry = (data as Partial<WireJob> | undefined)?.retry;
  if (type !== 'baozi' || !retry) return 0;
  return computeBackoff({ ...retry, max: 0, retryOn: undefined } as RetryPolicy, attemptsMade);
}
