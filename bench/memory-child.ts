/**
 * (d) One contender's fast producer, alone in its own process
 * (`node --expose-gc memory-child.js <baozi|piscina> <jobs> <windowMs>`), so
 * heaps do not mix. Prints one line of JSON: a `MemoryReport`.
 *
 * baozi runs with its defaults, so transparent batching is on ('auto'):
 * tiny jobs waiting on the table travel several to a message.
 *
 * The producer awaits each submit. baozi's bounded table makes it wait for
 * room, so producing N jobs takes as long as running them. Bare piscina has
 * no bound: the same loop queues all N at once, and the heap holds them all.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BAOZI_BATCHING, createBaozi, createPiscina, runOnPiscina, type Batching } from './contenders.js';
import { summarize } from './stats.js';

export interface MemoryReport {
  contender: 'baozi' | 'piscina';
  /** baozi's `batching` option (the runner's default, 'auto'); bare piscina has none. */
  batching: Batching | undefined;
  jobs: number;
  /** Jobs per second of a 1,000-job producer on the same warm pool (median of 5). */
  rate1k: number;
  /**
   * Jobs per second with N produced, time spent sampling memory excluded.
   * baozi: producing and running all N. piscina: results per second over
   * the window after all N were queued (or until they all finished).
   */
  rate: number;
  /** How many results the rate counts. */
  rateJobs: number;
  /** Heap used after gc, before producing. */
  heapBaselineMb: number;
  /** Largest heap used after gc while producing (and, for baozi, running), minus the baseline. */
  heapGrowthMb: number;
  /** Largest heap used without gc (garbage included), minus the baseline; sampled every 50 ms. */
  heapRawGrowthMb: number;
  rssBaselineMb: number;
  /** Peak RSS of the process (getrusage maxrss) minus the RSS at the baseline. */
  rssGrowthMb: number;
  /** How many gc samples were taken, and their total time (excluded from `rate`). */
  gcSamples: number;
  samplingMs: number;
}

interface JobSink {
  result: Promise<unknown>;
}
type Submit = (i: number) => Promise<JobSink> | JobSink;

interface Production {
  /** Results so far. */
  settled(): number;
  /** Resolves when every job has settled; rejects if any failed. */
  all: Promise<void>;
}

const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('memory-child needs node --expose-gc');

const [contender, jobsArg, windowArg] = process.argv.slice(2);
if (contender !== 'baozi' && contender !== 'piscina') throw new Error(`unknown contender ${contender}`);
const jobs = Number(jobsArg);
const windowMs = Number(windowArg ?? 5000);
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`bad job count ${jobsArg}`);

/** The fast producer: awaits each submit and hears each result. Returns once all are submitted. */
async function produce(count: number, submit: Submit, sample?: { every: number; take: () => void }): Promise<Production> {
  let settled = 0;
  let failed = 0;
  let resolveAll!: () => void;
  let rejectAll!: (error: Error) => void;
  const all = new Promise<void>((resolve, reject) => {
    resolveAll = resolve;
    rejectAll = reject;
  });
  const onSettled = (): void => {
    if (++settled < count) return;
    if (failed === 0) resolveAll();
    else rejectAll(new Error(`${failed} of ${count} jobs failed`));
  };
  const onFailed = (): void => {
    failed++;
    onSettled();
  };
  for (let i = 0; i < count; i++) {
    const { result } = await submit(i);
    result.then(onSettled, onFailed);
    if (sample && i % sample.every === sample.every - 1) sample.take();
  }
  return { settled: () => settled, all };
}

// The default runner: transparent batching 'auto'.
const runner = contender === 'baozi' ? createBaozi(1024) : undefined;
const pool = contender === 'piscina' ? createPiscina() : undefined;
const submit: Submit = runner ? (i) => runner.submit('add', [i, 1]) : (i) => ({ result: runOnPiscina(pool!, 'add', [i, 1]) });

// Warm up the threads and the JIT, then time small producers.
await (await produce(5_000, submit)).all;
const rates1k: number[] = [];
for (let repeat = 0; repeat < 5; repeat++) {
  const started = performance.now();
  await (await produce(1_000, submit)).all;
  rates1k.push(1_000 / ((performance.now() - started) / 1000));
}

gc();
gc();
const baseline = process.memoryUsage();
let heapPeak = baseline.heapUsed;
let heapRawPeak = baseline.heapUsed;
let gcSamples = 0;
let samplingMs = 0;
const take = (): void => {
  const started = performance.now();
  gc();
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  gcSamples++;
  samplingMs += performance.now() - started;
};
const raw = setInterval(() => {
  heapRawPeak = Math.max(heapRawPeak, process.memoryUsage().heapUsed);
}, 50);

const started = performance.now();
const production = await produce(jobs, submit, { every: Math.ceil(jobs / 4), take });
take();
let rate: number;
let rateJobs: number;
if (runner) {
  await production.all;
  rateJobs = jobs;
  rate = jobs / ((performance.now() - started - samplingMs) / 1000);
} else {
  // Everything is queued now; count results over the window.
  const from = production.settled();
  const windowStarted = performance.now();
  await Promise.race([production.all, sleep(windowMs)]);
  rateJobs = production.settled() - from;
  rate = rateJobs / ((performance.now() - windowStarted) / 1000);
}
clearInterval(raw);
take();
const maxRss = process.resourceUsage().maxRSS * 1024;

const report: MemoryReport = {
  contender,
  batching: runner ? BAOZI_BATCHING : undefined,
  jobs,
  rate1k: summarize(rates1k).median,
  rate,
  rateJobs,
  heapBaselineMb: baseline.heapUsed / MB,
  heapGrowthMb: (heapPeak - baseline.heapUsed) / MB,
  heapRawGrowthMb: (heapRawPeak - baseline.heapUsed) / MB,
  rssBaselineMb: baseline.rss / MB,
  rssGrowthMb: (maxRss - baseline.rss) / MB,
  gcSamples,
  samplingMs,
};
process.stdout.write(`${JSON.stringify(report)}\n`, () => {
  if (runner) void runner.close().then(() => process.exit(0));
  // Bare piscina may still hold most of the jobs; they are not worth draining.
  else process.exit(0);
});
