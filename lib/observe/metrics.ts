import { InvalidOptionError } from '../errors.js';
import { type Job } from '../job/job.js';
import { now } from '../clock.js';
import { DurationRecorder, type DurationSummary } from './summary.js';

/**
 * Upper bounds, in milliseconds, of the buckets of every duration histogram
 * in `runner.metrics()`; a last bucket, `Infinity`, takes the rest. They
 * span sub-millisecond jobs (tiny tasks, an empty table) to five minutes.
 */
export const DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000,
]);

// Typed, so the search on every sample stays a few nanoseconds.
const BOUNDS = new Float64Array(DURATION_BUCKETS_MS);

// A producer can submit any name (an unknown one fails in the thread), so
// the names counted apart are capped: memory stays bounded.
const MAX_TASK_NAMES = 1000;
const OTHER_TASKS = '(other)';

/** How many jobs did what, in one period of `runner.metrics()`. */
export interface JobCounters {
  /** Jobs accepted: put on the table or scheduled. A `jobId` that is already known returns that job and counts nothing. */
  submitted: number;
  succeeded: number;
  /** Jobs that failed for good (a failure that is retried counts in `retried` instead). */
  failed: number;
  /** Runs that failed and were retried. */
  retried: number;
  cancelled: number;
  expired: number;
}

/** One bucket of a `DurationHistogram`. */
export interface HistogramBucket {
  /** Upper bound in milliseconds, inclusive; `Infinity` for the last bucket. */
  le: number;
  /** Samples at most `le`: cumulative, as Prometheus counts buckets. */
  count: number;
}

/**
 * A duration's summary (count, mean, min, max over every sample of the
 * period; p50 and p99 over its most recent 1024 samples) plus its sum and
 * a histogram over every sample of the period. Milliseconds.
 */
export interface DurationHistogram extends DurationSummary {
  /** Sum of every sample. */
  sum: number;
  /** One bucket per bound of `DURATION_BUCKETS_MS`, then `Infinity` (whose count is `count`). */
  buckets: HistogramBucket[];
}

/** Counters and durations of the jobs of one task (or of all tasks, in `total`). */
export interface TaskMetrics extends JobCounters {
  /** From entering the table to starting, for each start (a retried job waits again). */
  waitTime: DurationHistogram;
  /**
   * From starting to the end of the run, for each run that ended with a
   * result or an error (retried runs included, cancelled runs not). A job
   * sent to a thread in a batch counts its batch's time.
   */
  runTime: DurationHistogram;
}

/** The runner's state at the moment of the snapshot (not reset by `reset`). */
export interface RunnerGauges {
  /** Jobs on the table. */
  queued: number;
  /** Jobs running, as `stats().running` (a settled job is out of it, even while its thread is being terminated). */
  running: number;
  /** Producers (and due jobs) waiting for room on the table. */
  blocked: number;
  /** Jobs waiting for a `delay`/`runAt` or a retry backoff. */
  scheduled: number;
  /** Live worker threads. */
  threads: number;
  /** Share of pool slots (`maxThreads × concurrentTasksPerWorker`) busy now, 0 to 1: also slots whose thread is being terminated. */
  utilization: number;
}

/**
 * What `runner.metrics()` returns. Counters and durations cover one period:
 * from the runner's creation, or from the last `metrics({ reset: true })`,
 * to `at`. Durations in milliseconds, times in epoch milliseconds.
 */
export interface RunnerMetrics {
  /** When the period began. */
  since: number;
  /** When this snapshot was taken. */
  at: number;
  /** Every task together. */
  total: TaskMetrics;
  /**
   * Per task name, for each name that had a job accepted this period. Past
   * 1000 names, further names are counted together under `'(other)'`.
   */
  tasks: Record<string, TaskMetrics>;
  gauges: RunnerGauges;
}

/** Options of `runner.metrics()`. Unknown keys are rejected. */
export interface MetricsOptions {
  /**
   * `true`: return this period's numbers and start a new period at once,
   * with counters and durations at zero, so that no job falls between the
   * read and the reset (a reporter that prints per-interval numbers wants
   * this). Gauges are not affected. A Prometheus exporter sees its counters
   * start again from zero, which `rate()` handles as a counter reset.
   * @default false
   */
  reset?: boolean;
}

/** Validates `metrics()` options; throws `InvalidOptionError`. */
export function resolveMetricsOptions(options: MetricsOptions | undefined): { reset: boolean } {
  if (options === undefined) return { reset: false };
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('metrics', options, 'an options object or undefined');
  for (const key of Object.keys(options)) {
    if (key !== 'reset') throw new InvalidOptionError(`metrics.${key}`, (options as Record<string, unknown>)[key], 'no such option (known: reset)');
  }
  const { reset = false } = options;
  if (typeof reset !== 'boolean') throw new InvalidOptionError('metrics.reset', reset, 'a boolean');
  return { reset };
}

/** A `DurationRecorder` that also counts its samples into fixed buckets. */
class HistogramRecorder extends DurationRecorder {
  private readonly counts = new Uint32Array(BOUNDS.length + 1);

  override record(ms: number): void {
    super.record(ms);
    let i = 0;
    while (i < BOUNDS.length && ms > BOUNDS[i]!) i++;
    this.counts[i]!++;
  }

  histogram(): DurationHistogram {
    const buckets: HistogramBucket[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.counts.length; i++) {
      cumulative += this.counts[i]!;
      buckets.push({ le: DURATION_BUCKETS_MS[i] ?? Infinity, count: cumulative });
    }
    return { ...this.summary(), sum: this.totalMs, buckets };
  }
}

class TaskRecorder {
  readonly counts: JobCounters = { submitted: 0, succeeded: 0, failed: 0, retried: 0, cancelled: 0, expired: 0 };
  readonly waitTime = new HistogramRecorder();
  readonly runTime = new HistogramRecorder();

  snapshot(): TaskMetrics {
    return { ...this.counts, waitTime: this.waitTime.histogram(), runTime: this.runTime.histogram() };
  }
}

/**
 * The numbers behind `runner.metrics()`. The lifecycle calls it directly at
 * each state change, so jobs pay a few increments and no listener. Each
 * sample goes to its task's recorder and to the total.
 */
export class MetricsRecorder {
  private since = now();
  private total = new TaskRecorder();
  private tasks = new Map<string, TaskRecorder>();

  /** The job was accepted (queued or scheduled for the first time). */
  submitted(job: Job): void {
    this.total.counts.submitted++;
    this.task(job.name).counts.submitted++;
  }

  /** The job started a run; it had waited since `queuedAt`. */
  started(job: Job): void {
    const ms = job.startedAt! - job.queuedAt!;
    this.total.waitTime.record(ms);
    this.task(job.name).waitTime.record(ms);
  }

  /** The job's run failed and it will run again. */
  retried(job: Job): void {
    const task = this.task(job.name);
    this.total.counts.retried++;
    task.counts.retried++;
    if (job.startedAt !== undefined) this.recordRun(task, now() - job.startedAt);
  }

  /** The job reached a terminal state. */
  settled(job: Job): void {
    const task = this.task(job.name);
    const state = job.state;
    if (state !== 'succeeded' && state !== 'failed' && state !== 'cancelled' && state !== 'expired') return;
    this.total.counts[state]++;
    task.counts[state]++;
    // Only a run ends as succeeded or failed; a cancelled run was cut short.
    if ((state === 'succeeded' || state === 'failed') && job.startedAt !== undefined) this.recordRun(task, job.finishedAt! - job.startedAt);
  }

  /** The period's numbers; with `reset`, a new period starts now. */
  snapshot(gauges: RunnerGauges, reset: boolean): RunnerMetrics {
    const at = now();
    const metrics: RunnerMetrics = {
      since: this.since,
      at,
      total: this.total.snapshot(),
      tasks: Object.fromEntries([...this.tasks].map(([name, task]) => [name, task.snapshot()])),
      gauges,
    };
    if (reset) {
      this.since = at;
      this.total = new TaskRecorder();
      this.tasks = new Map();
    }
    return metrics;
  }

  private recordRun(task: TaskRecorder, ms: number): void {
    this.total.runTime.record(ms);
    task.runTime.record(ms);
  }

  private task(name: string): TaskRecorder {
    let task = this.tasks.get(name);
    if (task) return task;
    if (this.tasks.size >= MAX_TASK_NAMES) name = OTHER_TASKS;
    task = this.tasks.get(name);
    if (!task) {
      task = new TaskRecorder();
      this.tasks.set(name, task);
    }
    return task;
  }
}
