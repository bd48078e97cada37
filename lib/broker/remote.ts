import type { JobHandle } from '../job/job.js';
import type { ResolvedSubmitOptions } from '../admission/validate.js';
import type { ScheduleHandle, ScheduleSpec } from '../semantics/schedule.js';
import type { WorkflowHandle } from '../workflows/workflow-types.js';

/**
 * How a runner sees a broker that lives outside its process (BullMQ on
 * Redis): types only, so that `lib/runner.ts` never imports `bullmq` and
 * users of the in-process runner install nothing more. The implementation
 * is in `lib/broker/bullmq/`, reached through `baozi/bullmq`.
 *
 * Over such a broker the table is asynchronous and shared: the producer
 * side puts jobs on it (`RemoteProducer`), and BullMQ's own Worker takes
 * them, as many as the consumer has free thread slots (a few more per slot
 * while its jobs are quick), into the consumer's
 * local table (`RemoteConsumer`), from which its dispatcher runs them.
 */
export interface RemoteBroker {
  /** `'bullmq'`. */
  readonly kind: string;
  /** @internal Builds the producer side. */
  producer(settings: ProducerSettings): RemoteProducer;
  /** @internal Builds the consumer side. */
  consumer(settings: ConsumerSettings): RemoteConsumer;
}

export interface ProducerSettings {
  capacity: number;
  resultTtl: number;
  /** Reports an error of the broker's connections (never thrown: nobody may listen). */
  brokerError(error: unknown): void;
}

/** A job to put on the remote table; its arguments already checked and encoded. */
export interface RemoteSubmit {
  name: string;
  args: unknown[] | Uint8Array;
  isEncoded: boolean;
  options: ResolvedSubmitOptions;
  /** A `map` chunk: its number of inputs, and whether `args` is the flat form (`[count, arity, ...inputs]`, see `Chunk.payload`). */
  chunk?: { size: number; isFlat: boolean };
}

export interface RemoteProducer {
  /** Jobs waiting on the shared table, as last read (see `docs/bullmq.md` for how exact). */
  readonly size: number;
  /** Producers of this process waiting for room. */
  readonly blocked: number;
  /** Resolves with the handle once the job is on the table, waiting for room; rejects with `BrokerUnreachableError` if Redis does not answer. */
  put(job: RemoteSubmit, signal?: AbortSignal): Promise<JobHandle>;
  /** The handle now, or `TableFullError` (judged on the depth last read); the add itself finishes later. */
  tryPut(job: RemoteSubmit): JobHandle;
  /**
   * A periodic schedule kept by the broker, firing once across every
   * process (see `docs/bullmq.md`); `job` is the template of its jobs.
   */
  schedule(job: RemoteSubmit, spec: ScheduleSpec): ScheduleHandle;
  /** A chord kept by the broker: the callback runs once every member completed, whichever process is alive then. */
  chord(members: RemoteSubmit[], callback: RemoteSubmit): WorkflowHandle<unknown>;
  /** A job this process submitted and still follows. */
  find(id: string): JobHandle | undefined;
  /** A job by id from the broker, submitted by any process. */
  fetch(id: string): Promise<JobHandle | undefined>;
  /** Resolves once Redis answers. */
  ready(): Promise<void>;
  /** Resolves when no job this process follows is live and nobody waits for room. */
  onIdle(): Promise<void>;
  /** Rejects every waiting producer with `error`. */
  rejectBlocked(error: unknown): void;
  /** Stops following jobs (those still live reject with `error`) and closes the connections. */
  close(error: unknown): Promise<void>;
}

/** What a consumer asks its runner to run: a job taken off the remote table. */
export interface ConsumedJob {
  id: string;
  name: string;
  /** v8-serialized arguments, or the arguments themselves when they came as plain values. */
  args: Uint8Array | unknown[];
  /** 1 for the first run. */
  attempt: number;
  /** A `map` chunk: its number of inputs, and whether its arguments are the flat form. */
  chunk: { size: number; isFlat: boolean } | undefined;
  timeout: number | undefined;
  softTimeout: number | undefined;
  /** Set when the producer asked for progress (`onProgress`): reports then travel back. */
  onProgress: ((value: unknown) => void) | undefined;
}

/** A consumed job on the local table: its outcome, and how to stop it. */
export interface ConsumedRun {
  /** Resolves with the result, rejects with the job's `BaoziError`. */
  result: Promise<unknown>;
  /** Cancels it (`reason` as the `CancelledError`'s cause), queued or running. */
  stop(reason: unknown): void;
}

export interface ConsumerSettings {
  /** The consumer's thread slots: BullMQ's worker concurrency (more while its jobs are quick). */
  slots: number;
  /**
   * Puts the job on the local table, to run on the local pool. No
   * AbortSignal: one per job would cost a tiny job a share of its run.
   */
  run(job: ConsumedJob): ConsumedRun;
  /**
   * The task's thread time per job as measured on this consumer's threads,
   * in ms, when it is quick (see `RunSizer.quickEstimate`); undefined for a task
   * not measured yet or not quick.
   */
  quickJobMs(task: string): number | undefined;
  brokerError(error: unknown): void;
}

export interface RemoteConsumer {
  /** Resolves once the worker is connected and fetching. */
  ready(): Promise<void>;
  /** Stops fetching. `drain`: running jobs finish; otherwise they are returned to the queue and not left locked. */
  close(drain: boolean): Promise<void>;
}
