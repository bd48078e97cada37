import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { InvalidOptionError } from 'baozi';
import { registerMetrics } from 'baozi/prometheus';
import { Registry } from 'prom-client';
import { holdThread, rejectionOf, thrownBy, useRunners } from './helpers/e2e.js';

const runners = useRunners();

/** The value of the sample line `name{labels}` in a scrape, or `undefined` when it is missing. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((candidate) => candidate.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('baozi/prometheus', () => {
  describe('registerMetrics', () => {
    it('exposes counters per task after jobs ran', async () => {
      const runner = runners.runner();
      const registry = new Registry();
      registerMetrics(runner, { registry });
      await Promise.all([runner.run('add', 1, 2), runner.run('add', 3, 4), runner.run('add', 5, 6)]);
      await rejectionOf(runner.run('throwError', 'no'));
      const text = await registry.metrics();
      expect(text).toContain('# TYPE baozi_jobs_succeeded_total counter');
      expect(sample(text, 'baozi_jobs_submitted_total{task="add"}')).toBe(3);
      expect(sample(text, 'baozi_jobs_succeeded_total{task="add"}')).toBe(3);
      expect(sample(text, 'baozi_jobs_failed_total{task="add"}')).toBe(0);
      expect(sample(text, 'baozi_jobs_failed_total{task="throwError"}')).toBe(1);
      expect(sample(text, 'baozi_jobs_retried_total{task="add"}')).toBe(0);
      await runner.close();
    });

    it('exposes wait and run times as histograms in seconds', async () => {
      const runner = runners.runner({ maxThreads: 1, minThreads: 1 });
      const registry = new Registry();
      registerMetrics(runner, { registry });
      await Promise.all([runner.run('sleep', 30), runner.run('sleep', 30)]);
      const text = await registry.metrics();
      expect(text).toContain('# TYPE baozi_job_run_seconds histogram');
      expect(text).toContain('# TYPE baozi_job_wait_seconds histogram');
      expect(sample(text, 'baozi_job_run_seconds_count{task="sleep"}')).toBe(2);
      expect(sample(text, 'baozi_job_run_seconds_bucket{task="sleep",le="+Inf"}')).toBe(2);
      expect(sample(text, 'baozi_job_run_seconds_bucket{task="sleep",le="0.01"}')).toBe(0);
      expect(sample(text, 'baozi_job_run_seconds_bucket{task="sleep",le="5"}')).toBe(2);
      const sum = sample(text, 'baozi_job_run_seconds_sum{task="sleep"}')!;
      // In seconds, not ms (that would read 60 or more); generous above for a loaded machine.
      expect(sum).toBeGreaterThanOrEqual(0.05);
      expect(sum).toBeLessThan(10);
      // One thread: the second job waited for the first.
      expect(sample(text, 'baozi_job_wait_seconds_bucket{task="sleep",le="0.01"}')).toBe(1);
      await runner.close();
    });

    it('reads the gauges at scrape time', async () => {
      const runner = runners.runner({ maxThreads: 1, minThreads: 1, capacity: 1 });
      const registry = new Registry();
      registerMetrics(runner, { registry });
      const hold = await holdThread(runner);
      const queued = await runner.submit('add', [1, 1]);
      const blocked = runner.submit('add', [2, 2]);
      const busy = await registry.metrics();
      const gauges = ['baozi_queued_jobs', 'baozi_running_jobs', 'baozi_blocked_producers', 'baozi_threads', 'baozi_utilization_ratio'];
      expect(gauges.map((name) => sample(busy, name))).toEqual([1, 1, 1, 1, 1]);
      hold.open();
      await Promise.all([queued.result, (await blocked).result, hold.job.result]);
      const idle = await registry.metrics();
      expect(['baozi_queued_jobs', 'baozi_running_jobs', 'baozi_blocked_producers', 'baozi_utilization_ratio'].map((name) => sample(idle, name))).toEqual([0, 0, 0, 0]);
      expect(sample(idle, 'baozi_jobs_succeeded_total{task="add"}')).toBe(2);
      await runner.close();
    });

    it('takes one snapshot of the runner per scrape', async () => {
      const runner = runners.runner();
      let snapshots = 0;
      const registry = new Registry();
      registerMetrics({ metrics: () => (snapshots++, runner.metrics()) }, { registry });
      await runner.run('add', 1, 1);
      expect(snapshots).toBe(0);
      await registry.metrics();
      expect(snapshots).toBe(1);
      await registry.metrics();
      expect(snapshots).toBe(2);
      await runner.close();
    });

    it('puts the prefix before every name', async () => {
      const runner = runners.runner();
      const registry = new Registry();
      registerMetrics(runner, { registry, prefix: 'kitchen_' });
      await runner.run('add', 1, 1);
      const text = await registry.metrics();
      expect(sample(text, 'kitchen_jobs_succeeded_total{task="add"}')).toBe(1);
      expect(text).not.toContain('baozi_');
      await runner.close();
    });

    it('returns a function that unregisters every metric', async () => {
      const runner = runners.runner();
      const registry = new Registry();
      const unregister = registerMetrics(runner, { registry });
      expect(registry.getMetricsAsArray()).toHaveLength(14);
      unregister();
      expect(registry.getMetricsAsArray()).toHaveLength(0);
      await runner.close();
    });

    it('registers nothing when a name is already taken', async () => {
      const first = runners.runner();
      const second = runners.runner();
      const registry = new Registry();
      registerMetrics(first, { registry });
      const error = thrownBy(() => registerMetrics(second, { registry }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.option).toBe('registerMetrics.prefix');
      expect(registry.getMetricsAsArray()).toHaveLength(14);
      await Promise.all([first.close(), second.close()]);
    });

    it('rejects a missing registry, a bad prefix and unknown keys', async () => {
      const runner = runners.runner();
      const registry = new Registry();
      for (const options of [{}, { registry, prefix: '9lives' }, { registry, prefix: 'has space' }, { registry, prefx: 'x_' }]) {
        const error = thrownBy(() => registerMetrics(runner, options as never));
        expect(error).toBeInstanceOf(InvalidOptionError);
        expect(error.code).toBe('BAOZI_INVALID_OPTION');
      }
      expect(registry.getMetricsAsArray()).toHaveLength(0);
      await runner.close();
    });
  });

  describe('loading', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const loadsPromClient = async (specifier: string): Promise<boolean> => {
      const script = `import ${JSON.stringify(specifier)}; import { createRequire } from 'node:module';
        console.log(Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes('prom-client')));`;
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
      return stdout.trim() === 'true';
    };

    it('leaves prom-client unloaded for a user who imports only baozi', async () => {
      expect(await loadsPromClient('baozi')).toBe(false);
      expect(await loadsPromClient('baozi/prometheus')).toBe(true);
    });
  });
});
