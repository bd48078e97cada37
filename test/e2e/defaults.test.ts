import { availableParallelism } from 'node:os';
import { describe, expect, it } from '@jest/globals';
import { createRunner } from 'baozi';
import { TASKS, type TestTasks } from '../helpers/runner.js';
import { useRunners } from '../helpers/e2e.js';

const runners = useRunners();

describe('A runner with only `tasks` set', () => {
  // Issue 12: with idleTimeout 0, the thread above minThreads stopped between
  // two map chunks and started again for the next (80 starts for 100k inputs).
  it('keeps its threads through a map over 20,000 inputs: no thread is started twice', async () => {
    const runner = runners.track(createRunner<TestTasks>({ tasks: TASKS }));
    const seen = new Set<number>();
    for await (const id of runner.map('threadIdNow', Array.from({ length: 20_000 }, (_, i) => i))) seen.add(id);
    expect(seen.size).toBeGreaterThanOrEqual(1);
    // One id per thread that ever ran a chunk: no more than maxThreads (its default).
    expect(seen.size).toBeLessThanOrEqual(availableParallelism());
    expect(runner.health().recycledThreads).toBe(0);
    await runner.close();
  });
});
