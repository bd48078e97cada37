/**
 * How `map` reaches a runner's chunk path: `map` sends consecutive inputs
 * to a thread as one job (a chunk; see lib/dispatch/chunk.ts and
 * chunk-window.ts), sized by the runner's one `RunSizer`, and the runner
 * submits it on the normal path, where it travels as a job of a run.
 */
import type { ChunkResult, JobFailure } from '../../workers/protocol.js';
import type { RunSizer } from '../dispatch/run-sizer.js';
import type { JobHandle } from '../job/job.js';

// Each runner's chunk path, out of its public type: `map` finds it here.
const chunkPaths = new WeakMap<object, ChunkSubmitter>();

/** Gives `map` a way to send chunks through `owner` (a runner registers itself as it is created). */
export function registerChunkPath(owner: object, path: ChunkSubmitter): void {
  chunkPaths.set(owner, path);
}

/** The chunk path of a submitter; without one, `map` sends each input as its own job. */
export function chunkPathOf(submitter: object): ChunkSubmitter | undefined {
  return chunkPaths.get(submitter);
}

/** What became of an input that failed inside a chunk. */
export type ItemFailure = { error: unknown; job?: undefined } | { job: JobHandle; error?: undefined };

/** A runner's way in for `map` chunks, on the normal path (table, events, cancellation, close). */
export interface ChunkSubmitter {
  /** Runs at once (threads × jobs per thread). */
  readonly slots: number;
  /** The runner's sizer, which every run (chunks, batches, single jobs) feeds: a chunk takes `sizer.size(name, max)` inputs. */
  readonly sizer: RunSizer;
  /** Whether jobs of `name` may travel in chunks: not when a rate limit counts its starts. */
  canChunk(name: string): boolean;
  /**
   * Submits one job that runs `name` once per input and resolves with every
   * outcome; `payload` is `Chunk.payload` (see `RunJob.inputs`), `count` its
   * number of inputs.
   */
  submit(name: string, payload: unknown[], count: number): Promise<JobHandle<ChunkResult>>;
  /**
   * An input of `chunk` failed. Gives the error it settles with, as its
   * run as a job of its own would have, or, when its task's retry policy
   * (or the task itself, through `retry()`) may run it again, the job that
   * now does.
   */
  failItem(chunk: JobHandle, args: unknown[], failure: JobFailure): ItemFailure;
}
