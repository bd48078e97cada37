import { BroadcastChannel } from 'node:worker_threads';
import { describe, expect, it } from '@jest/globals';
import { CancelledError, createRunner, WorkerCrashedError, type Runner, type RunnerOptions } from 'baozi';
import { idsOf, recordJobEvents, rejectionOf, useRunners } from '../helpers/e2e.js';

type PrefetchTasks = typeof import('../fixtures/prefetch-tasks.js');
const TASKS = new URL('../fixtures/prefetch-tasks.js', import.meta.url);

const runners = useRunners();

function prefetchRunner(options: Partial<RunnerOptions<PrefetchTasks>> = {}): Runner<PrefetchTasks> {
  return runners.track(createRunner<PrefetchTasks>({ tasks: TASKS, minThreads: 1, maxThreads: 1, batching: 'off', ...options }));
}

/** Most jobs running at once (`stats().running`) while `work` runs. */
async function mostRunningDuring(runner: Runner<PrefetchTasks>, work: () => Promise<unknown>): Promise<number> {
  let most = 0;
  const onRunning = (): void => void (most = Math.max(most, runner.stats().running));
  runner.on('running', onRunning);
  try {
    await work();
  } finally {
    runner.off('running', onRunning);
  }
  return most;
}

/**
 * Runs `calls` jobs at once, round after round, until a round had two jobs
 * per thread running: the task is then measured quick. A round measured
 * slow (this machine is shared) only delays that point.
 */
async function untilPrefetching(runner: Runner<PrefetchTasks>, threads: number, call: () => Promise<unknown>): Promise<void> {
  await runner.ready();
  for (let round = 0; round < 100; round++) {
    if ((await mostRunningDuring(runner, () => Promise.all(Array.from({ length: 2 * threads }, call)))) === 2 * threads) return;
  }
  throw new Error('no job was ever prefetched');
}

/** A BroadcastChannel gate for `hold(name)` jobs: `ready(n)` once n jobs wait behind it, `release()` lets them return. */
function broadcastGate(name: string): { ready(count: number): Promise<void>; release(): void } {
  const channel = new BroadcastChannel(name);
  let waiting = 0;
  let onReady: (() => void) | undefined;
  let wanted = 0;
  channel.onmessage = (event) => {
    if ((event as MessageEvent).data === 'ready' && ++waiting >= wanted) onReady?.();
  };
  return {
    ready: (count) =>
      new Promise<void>((resolve) => {
        wanted = count;
        onReady = resolve;
        if (waiting >= count) resolve();
      }),
    release: () => {
      channel.postMessage('release');
      channel.close();
    },
  };
}

describe('prefetch', () => {
  it('sends each thread the next quick job while it runs one, and every job comes back right', async () => {
    const runner = prefetchRunner({ maxThreads: 2, minThreads: 2 });
    await untilPrefetching(runner, 2, () => runner.run('add', 1, 1));

    let results: number[] = [];
    const most = await mostRunningDuring(runner, async () => {
      results = await Promise.all(Array.from({ length: 300 }, (_, i) => runner.run('add', i, 1)));
    });
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(most).toBe(4);
    expect(runner.stats()).toMatchObject({ running: 0, queued: 0, failed: 0 });
  });

  it("with prefetch 'off', never has more jobs running than threads", async () => {
    const runner = prefetchRunner({ maxThreads: 2, minThreads: 2, prefetch: 'off' });
    await runner.ready();
    for (let i = 0; i < 10; i++) await runner.run('add', i, 1);
    const most = await mostRunningDuring(runner, () => Promise.all(Array.from({ length: 300 }, (_, i) => runner.run('add', i, 1))));
    expect(most).toBe(2);
  });

  it('runs one job at a time in a thread: an async task never overlaps the job sent behind it, and each sees its own context', async () => {
    const runner = prefetchRunner({ maxThreads: 2, minThreads: 2 });
    await untilPrefetching(runner, 2, () => runner.run('overlap'));

    const handles = await Promise.all(Array.from({ length: 100 }, () => runner.submit('overlap', [])));
    const outcomes = await Promise.all(handles.map((job) => job.result));
    expect(outcomes.map((outcome) => outcome.mostInFlight)).toEqual(outcomes.map(() => 1));
    expect(outcomes.map((outcome) => outcome.jobId)).toEqual(handles.map((job) => job.id));
  });

  it('CA2: a prefetched job counts as running; cancelled there, it settles at once, and its thread runs on', async () => {
    const runner = prefetchRunner();
    await untilPrefetching(runner, 1, () => runner.run('hold'));
    await untilPrefetching(runner, 1, () => runner.run('add', 1, 2));
    const thread = await runner.run('hold');

    const gate = broadcastGate('prefetch-cancel');
    const held = await runner.submit('hold', ['prefetch-cancel']);
    const waiting = await runner.submit('add', [2, 3]);
    await gate.ready(1);
    expect(waiting.state).toBe('running');
    expect(runner.stats().running).toBe(2);

    expect(waiting.cancel('not needed')).toBe(true);
    expect(await rejectionOf(waiting.result)).toBeInstanceOf(CancelledError);
    expect(held.state).toBe('running');

    gate.release();
    expect(await held.result).toBe(thread);
    // The same thread: nothing was terminated, and the cancelled job's result came back late.
    expect(await runner.run('hold')).toBe(thread);
    expect(runner.stats()).toMatchObject({ cancelled: 1, workerErrors: 0, lateResults: 1 });
  });

  it('BP5: keeps priorities: only the next job in line is prefetched, so a later job of higher priority still goes first', async () => {
    const runner = prefetchRunner();
    await untilPrefetching(runner, 1, () => runner.run('hold'));
    await untilPrefetching(runner, 1, () => runner.run('add', 1, 2));
    const records = recordJobEvents(runner);

    const gate = broadcastGate('prefetch-priority');
    const held = await runner.submit('hold', ['prefetch-priority']);
    const next = await runner.submit('add', [0, 0]);
    const low = await Promise.all([1, 2, 3].map((i) => runner.submit('add', [i, 0])));
    const high = await runner.submit('add', [9, 0], { priority: 5 });
    await gate.ready(1);
    expect(runner.stats()).toMatchObject({ running: 2, queued: 4 });

    gate.release();
    await Promise.all([held, next, ...low, high].map((job) => job.result));
    expect(idsOf(records, 'running')).toEqual([held, next, high, ...low].map((job) => job.id));
  });

  it('CA2: sends no job behind one with a time limit or a signal, and no such job to a busy thread', async () => {
    const runner = prefetchRunner();
    await untilPrefetching(runner, 1, () => runner.run('hold'));
    await untilPrefetching(runner, 1, () => runner.run('add', 1, 2));

    const first = broadcastGate('prefetch-limited-first');
    const limited = await runner.submit('hold', ['prefetch-limited-first'], { timeout: 60_000 });
    const quick = await runner.submit('add', [1, 1]);
    await first.ready(1);
    expect([limited.state, quick.state]).toEqual(['running', 'queued']);
    first.release();
    expect(await Promise.all([limited.result, quick.result])).toEqual([expect.any(Number), 2]);

    const second = broadcastGate('prefetch-limited-second');
    const held = await runner.submit('hold', ['prefetch-limited-second']);
    const limitedNext = await runner.submit('add', [2, 2], { timeout: 60_000 });
    await second.ready(1);
    expect([held.state, limitedNext.state]).toEqual(['running', 'queued']);
    second.release();
    expect(await Promise.all([held.result, limitedNext.result])).toEqual([expect.any(Number), 4]);

    const controller = runners.abortController();
    const third = broadcastGate('prefetch-limited-third');
    const signalled = await runner.submit('hold', ['prefetch-limited-third'], { signal: controller.signal });
    const afterSignalled = await runner.submit('add', [3, 3]);
    await third.ready(1);
    expect([signalled.state, afterSignalled.state]).toEqual(['running', 'queued']);
    third.release();
    expect(await Promise.all([signalled.result, afterSignalled.result])).toEqual([expect.any(Number), 6]);
  });

  it.each(['add', 'addSoon'] as const)(
    'CR6: a %s job prefetched behind one that kills its thread never started there: it is sent again, transparently, and succeeds',
    async (task) => {
      const runner = prefetchRunner();
      await untilPrefetching(runner, 1, () => runner.run('exitSoon'));
      await untilPrefetching(runner, 1, () => runner.run(task, 1, 2));
      const records = recordJobEvents(runner);

      const dying = await runner.submit('exitSoon', [7]);
      const waiting = await runner.submit(task, [3, 4]);
      expect(waiting.state).toBe('running');
      const error = await rejectionOf(dying.result);
      expect(error).toBeInstanceOf(WorkerCrashedError);
      expect(error).toMatchObject({ code: 'BAOZI_WORKER_CRASHED', exitCode: 7 });
      expect(await waiting.result).toBe(7);
      // Queued, running and settled once each: the second send does not show.
      expect(records.filter((record) => record.jobId === waiting.id).map((record) => record.event)).toEqual(['queued', 'running', 'succeeded']);
      expect(waiting.attempt).toBe(1);
      expect(runner.stats()).toMatchObject({ running: 0, failed: 1 });
    },
  );

  it.each([
    ['close({ drain: "none" })', 'prefetch-hung-no-drain', { drain: 'none' }],
    ['close({ deadlineMs })', 'prefetch-hung-deadline', { deadlineMs: 50 }],
  ] as const)('SD2: %s ends a hung job of a quick task and the one prefetched behind it, and resolves', async (_, gateName, closeOptions) => {
    const runner = prefetchRunner({ cancelGraceMs: 0 });
    await untilPrefetching(runner, 1, () => runner.run('hold'));
    await untilPrefetching(runner, 1, () => runner.run('add', 1, 2));
    const gate = broadcastGate(gateName);
    const hung = await runner.submit('hold', [gateName]);
    const behind = await runner.submit('add', [1, 1]);
    await gate.ready(1);
    expect(behind.state).toBe('running');

    const report = await runner.close(closeOptions);
    gate.release();
    expect(report).toMatchObject({ cancelled: 2 });
    for (const job of [hung, behind]) expect(await rejectionOf(job.result)).toBeInstanceOf(CancelledError);
  });

  it('CA2: cancelling a hung job of a quick task terminates its thread when nothing waits behind it, and the slot frees', async () => {
    const runner = prefetchRunner();
    await untilPrefetching(runner, 1, () => runner.run('hold'));
    const thread = await runner.run('hold');
    const gate = broadcastGate('prefetch-cancel-hung');
    const hung = await runner.submit('hold', ['prefetch-cancel-hung']);
    await gate.ready(1);

    expect(hung.cancel('stuck')).toBe(true);
    expect(await rejectionOf(hung.result)).toBeInstanceOf(CancelledError);
    gate.release();
    const next = await runner.run('hold');
    expect(next).not.toBe(thread);
    expect(runner.stats()).toMatchObject({ running: 0, cancelled: 1, succeeded: expect.any(Number) });
  });

  it('CA2: cancelling a hung job of a quick task with a job prefetched behind it terminates the thread; the job behind had not started and is sent again', async () => {
    const runner = prefetchRunner();
    await untilPrefetching(runner, 1, () => runner.run('hold'));
    await untilPrefetching(runner, 1, () => runner.run('add', 1, 2));
    const gate = broadcastGate('prefetch-cancel-ahead');
    const hung = await runner.submit('hold', ['prefetch-cancel-ahead']);
    const behind = await runner.submit('add', [1, 1]);
    await gate.ready(1);
    expect(behind.state).toBe('running');

    expect(hung.cancel('stuck')).toBe(true);
    expect(await rejectionOf(hung.result)).toBeInstanceOf(CancelledError);
    expect(await behind.result).toBe(2);
    gate.release();
    expect(behind.attempt).toBe(1);
  });

  it('CA2: cancelling a job whose reply is already in, from a listener of another job, terminates no thread a next job goes to', async () => {
    const runner = prefetchRunner({ minThreads: 2, maxThreads: 2 });
    await untilPrefetching(runner, 2, () => runner.run('add', 1, 2));
    const crashes: unknown[] = [];
    for (let round = 0; round < 20; round++) {
      const jobs = [await runner.submit('add', [1, 1]), await runner.submit('add', [2, 2])];
      const next: Promise<unknown>[] = [];
      runner.once('succeeded', ({ job }) => {
        jobs.find((candidate) => candidate !== job)!.cancel('first result wins');
        next.push(runner.run('add', 3, 3).catch((error: unknown) => crashes.push(error)));
      });
      // Both threads reply while the main thread is busy: Piscina reads both replies at once.
      const until = performance.now() + 30;
      while (performance.now() < until);
      await Promise.allSettled(jobs.map((job) => job.result));
      await Promise.all(next);
    }
    expect(crashes).toEqual([]);
    expect(runner.stats().workerErrors).toBe(0);
  });

  it('with concurrentTasksPerWorker 2, cancelling a job without a signal fails no job placed on its thread next', async () => {
    const runner = prefetchRunner({ concurrentTasksPerWorker: 2 });
    await runner.ready();
    for (let i = 0; i < 10; i++) await runner.run('hold');
    const gate = broadcastGate('prefetch-shared-cancel');
    const held = await runner.submit('hold', ['prefetch-shared-cancel']);
    await gate.ready(1);
    expect(held.cancel('not needed')).toBe(true);
    // The thread still runs the cancelled job (nothing terminates a shared thread): the next one shares it.
    expect(await runner.run('add', 2, 3)).toBe(5);
    gate.release();
  });

  it('sends a quick job to a free slot on a thread of its own, starting one if need be, never behind a running job', async () => {
    const runner = prefetchRunner({ minThreads: 1, maxThreads: 2 });
    await untilPrefetching(runner, 1, () => runner.run('hold'));
    await untilPrefetching(runner, 1, () => runner.run('add', 1, 2));
    const gate = broadcastGate('prefetch-free-slot');
    const held = await runner.submit('hold', ['prefetch-free-slot']);
    await gate.ready(1);

    // A slot is free: the job goes to a second thread (started now), not behind the held one.
    expect(await runner.run('add', 2, 3)).toBe(5);
    expect(held.state).toBe('running');
    gate.release();
    await held.result;
  });

  it.each(['add', 'addSoon'] as const)('CR6: a job that kills its thread as it starts never takes down the finished %s job it was waiting behind', async (task) => {
    const runner = prefetchRunner();
    let trials = 0;
    for (let attempt = 0; attempt < 120 && trials < 30; attempt++) {
      await untilPrefetching(runner, 1, () => runner.run(task, 1, 2));
      await untilPrefetching(runner, 1, () => runner.run('exitNow'));
      // Sent together, so that the thread finds both in its port at once.
      const [finished, dying] = await Promise.all([runner.submit(task, [2, 3]), runner.submit('exitNow', [9])]);
      // Counts only when the dying job was sent behind the other (prefetched), not after it.
      if (dying.state === 'running') trials++;
      expect(await finished.result).toBe(5);
      expect(await rejectionOf(dying.result)).toMatchObject({ code: 'BAOZI_WORKER_CRASHED', exitCode: 9 });
    }
    // How often the dying job lands behind the other depends on timing: alone it does 30 times in
    // about 35 rounds; on a loaded 2-core machine far fewer, so the bound asks for half of that.
    expect(trials).toBeGreaterThanOrEqual(15);
    // Up to 120 rounds of warm-ups and thread deaths: ~5 s alone, over 20 s on a loaded 2-core machine.
  }, 60_000);
});
