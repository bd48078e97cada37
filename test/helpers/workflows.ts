/**
 * Helpers for the workflow tests: a submitter over a real runner, gates a
 * string-argument job waits behind, and a garbage collector to measure heap.
 */
import { randomUUID } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BroadcastChannel } from 'node:worker_threads';
import type { Runner, RunnerOptions } from 'baozi';
import { chunkPathOf, registerChunkPath } from '../../lib/workflows/map-chunks.js';
import type { JobSubmitter } from '../../lib/workflows/workflow-types.js';
import type { TestTasks } from './runner.js';

/**
 * What workflows need of `runner`. `capacity` must be the one the runner was
 * created with (the runner has no getter for it yet).
 */
export function submitterOf(runner: Runner<TestTasks>, capacity: number): JobSubmitter<TestTasks> {
  const submitter = { submit: runner.submit.bind(runner), capacity };
  const chunkPath = chunkPathOf(runner);
  if (chunkPath) registerChunkPath(submitter, chunkPath);
  return submitter;
}

/** A runner from `make` and its submitter, with the same capacity. */
export function runnerWithSubmitter(
  make: (options?: Partial<RunnerOptions>) => Runner<TestTasks>,
  options: Partial<RunnerOptions> & { capacity: number },
): { runner: Runner<TestTasks>; submitter: JobSubmitter<TestTasks> } {
  const runner = make(options);
  return { runner, submitter: submitterOf(runner, options.capacity) };
}

/**
 * A gate for a `waitForBroadcast` job: pass `gate.name` as its argument;
 * `ready` resolves once the job listens in its thread, `open(value)` lets it
 * return `value`. Call `close()` when done.
 */
export function broadcastGate(): { name: string; ready: Promise<void>; open(value: unknown): void; close(): void } {
  const name = `gate-${randomUUID()}`;
  const channel = new BroadcastChannel(name);
  const ready = new Promise<void>((resolve) => {
    channel.onmessage = (event) => {
      if (((event as MessageEvent).data as { type?: string }).type === 'ready') resolve();
    };
  });
  return {
    name,
    ready,
    open: (value) => channel.postMessage({ type: 'release', value }),
    close: () => channel.close(),
  };
}

/**
 * A full garbage collection, so heap samples measure what is retained.
 * Node exposes `gc` only under `--expose-gc`; setting the flag at run time
 * and reading `gc` from a fresh context gives the same function.
 */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
