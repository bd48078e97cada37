import { UnrecoverableError, WaitingError, Worker, type Job as BullJob, type JobProgress } from 'bullmq';
import { Redis } from 'ioredis';
import { CancelledError, JobExpiredError, MalformedJobError, type BaoziError } from '../../errors.js';
import { computeBackoff, type RetryPolicy } from '../../semantics/retry.js';
import type { ConsumerSettings, RemoteConsumer } from '../remote.js';
import { CANCEL_MEMORY_MS, cancelChannel, decodeCancel } from './cancel-channel.js';
import type { ResolvedBullmqOptions } from './options.js';
import { decodeResult, decodeWireJob, encodeFailure, encodeResult, isRetryable, type WireJob } from './wire.js';
import { deserialize, serialize } from 'node:v8';

/**
 * The consumer side of the BullMQ broker: a BullMQ Worker whose
 * concurrency is the runner's thread slots, so that it takes a job off
 * Redis only when a slot is free. Each job it takes runs on the runner's
 * pool; the Worker's lock renewal runs on this main thread, which the
 * job's thread leaves free. Results, errors and progress go back through
 * BullMQ; retries and their backoff are BullMQ's, computed with baozi's
 * policy carried in the job's data.
 */
export class BullmqConsumer implements RemoteConsumer {
  readonly #settings: ConsumerSettings;
  readonly #worker: Worker;
  /** Running jobs' stop switches, by BullMQ id. */
  readonly #running = new Map<string, AbortController>();
  /** Set by a close that does not drain: jobs stopped now go back to the queue, not to failed. */
  #isReturning = false;
  /** Hears producers' cancels of running jobs (a subscribed connection can do nothing else). */
  readonly #subscriber: Redis;
  readonly #subscribed: Promise<unknown>;
  /** Cancels heard for jobs not running here, by id, oldest first: such a job is not started. */
  readonly #cancelled = new Map<string, { reason: string | undefined; at: number }>();

  constructor(options: ResolvedBullmqOptions, settings: ConsumerSettings) {
    this.#settings = settings;
    this.#worker = new Worker(options.queue, (job, token, signal) => this.#process(job, token, signal), {
      connection: { ...options.connection, maxRetriesPerRequest: null },
      prefix: options.prefix,
      concurrency: settings.slots,
      lockDuration: options.lockDuration,
      stalledInterval: options.stalledInterval,
      maxStalledCount: options.maxStalledCount,
      settings: { backoffStrategy: (attemptsMade, type, _error, job) => backoff(attemptsMade, type, job?.data) },
    });
    this.#worker.on('error', (error) => settings.brokerError(error));
    this.#subscriber = new Redis({ ...options.connection, lazyConnect: true, maxRetriesPerRequest: null });
    this.#subscriber.on('error', (error) => settings.brokerError(error));
    this.#subscriber.on('message', (_channel: string, text: string) => this.#heardCancel(text));
    // ioredis subscribes again by itself after a reconnect.
    this.#subscribed = this.#subscriber.connect().then(() => this.#subscriber.subscribe(cancelChannel(options)));
    this.#subscribed.catch(() => {});
  }

  ready(): Promise<void> {
    return Promise.all([this.#worker.waitUntilReady(), this.#subscribed]).then(() => {});
  }

  async close(drain: boolean): Promise<void> {
    if (!drain) {
      this.#isReturning = true;
      for (const controller of this.#running.values()) controller.abort(new Error('the consumer closed without draining'));
    }
    await this.#worker.close();
    await this.#subscriber.quit().catch(() => this.#subscriber.disconnect());
  }

  /** A producer cancelled a job: stop it if it runs here, else remember it for a while. */
  #heardCancel(text: string): void {
    const request = decodeCancel(text);
    if (!request) return;
    const running = this.#running.get(request.jobId);
    if (running) {
      running.abort(request.reason);
      return;
    }
    const now = Date.now();
    for (const [id, { at }] of this.#cancelled) {
      if (now - at < CANCEL_MEMORY_MS) break;
      this.#cancelled.delete(id);
    }
    this.#cancelled.delete(request.jobId);
    this.#cancelled.set(request.jobId, { reason: request.reason, at: now });
  }

  async #process(bullJob: BullJob, token: string | undefined, signal: AbortSignal | undefined): Promise<unknown> {
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
    if (wire.chord) wire.argsBytes = await withMemberResults(bullJob, wire.chord, wire.argsBytes);
    // Taken off Redis as a close without drain began: it never starts here.
    if (this.#isReturning && token !== undefined) return this.#returnToQueue(bullJob, token);
    // Checked in the same turn as the job joins #running: a cancel heard before or after finds it.
    const cancelled = this.#cancelled.get(info.jobId);
    if (cancelled) {
      this.#cancelled.delete(info.jobId);
      throw new UnrecoverableError(encodeFailure(new CancelledError(`Job ${info.jobId} (${info.task}) was cancelled before it started.`, { cause: cancelled.reason, job: info })));
    }
    const controller = new AbortController();
    const stop = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', stop, { once: true });
    this.#running.set(info.jobId, controller);
    try {
      const value = await this.#settings.run(
        {
          id: info.jobId,
          name: bullJob.name,
          args: wire.argsBytes,
          attempt: info.attempt,
          chunk: wire.chunk,
          timeout: wire.timeout,
          softTimeout: wire.softTimeout,
          onProgress: wire.progress ? (progress) => void bullJob.updateProgress(progress as JobProgress).catch((error: unknown) => this.#settings.brokerError(error)) : undefined,
        },
        controller.signal,
      );
      return encodeResult(value);
    } catch (error) {
      if (this.#isReturning && token !== undefined) return this.#returnToQueue(bullJob, token);
      const failure = encodeFailure(error as BaoziError);
      throw isRetryable(error) ? new Error(failure) : new UnrecoverableError(failure);
    } finally {
      signal?.removeEventListener('abort', stop);
      this.#running.delete(info.jobId);
    }
  }

  /** Back to the queue, unlocked, for another consumer: it did not finish here. */
  async #returnToQueue(bullJob: BullJob, token: string): Promise<never> {
    await bullJob.moveToWait(token);
    throw new WaitingError();
  }
}

async function withMemberResults(bullJob: BullJob, members: string[], argsBytes: Uint8Array): Promise<Uint8Array> {
  const values = (await bullJob.getChildrenValues()) as Record<string, unknown>;
  const byId = new Map(Object.entries(values).map(([key, value]) => [key.slice(key.lastIndexOf(':') + 1), value]));
  const results = members.map((id) => decodeResult(byId.get(id)));
  return serialize([results, ...(deserialize(argsBytes) as unknown[])]);
}

function backoff(attemptsMade: number, type: string | undefined, data: unknown): number {
  const retry = (data as Partial<WireJob> | undefined)?.retry;
  if (type !== 'baozi' || !retry) return 0;
  return computeBackoff({ ...retry, max: 0, retryOn: undefined } as RetryPolicy, attemptsMade);
}
