import { randomBytes } from 'node:crypto';
import { isDurable, type Broker, type DurableBroker, type StoredJob } from '../broker/contract.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { CancelledError, InvalidOptionError, JournalError, RunnerClosedError, TableFullError, WorkerCrashedError } from '../errors.js';
import { Job, type JobHandle } from '../job/job.js';
import { reviveJob, StoredJobHandle } from '../job/durable.js';
import { now } from '../clock.js';
import type { Lifecycle } from '../job/lifecycle.js';
import type { SubmitOptions } from '../options.js';
import { encodeArgs } from './codec.js';
import { resolveSubmitOptions, type ResolvedRunnerOptions } from './validate.js';

const ignore = (): void => {};

/** One job asked for, as `submit()`, `trySubmit()`, a schedule's tick or a `map` chunk asks. */
export interface AdmitRequest {
  name: unknown;
  args: unknown;
  options: SubmitOptions | undefined;
  /** `'wait'`: wait for room behind earlier producers; `'now'`: on the table now or a `TableFullError`. */
  mode: 'wait' | 'now';
  /** Withdraws the wait for room instead of the job's own `signal` (and is not the job's). */
  waitSignal?: AbortSignal;
  /**
   * Above 0, the job is a `map` chunk of that many inputs (`args` is then a
   * `Chunk.payload`), its task's time limits multiplied by it.
   */
  chunkSize?: number;
}

/** The job, and, when it waits for room, a promise of it once it is on the table. */
export interface Admitted<Result> {
  job: Job<Result>;
  admitted?: Promise<Job<Result>>;
}

export interface AdmissionParts {
  readonly lifecycle: Lifecycle;
  readonly broker: Broker<Job>;
  readonly dispatcher: Dispatcher;
  readonly options: ResolvedRunnerOptions;
}

/**
 * Admission: validates a job's options, encodes its arguments, gives it an
 * id and puts it where it goes: on the table, in line for room, or
 * scheduled. A live or kept `jobId` gives back that job instead.
 */
export class Admission {
  readonly #parts: AdmissionParts;
  /** The broker, when it outlives this process (a journal): a job is accepted once written. */
  readonly #durable: DurableBroker<Job> | undefined;
  /** Jobs given a `jobId` that still wait for room: that id submitted again waits for the same job. */
  readonly #waitingForRoom = new Map<string, Admitted<unknown> & { admitted: Promise<Job<unknown>> }>();
  readonly #idPrefix = `${randomBytes(4).toString('hex')}-`;
  #nextId = 0;
  /** A caller gave a `jobId` shaped like a generated one: generated ids then skip those in use. */
  #mayCollide = false;
  #isClosed = false;

  constructor(parts: AdmissionParts) {
    this.#parts = parts;
    this.#durable = isDurable(parts.broker) ? parts.broker : undefined;
  }

  /** From now on every job is refused with `RunnerClosedError`. */
  close(): void {
    this.#isClosed = true;
  }

  get isClosed(): boolean {
    return this.#isClosed || this.#parts.lifecycle.isClosing;
  }

  /** Admits one job. Throws for every refusal. */
  admit<Result>(request: AdmitRequest): Admitted<Result> {
    const { lifecycle, broker, dispatcher, options: runnerOptions } = this.#parts;
    const { name, args, options, mode, waitSignal, chunkSize = 0 } = request;
    // lifecycle.isClosing is set first thing in close(): a listener submitting during its first steps is refused too.
    if (this.isClosed) throw new RunnerClosedError();
    if (typeof name !== 'string' || name === '') throw new InvalidOptionError('name', name, 'a task name: a non-empty string');
    if (!Array.isArray(args)) throw new InvalidOptionError('args', args, "the task's arguments as an array");
    const at = Date.now();
    let resolved = resolveSubmitOptions(options, runnerOptions.defaults.get(name), at);
    if (chunkSize > 0 && (resolved.timeout !== undefined || resolved.softTimeout !== undefined)) {
      const scale = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.min(ms * chunkSize, Number.MAX_SAFE_INTEGER));
      resolved = { ...resolved, timeout: scale(resolved.timeout), softTimeout: scale(resolved.softTimeout) };
    }
    if (resolved.jobId !== undefined) {
      const existing = lifecycle.find(resolved.jobId);
      if (existing) return { job: existing as Job<Result> };
      const waiting = this.#waitingForRoom.get(resolved.jobId);
      if (waiting) {
        // Not on the table yet, and its wait may still be withdrawn.
        if (mode === 'now') throw new TableFullError(broker.capacity);
        return waiting as Admitted<Result>;
      }
      // A settled job read back is a handle like a job's, and all the callers use of it.
      const stored = this.#findStored(resolved.jobId);
      if (stored) return stored as Admitted<Result>;
    }
    if (resolved.signal?.aborted) throw new CancelledError('The job was not submitted: its signal had already aborted.', { cause: resolved.signal.reason });
    const runAt = resolved.runAt !== undefined && resolved.runAt > at ? resolved.runAt : undefined;
    if (this.#durable && resolved.transferList?.some((item) => !(item instanceof ArrayBuffer))) {
      throw new InvalidOptionError('transferList', resolved.transferList, 'only ArrayBuffers with a journal: a MessagePort cannot be written to disk');
    }
    if (resolved.jobId?.startsWith(this.#idPrefix)) this.#mayCollide = true;
    const id = resolved.jobId ?? this.newId();
    const encoded = encodeArgs(args, { transferList: resolved.transferList, maxPayloadBytes: runnerOptions.maxPayloadBytes, job: { jobId: id, task: name, attempt: 1 } });
    const job = new Job<Result>(lifecycle, id, name, encoded.args, encoded.isEncoded, resolved, now());
    job.chunkSize = chunkSize;
    if (runAt !== undefined) {
      lifecycle.schedule(job as Job, runAt);
      return this.#written(job);
    }
    if (broker.tryPut(job as Job)) {
      const accepted = this.#written(job);
      dispatcher.pump();
      return accepted;
    }
    if (mode === 'now') throw new TableFullError(broker.capacity);
    // Waiting producers are admitted in arrival order: this one goes behind them.
    let admitted = broker.put(job as Job, waitSignal ?? resolved.signal) as Promise<Job<Result>>;
    if (this.#durable) admitted = this.#whenWritten(job, admitted);
    if (resolved.jobId !== undefined) this.#waitForRoom(resolved.jobId, job, admitted);
    return { job, admitted };
  }

  /** A live job, one waiting for room, or one the journal has. */
  find(id: string): JobHandle | undefined {
    return this.#parts.lifecycle.find(id) ?? this.#waitingForRoom.get(id)?.job ?? this.#findStored(id)?.job;
  }

  /** A job a dead process left in the journal made live: due later, on the table, or in line for room. */
  readmit(stored: StoredJob): Admitted<unknown> {
    const { lifecycle, broker, dispatcher, options } = this.#parts;
    const job = reviveJob(lifecycle, stored, options.defaults.get(stored.name));
    if ((stored.redeliveries ?? 0) > options.journal!.maxRedeliveries) {
      // Its attempt is the run that died last, not the one it is denied.
      job.attempt = stored.attempt - 1;
      lifecycle.abandoned(job, new WorkerCrashedError('host', undefined, { job: job.info }));
      return { job };
    }
    if (stored.runAt !== undefined && stored.runAt > Date.now()) {
      lifecycle.scheduleUnbounded(job, stored.runAt);
      return { job };
    }
    if (broker.tryPut(job)) {
      dispatcher.pump();
      return { job };
    }
    const admitted = broker.put(job);
    this.#waitForRoom(job.id, job, admitted);
    return { job, admitted };
  }

  /** Keeps `job`, waiting for room, findable by `jobId` until it is admitted or its wait ends. */
  #waitForRoom<Result>(jobId: string, job: Job<Result>, admitted: Promise<Job<Result>>): void {
    this.#waitingForRoom.set(jobId, { job, admitted } as Admitted<unknown> & { admitted: Promise<Job<unknown>> });
    const forget = (): void => void this.#waitingForRoom.delete(jobId);
    admitted.then(forget, forget);
  }

  /**
   * A job the journal has by id: one a dead process left, which becomes a
   * live job now instead of when recovery reaches it, or a settled one
   * read back.
   */
  #findStored(id: string): { job: JobHandle; admitted?: Promise<unknown> } | undefined {
    const found = this.#durable?.find(id);
    if (!found) return undefined;
    if ('outcome' in found) return { job: new StoredJobHandle(found) };
    return this.readmit(found);
  }

  /** The job accepted as it is: with a journal, once its group is written. */
  #written<Result>(job: Job<Result>): Admitted<Result> {
    return this.#durable ? { job, admitted: this.#whenWritten(job, this.#durable.written()) } : { job };
  }

  /**
   * With a journal, a job is accepted once written: a write that failed
   * cancels the job (it may have started meanwhile) and rejects the
   * producer with the `JournalError`.
   */
  #whenWritten<Result>(job: Job<Result>, written: Promise<unknown>): Promise<Job<Result>> {
    const accepted = written.then(
      () => job,
      (error: unknown) => {
        if (error instanceof JournalError && !job.isSettled) {
          const cancelled = new CancelledError(`Job ${job.id} (${job.name}) was not accepted: the journal could not write it.`, { cause: error, job: job.info });
          this.#parts.lifecycle.cancel(job as Job, cancelled, false);
        }
        throw error;
      },
    );
    // trySubmit() does not wait for the write: its job's promise says what became of it.
    accepted.catch(ignore);
    return accepted;
  }

  /** A new job id, unlike any a live, kept or waiting job has. */
  newId(): string {
    let id = `${this.#idPrefix}${(this.#nextId++).toString(36)}`;
    // Two live jobs must never share an id (issue 16); the check costs nothing until a caller picks such an id.
    while (this.#mayCollide && (this.#parts.lifecycle.find(id) || this.#waitingForRoom.has(id))) id = `${this.#idPrefix}${(this.#nextId++).toString(36)}`;
    return id;
  }
}
