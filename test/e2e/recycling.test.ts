import { describe, expect, it } from '@jest/globals';
import { createRunner, InvalidOptionError, TaskError, type RunnerOptions } from 'baozi';
import { rejectionOf, thrownBy, useRunners } from '../helpers/e2e.js';

type RecycleTasks = typeof import('../fixtures/recycle-tasks.js');
const TASKS = new URL('../fixtures/recycle-tasks.js', import.meta.url);

const runners = useRunners();

function recyclingRunner(options: Partial<RunnerOptions<RecycleTasks>>) {
  return runners.track(createRunner<RecycleTasks>({ tasks: TASKS, minThreads: 1, maxThreads: 2, ...options }));
}

/** Resolves once `count` threads have been recycled, with each event's reason. */
function recycled(runner: ReturnType<typeof recyclingRunner>, count: number): Promise<string[]> {
  const reasons: string[] = [];
  return new Promise((resolve) =>
    runner.on('workerRecycled', ({ reason }) => {
      reasons.push(reason);
      if (reasons.length === count) resolve([...reasons]);
    }),
  );
}

function jobsPerThread(threadIds: number[]): number[] {
  const counts = new Map<number, number>();
  for (const id of threadIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  return [...counts.values()];
}

describe('worker recycling', () => {
  it('replaces a thread after maxJobsPerWorker jobs, and every job succeeds', async () => {
    // Transparent batching could carry a thread past the limit by the rest of its batch.
    const runner = recyclingRunner({ maxJobsPerWorker: 3, batching: 'off' });
    const reasons: string[] = [];
    runner.on('workerRecycled', ({ reason }) => reasons.push(reason));
    const threadIds = await Promise.all(Array.from({ length: 30 }, () => runner.run('whichThread')));

    const perThread = jobsPerThread(threadIds);
    expect(perThread.every((jobs) => jobs <= 3)).toBe(true);
    expect(perThread.length).toBeGreaterThanOrEqual(10);
    expect(runner.stats().succeeded).toBe(30);
    // Each thread that ran its 3 jobs retires; the last ones may still be on their way out.
    const retiring = perThread.filter((jobs) => jobs === 3).length;
    if (reasons.length < retiring) await recycled(runner, retiring - reasons.length);
    expect(reasons).toEqual(Array(retiring).fill('jobs'));
    expect(runner.health().recycledThreads).toBe(retiring);
    await runner.close();
  });

  it('counts failed jobs too, and a failure on the last job still reaches its job', async () => {
    const runner = recyclingRunner({ maxThreads: 1, maxJobsPerWorker: 2 });
    const first = await rejectionOf(runner.run('failOn'));
    const afterFirst = await runner.run('whichThread');
    const second = await rejectionOf(runner.run('failOn'));
    const afterSecond = await runner.run('whichThread');

    expect(first).toBeInstanceOf(TaskError);
    expect(first.cause.message).toBe(`failed on thread ${afterFirst}`);
    expect(second).toBeInstanceOf(TaskError);
    expect(second.cause.message).toBe(`failed on thread ${afterSecond}`);
    expect(afterSecond).not.toBe(afterFirst);
    await runner.close();
  });

  it('lets the retiring thread finish its job before it goes', async () => {
    const runner = recyclingRunner({ maxThreads: 1, maxJobsPerWorker: 1 });
    const first = runner.run('slowWhichThread', 30);
    const second = runner.run('slowWhichThread', 1);
    const [a, b] = await Promise.all([first, second]);
    expect(b).not.toBe(a);
    expect(runner.stats()).toMatchObject({ succeeded: 2, failed: 0 });
    await runner.close();
  });

  it('recycles threads that run several jobs at once (concurrentTasksPerWorker) once each is idle', async () => {
    const runner = recyclingRunner({ maxThreads: 2, concurrentTasksPerWorker: 3, maxJobsPerWorker: 4, batching: 'off' });
    const threadIds = await Promise.all(Array.from({ length: 24 }, (_, i) => runner.run('slowWhichThread', i % 3)));
    expect(threadIds).toHaveLength(24);
    expect(new Set(threadIds).size).toBeGreaterThanOrEqual(4);
    expect(runner.stats()).toMatchObject({ succeeded: 24, failed: 0 });
    await runner.close();
  });

  it('replaces a thread whose heap passes maxHeapPerWorkerMb, after its job', async () => {
    const runner = recyclingRunner({ maxThreads: 1, maxHeapPerWorkerMb: 24 });
    const firstRecycle = recycled(runner, 1);
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await runner.run('retain', 4));

    expect(await firstRecycle).toEqual(['heap']);
    expect(new Set(results.map((result) => result.threadId)).size).toBeGreaterThanOrEqual(2);
    // Each thread stops at the first check past the limit: 24 MiB, and at most one 4 MiB step more.
    expect(Math.max(...results.map((result) => result.retainedMb))).toBeLessThanOrEqual(28);
    await runner.close();
  });

  it.each([
    ['maxJobsPerWorker', 0],
    ['maxJobsPerWorker', 1.5],
    ['maxJobsPerWorker', Number.NaN],
    ['maxJobsPerWorker', Infinity],
    ['maxJobsPerWorker', '10'],
    ['maxHeapPerWorkerMb', 0],
    ['maxHeapPerWorkerMb', -1],
    ['maxHeapPerWorkerMb', Number.NaN],
    ['maxHeapPerWorkerMb', Infinity],
    ['maxHeapPerWorkerMb', '64'],
  ])('rejects %s: %p with InvalidOptionError, starting no thread', (option, value) => {
    const error = thrownBy(() => createRunner<RecycleTasks>({ tasks: TASKS, [option]: value }));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.code).toBe('BAOZI_INVALID_OPTION');
    expect(error.message).toContain(option);
  });
});
