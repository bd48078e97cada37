/**
 * `baozi/prometheus`: exposes `runner.metrics()` to Prometheus through
 * prom-client (an optional peer dependency: install it to use this module;
 * `baozi` itself never loads it).
 */
import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
import { InvalidOptionError } from '../errors.js';
import type { DurationHistogram, JobCounters, RunnerGauges, RunnerMetrics } from './metrics.js';

/** Options of `registerMetrics()`. Unknown keys are rejected. */
export interface PrometheusOptions {
  /** The prom-client registry to add the metrics to (prom-client's global one is `register`). */
  registry: Registry;
  /**
   * Put before every metric name. Letters, digits, `_` and `:`, not
   * starting with a digit; empty for none. Give each runner its own prefix
   * (or registry) when one process has several.
   * @default 'baozi_'
   */
  prefix?: string;
}

/** Something `runner.metrics()` can be read from. */
export interface MetricsSource {
  metrics(): RunnerMetrics;
}

const COUNTERS: readonly [keyof JobCounters, string][] = [
  ['submitted', 'Jobs accepted: put on the table or scheduled.'],
  ['succeeded', 'Jobs whose task returned.'],
  ['failed', 'Jobs that failed for good.'],
  ['retried', 'Runs that failed and were retried.'],
  ['cancelled', 'Jobs cancelled (by their signal, cancel() or close()).'],
  ['expired', 'Jobs that reached their expiry before they could start.'],
];

const GAUGES: readonly [keyof RunnerGauges, string, string][] = [
  ['queued', 'queued_jobs', 'Jobs on the table.'],
  ['running', 'running_jobs', 'Jobs running on the threads.'],
  ['blocked', 'blocked_producers', 'Producers (and due jobs) waiting for room on the table.'],
  ['scheduled', 'scheduled_jobs', 'Jobs waiting for a delay or a retry backoff.'],
  ['threads', 'threads', 'Live worker threads.'],
  ['utilization', 'utilization_ratio', 'Share of pool slots busy, 0 to 1.'],
];

const DURATIONS: readonly ['waitTime' | 'runTime', string, string][] = [
  ['waitTime', 'job_wait_seconds', 'Time jobs waited on the table before they started.'],
  ['runTime', 'job_run_seconds', 'Time from the start of a run to its result or error.'],
];

const NAME_PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/**
 * Registers the runner's metrics in `registry`, read from
 * `runner.metrics()` when Prometheus scrapes (one snapshot per scrape), so
 * jobs pay nothing for them. With the default prefix:
 *
 * - counters, label `task`: `baozi_jobs_submitted_total`,
 *   `baozi_jobs_succeeded_total`, `baozi_jobs_failed_total`,
 *   `baozi_jobs_retried_total`, `baozi_jobs_cancelled_total`,
 *   `baozi_jobs_expired_total`;
 * - gauges: `baozi_queued_jobs`, `baozi_running_jobs`,
 *   `baozi_blocked_producers`, `baozi_scheduled_jobs`, `baozi_threads`,
 *   `baozi_utilization_ratio`;
 * - histograms in seconds, label `task`: `baozi_job_wait_seconds` (table
 *   to start) and `baozi_job_run_seconds` (start to end of a run).
 *
 * Counters count from the runner's creation or its last
 * `metrics({ reset: true })`. Returns a function that removes the metrics
 * from the registry again. Throws `InvalidOptionError` for bad options or
 * when one of the names is already registered (nothing is registered then).
 */
export function registerMetrics(runner: MetricsSource, options: PrometheusOptions): () => void {
  const { registry, prefix } = resolveOptions(options);
  let snapshot: RunnerMetrics | undefined;
  // Every collector of one scrape runs in the same tick: they share one snapshot.
  const read = (): RunnerMetrics => {
    if (!snapshot) {
      snapshot = runner.metrics();
      queueMicrotask(() => (snapshot = undefined));
    }
    return snapshot;
  };

  const names = [
    ...COUNTERS.map(([counter]) => `${prefix}jobs_${counter}_total`),
    ...GAUGES.map(([, suffix]) => `${prefix}${suffix}`),
    ...DURATIONS.map(([, suffix]) => `${prefix}${suffix}`),
  ];
  // All or nothing: a clash must not leave half of them registered.
  const taken = names.find((name) => registry.getSingleMetric(name));
  if (taken) throw new InvalidOptionError('registerMetrics.prefix', prefix, `a prefix whose names are free in the registry (${taken} is taken)`);
  for (const [counter, help] of COUNTERS) {
    const name = `${prefix}jobs_${counter}_total`;
    new Counter({
      name,
      help,
      labelNames: ['task'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [task, metrics] of Object.entries(read().tasks)) this.inc({ task }, metrics[counter]);
      },
    });
  }
  for (const [gauge, suffix, help] of GAUGES) {
    const name = `${prefix}${suffix}`;
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read().gauges[gauge]);
      },
    });
  }
  for (const [duration, suffix, help] of DURATIONS) {
    const name = `${prefix}${suffix}`;
    const histogram = new SnapshotHistogram(name, help, () => Object.entries(read().tasks).map(([task, metrics]) => [task, metrics[duration]]));
    registry.registerMetric(histogram as unknown as Metric);
  }
  return () => {
    for (const name of names) registry.removeSingleMetric(name);
  };
}

/**
 * A histogram whose buckets come ready-counted from a snapshot, per task,
 * instead of from `observe()` calls. prom-client's registry reads any
 * metric through `get()`; `reset()` is there for `registry.resetMetrics()`.
 */
class SnapshotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly histograms: () => [task: string, histogram: DurationHistogram][],
  ) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    const values: MetricValue[] = [];
    for (const [task, histogram] of this.histograms()) {
      for (const { le, count } of histogram.buckets) {
        values.push({ metricName: `${this.name}_bucket`, labels: { task, le: le === Infinity ? '+Inf' : le / 1000 }, value: count });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { task }, value: histogram.sum / 1000 });
      values.push({ metricName: `${this.name}_count`, labels: { task }, value: histogram.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    // Nothing kept here: the runner's metrics are reset with `metrics({ reset: true })`.
  }
}

interface MetricValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

function resolveOptions(options: PrometheusOptions): { registry: Registry; prefix: string } {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('registerMetrics', options, 'an options object with a `registry`');
  for (const key of Object.keys(options)) {
    if (key !== 'registry' && key !== 'prefix') {
      throw new InvalidOptionError(`registerMetrics.${key}`, (options as unknown as Record<string, unknown>)[key], 'no such option (known: registry, prefix)');
    }
  }
  const { registry, prefix = 'baozi_' } = options;
  if (typeof registry?.registerMetric !== 'function') throw new InvalidOptionError('registerMetrics.registry', registry, 'a prom-client Registry');
  if (typeof prefix !== 'string' || !NAME_PREFIX.test(prefix)) {
    throw new InvalidOptionError('registerMetrics.prefix', prefix, 'letters, digits, `_` and `:`, not starting with a digit');
  }
  return { registry, prefix };
}
