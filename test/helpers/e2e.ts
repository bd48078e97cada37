/**
 * Helpers for the end-to-end tests: runners that are always closed, a check
 * that no worker thread outlives its file, and small tools to observe
 * promises and events without sleeping.
 */
import { getEventListeners } from 'node:events';
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { runInThisContext } from 'node:vm';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from '@jest/globals';
import type { JobHandle, Runner, RunnerOptions } from 'baozi';
import { SettleLedger } from './ledger.js';
import { testRunner, type TestTasks } from './runner.js';

/** OS threads of this process, or `undefined` where `/proc` is missing. Worker threads are OS threads. */
export function osThreadCount(): number | undefined {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return undefined;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyRunner = Runner<any>;

// Handles a closed runner must not leave behind: its timers (time limits,
// grace periods, delays, backoffs, expiries, rate limits) and its channels.
const OWNED_RESOURCES = ['Timeout', 'Immediate', 'MessagePort'] as const;

function countResources(): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(OWNED_RESOURCES.map((type) => [type, 0]));
  for (const type of process.getActiveResourcesInfo()) if (type in counts) counts[type]!++;
  return counts;
}

function resourcesAbove(baseline: Record<string, number>): string[] {
  const now = countResources();
  return OWNED_RESOURCES.filter((type) => now[type]! > baseline[type]!).map((type) => `${now[type]! - baseline[type]!} more ${type}`);
}

/**
 * Registers hooks for a file of end-to-end tests and returns a runner
 * factory. After each test every runner it made (or was given to `track`)
 * is closed (a safety net: tests close their own), and then:
 * - every job those runners accepted settled exactly once, its state, its
 *   terminal event and its promise agreeing, a rejection being a
 *   `BaoziError` of that job (see `SettleLedger`);
 * - no runner reports a thread or a blocked producer;
 * - no signal from `abortController()` has an `abort` listener left;
 * - no more timers, immediates or message ports are active than before
 *   the test.
 * The file must end with no more OS threads than it started with, and
 * with no unhandled rejection or uncaught exception in the host process.
 */
export function useRunners(): {
  runner(options?: Partial<RunnerOptions>): Runner<TestTasks>;
  track<R extends AnyRunner>(runner: R): R;
  /** An AbortController for a test's jobs: its signal must have no listener left once the test's runners closed. */
  abortController(): AbortController;
  /** Asserts that no worker thread started by this file is still alive. */
  expectNoLiveThreads(): Promise<void>;
} {
  let baseline: number | undefined;
  let resourceBaseline: Record<string, number> = countResources();
  let runners: AnyRunner[] = [];
  let signals: AbortSignal[] = [];
  const ledger = new SettleLedger();
  const hostFailures: string[] = [];
  const host = hostProcess();
  const onUnhandled = (reason: unknown): void => void hostFailures.push(`unhandledRejection: ${describeFailure(reason)}`);
  const onUncaught = (error: unknown): void => void hostFailures.push(`uncaughtException: ${describeFailure(error)}`);

  beforeAll(async () => {
    host.on('unhandledRejection', onUnhandled);
    host.on('uncaughtExceptionMonitor', onUncaught);
    // The libuv pool starts its threads on first use; start them now so they
    // are part of the baseline.
    await stat('.');
    baseline = osThreadCount();
  });

  beforeEach(() => {
    resourceBaseline = countResources();
  });

  afterEach(async () => {
    const made = runners;
    runners = [];
    await Promise.all(made.map((runner) => runner.close({ drain: 'none' })));
    for (const runner of made) expect(runner.stats()).toMatchObject({ threads: 0, blocked: 0 });
    // Promise reactions of the last settles run before the ledger is read.
    await flush();
    expect(await ledger.takeProblems()).toEqual([]);
    const leftListeners = signals.map((signal) => getEventListeners(signal, 'abort').length).filter((count) => count > 0);
    signals = [];
    expect(leftListeners).toEqual([]);
    await expectNoLiveThreads();
    await expectBackTo(resourceBaseline);
  });

  // close() resolves once every worker of the runner has emitted 'exit'; the
  // OS may take a moment more to reap a thread, and there is no event for
  // that, so the count gets a generous second to settle.
  async function expectNoLiveThreads(): Promise<void> {
    if (baseline === undefined) return;
    const deadline = Date.now() + 1000;
    let now = osThreadCount();
    while (now !== undefined && now > baseline && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      now = osThreadCount();
    }
    if (now !== undefined) expect(now).toBeLessThanOrEqual(baseline);
  }

  // A message port closes a turn after close() on the other side, and
  // Jest's own timers come and go: the same generous second to settle.
  async function expectBackTo(resources: Record<string, number>): Promise<void> {
    const deadline = Date.now() + 1000;
    let above = resourcesAbove(resources);
    while (above.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      above = resourcesAbove(resources);
    }
    expect(above).toEqual([]);
  }

  afterAll(async () => {
    host.off('unhandledRejection', onUnhandled);
    host.off('uncaughtExceptionMonitor', onUncaught);
    expect(hostFailures).toEqual([]);
    await expectNoLiveThreads();
  });

  const track = <R extends AnyRunner>(runner: R): R => {
    if (runners.includes(runner)) return runner;
    runners.push(runner);
    ledger.watch(runner);
    return runner;
  };
  const abortController = (): AbortController => {
    const controller = new AbortController();
    signals.push(controller.signal);
    return controller;
  };
  return { runner: (options) => track(testRunner(options)), track, abortController, expectNoLiveThreads };
}

function describeFailure(value: unknown): string {
  return value instanceof Error ? (value.stack ?? `${value.name}: ${value.message}`) : String(value);
}

/** Lets every pending microtask and the callbacks already due run: one turn of the event loop, twice. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Watches whether a promise has settled. It observes a rejection (so none is
 * reported as unhandled); the caller still awaits `promise` for the outcome.
 */
export function track<T>(promise: Promise<T>): { readonly isSettled: boolean; readonly promise: Promise<T> } {
  let isSettled = false;
  promise.then(
    () => (isSettled = true),
    () => (isSettled = true),
  );
  return {
    get isSettled() {
      return isSettled;
    },
    promise,
  };
}

/** Resolves with what `promise` rejects with; fails if it resolves. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function rejectionOf(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** What `rejectionOf` gives when a function throws synchronously instead. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function thrownBy(fn: () => unknown): any {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the function to throw, but it returned');
}

/**
 * A gate a `waitForMessage` job waits behind: submit it with
 * `[gate.port]` as arguments and `{ transferList: [gate.port] }`, then
 * `open(value)` lets the job return `value`.
 */
export function gate(): { port: MessagePort; open(value?: unknown): void } {
  const { port1, port2 } = new MessageChannel();
  return { port: port2, open: (value = 'opened') => port1.postMessage(value) };
}

/**
 * Occupies a thread of `runner` with a `waitForMessage` job until `open()`.
 * The job must start at once: call it while a thread is free.
 */
export async function holdThread(runner: Runner<TestTasks>): Promise<{ job: JobHandle<unknown>; open(): void }> {
  const { port, open } = gate();
  const job = await runner.submit('waitForMessage', [port], { transferList: [port] });
  expect(job.state).toBe('running');
  return { job, open: () => open('released') };
}

/**
 * Submits an `announceThenSpin` job and resolves once the task really spins
 * in its thread (not merely dispatched).
 */
export async function startSpinning(runner: Runner<TestTasks>, options: { signal?: AbortSignal } = {}): Promise<JobHandle<unknown>> {
  const { port1, port2 } = new MessageChannel();
  const announced = new Promise((resolve) => port1.once('message', resolve));
  const job = await runner.submit('announceThenSpin', [port2], { ...options, transferList: [port2] });
  await announced;
  port1.close();
  return job;
}

/**
 * Submits an `announceThenAwaitThreadPool` job and resolves once its thread
 * is busy with thread-pool work, which makes terminating that thread slow.
 */
export async function startSlowToStop(runner: Runner<TestTasks>): Promise<JobHandle<unknown>> {
  const { port1, port2 } = new MessageChannel();
  const started = new Promise((resolve) => port1.once('message', resolve));
  const job = await runner.submit('announceThenAwaitThreadPool', [port2, 400_000], { transferList: [port2] });
  await started;
  port1.close();
  return job;
}

/** One line per job event, in the order the runner emitted them. */
export interface EventRecord {
  event: string;
  jobId: string;
  /** The job's state as the listener saw it. */
  state: string;
}

const JOB_EVENTS = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

/** Records every job event of `runner` into the returned array. */
export function recordJobEvents(runner: AnyRunner): EventRecord[] {
  const records: EventRecord[] = [];
  for (const event of JOB_EVENTS) {
    runner.on(event, ({ job }: { job: { id: string; state: string } }) => records.push({ event, jobId: job.id, state: job.state }));
  }
  return records;
}

/** Job ids of the `event` records, in order. */
export function idsOf(records: readonly EventRecord[], event: string): string[] {
  return records.filter((record) => record.event === event).map((record) => record.jobId);
}

/**
 * The host process. Jest gives tests a copy of `process` whose listeners
 * never hear process-wide events such as `unhandledRejection`.
 */
export function hostProcess(): NodeJS.Process {
  return runInThisContext('process') as NodeJS.Process;
}

/**
 * Resolves once `job` waits for a retry. Settling first fails the test with
 * the job's own outcome instead of leaving it waiting for an event that
 * will not come. Call it right after submit, before the first run ends.
 */
export function untilRetrying(runner: Runner<TestTasks>, job: JobHandle): Promise<void> {
  return new Promise((resolve, reject) => {
    const onRetrying = ({ job: retried }: { job: JobHandle }): void => {
      if (retried !== job) return;
      runner.off('retrying', onRetrying);
      resolve();
    };
    runner.on('retrying', onRetrying);
    job.result.then(
      (value) => reject(new Error(`expected job ${job.id} to wait for a retry, but it succeeded with ${String(value)}`)),
      reject,
    );
  });
}
