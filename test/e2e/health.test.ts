import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { createRunner, RunnerClosedError, TaskLoadError } from 'baozi';
import { rejectionOf, useRunners } from '../helpers/e2e.js';

const runners = useRunners();

const CRASHING = new URL('../fixtures/crash-on-load-tasks.js', import.meta.url);
const BROKEN = new URL('../fixtures/broken-tasks.js', import.meta.url);
const HANGING = new URL('../fixtures/hanging-tasks.js', import.meta.url);
type CrashingTasks = typeof import('../fixtures/crash-on-load-tasks.js');

/** A runner over the module that kills its thread as it loads, the first `times` loads (all, when undefined). */
function crashingRunner(times?: number) {
  const countFile = join(mkdtempSync(join(tmpdir(), 'baozi-crash-')), 'loads');
  const env = times === undefined ? undefined : { CRASH_COUNT_FILE: countFile, CRASH_TIMES: String(times) };
  const runner = runners.track(createRunner<CrashingTasks>({ tasks: CRASHING, minThreads: 1, maxThreads: 1, ...(env && { env }) }));
  return { runner, loads: () => readFileSync(countFile, 'utf8').length };
}

describe('health and ready()', () => {
  it('ready() resolves once a thread loaded the task module, and health() says ok', async () => {
    const runner = runners.runner();
    await runner.ready();
    expect(runner.health()).toMatchObject({ ok: true, taskModule: 'loaded', startFailures: 0, lastError: undefined });
    await runner.close();
    expect(runner.health().ok).toBe(false);
    expect(await rejectionOf(runner.ready())).toBeInstanceOf(RunnerClosedError);
  });

  it('ready() with minThreads 0 waits for the first job’s thread to load the module', async () => {
    const runner = runners.runner({ minThreads: 0, maxThreads: 1 });
    let isReady = false;
    const ready = runner.ready().then(() => (isReady = true));
    expect(runner.health()).toMatchObject({ taskModule: 'loading', threads: 0 });
    expect(isReady).toBe(false);
    expect(await runner.run('add', 1, 2)).toBe(3);
    await ready;
    expect(runner.health()).toMatchObject({ ok: true, taskModule: 'loaded' });
    await runner.close();
  });

  it('BI9: ready() rejects with TaskLoadError when the module throws as it loads; health() reports it', async () => {
    const runner = runners.track(createRunner({ tasks: BROKEN, minThreads: 1, maxThreads: 1 }));
    const error = await rejectionOf(runner.ready());
    expect(error).toBeInstanceOf(TaskLoadError);
    expect(error.code).toBe('BAOZI_TASK_LOAD');
    expect(error.cause.message).toBe('broken at load time');
    const health = runner.health();
    expect(health).toMatchObject({ ok: false, taskModule: 'failed', startFailures: 0 });
    expect(health.lastError).toBeInstanceOf(TaskLoadError);
    await runner.close();
  });

  describe('when the task module kills its thread as it loads', () => {
    it('BI9, LS3: backs off respawns, reports each death, and then fails jobs fast with TaskLoadError', async () => {
      const { runner } = crashingRunner();
      const deaths: { error: unknown; at: number }[] = [];
      const fifthDeath = new Promise<void>((resolve) =>
        runner.on('workerError', ({ error }) => {
          deaths.push({ error, at: Date.now() });
          if (deaths.length === 5) resolve();
        }),
      );
      const notReady = await rejectionOf(runner.ready());
      expect(notReady).toBeInstanceOf(TaskLoadError);
      expect(notReady.code).toBe('BAOZI_TASK_LOAD');

      await fifthDeath;
      for (const { error } of deaths) expect(error).toBeInstanceOf(TaskLoadError);
      // New threads wait 50, 100, 200 and 400 ms before loading: without the
      // backoff five deaths take a few dozen milliseconds.
      expect(deaths[4]!.at - deaths[0]!.at).toBeGreaterThanOrEqual(700);
      const health = runner.health();
      expect(health).toMatchObject({ ok: false, taskModule: 'failed' });
      expect(health.startFailures).toBeGreaterThanOrEqual(5);
      expect(health.failingFastUntil).toBeInstanceOf(Date);

      const started = Date.now();
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => runner.run('ping')));
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(TaskLoadError);
      }
      expect(Date.now() - started).toBeLessThan(1000);
      expect(runner.stats()).toMatchObject({ failed: 20, succeeded: 0 });
      await runner.close();
    });

    it('BI9: recovers once the module loads again: ready() resolves, health() is ok and jobs run', async () => {
      const { runner, loads } = crashingRunner(2);
      await runner.ready();
      expect(loads()).toBe(3);
      expect(runner.health()).toMatchObject({ ok: true, taskModule: 'loaded', startFailures: 0 });
      expect(await runner.run('ping')).toBe('pong');
      await runner.close();
    });
  });

  it('E.3: bounds a task module whose top-level await never settles: ready() rejects with TaskLoadError, jobs fail with it, health() says so (issue 16)', async () => {
    const runner = runners.track(createRunner<typeof import('../fixtures/hanging-tasks.js')>({ tasks: HANGING, minThreads: 1, maxThreads: 1, loadTimeout: 300 }));
    // Submitted while the module loads: it waits for it, then fails with it.
    const waiting = await runner.submit('never', []);
    const error = await rejectionOf(runner.ready());
    expect(error).toBeInstanceOf(TaskLoadError);
    expect(error.code).toBe('BAOZI_TASK_LOAD');
    const failure = await rejectionOf(waiting.result);
    expect(failure).toBeInstanceOf(TaskLoadError);
    expect(failure.jobId).toBe(waiting.id);
    expect(runner.health()).toMatchObject({ ok: false, taskModule: 'failed' });
    expect(runner.health().lastError).toBeInstanceOf(TaskLoadError);
    // A later job fails at once: the module is still not loaded.
    const later = await runner.submit('never', []);
    expect(await rejectionOf(later.result)).toBeInstanceOf(TaskLoadError);
    expect(await rejectionOf(runner.ready())).toBeInstanceOf(TaskLoadError);
    await runner.close();
  });
});
