/**
 * (a) Tiny-job throughput: `add(a, b)` through `run()` and `submit()` in
 * chunks of 1,000, with transparent batching on (`'auto'`, the default) and
 * off, and through `map()`; and (f) what events and progress cost jobs
 * nobody listens to, each measured by alternating chunks of 1,000 within a
 * trial (see `alternate()`).
 */
import type { Runner } from 'baozi';
import { createBaozi, createPiscina, runOnMain, runOnPiscina, type BenchTasks } from '../contenders.js';
import { interleave, log, settle, type Contender, type Measurement } from '../harness.js';
import { makeRow, type Row } from '../report.js';
import { pairedRatios, summarize } from '../stats.js';
import { add } from '../plain-tasks.js';
import { PROGRESS_REPORTS } from '../tasks.js';

export const CHUNK = 1_000;
/** `map()` keeps at most `capacity` inputs in flight; bare piscina's equivalent loop gets the same window. */
export const MAP_WINDOW = 1_024;

export interface TinyJobsConfig {
  /** Jobs per trial of the contenders that send one job per message (piscina, batching off), a multiple of `CHUNK`. */
  jobs: number;
  /** Jobs per trial with batching on and through `map()`: they run several times faster, so more of them fill a trial. */
  batchedJobs: number;
  repeats: number;
  /** Unrecorded trials per contender first: JIT warm-up takes some 10,000 jobs. */
  warmups: number;
  /** Chunks of `CHUNK` jobs per variant in each trial of the events comparison (4 variants). */
  eventRounds: number;
  /** The same for the progress comparison (3 variants, each chunk several times slower: batching off). */
  progressRounds: number;
  /** Also run bare piscina with atomics 'sync' (its default), for reference. */
  withPiscinaSync: boolean;
}

export interface TinyJobsResult {
  rows: Row[];
  /** Median main-thread CPU nanoseconds per job of the three job events baozi emits when nobody listens. */
  unheardEventsNs: number;
  /** Median in-thread CPU nanoseconds per job of `addWithProgress`'s ten `reportProgress()` calls, nobody listening. */
  unheardProgressNs: number;
  /** Median CPU nanoseconds per job (process) of the events comparison's baseline (batching auto, no listeners). */
  eventsJobNs: number;
  /** Median CPU nanoseconds per job (process) of the progress comparison's baseline (batching off, `add`). */
  progressJobNs: number;
  /** Median jobs/s, by contender and metric (for the targets). */
  medians: Record<string, number>;
  /** Every trial's numbers, by contender and metric. */
  raw: Record<string, Record<string, number[]>>;
}

// add(i, 1) over 0…n-1: proves every job really ran and came back.
function checkSum(jobs: number, sum: number, what: string): void {
  const expected = (jobs * (jobs - 1)) / 2 + jobs;
  if (sum !== expected) throw new Error(`tiny jobs (${what}): results sum to ${sum}, expected ${expected}`);
}

/** Submits `jobs` jobs in chunks of `CHUNK`, each chunk awaited as a whole; returns jobs per second. */
async function chunked(jobs: number, call: (i: number) => Promise<number>): Promise<number> {
  const started = performance.now();
  let sum = 0;
  for (let done = 0; done < jobs; done += CHUNK) {
    const chunk = new Array<Promise<number>>(CHUNK);
    for (let i = 0; i < CHUNK; i++) chunk[i] = call(done + i);
    for (const result of await Promise.all(chunk)) sum += result;
  }
  const seconds = (performance.now() - started) / 1000;
  checkSum(jobs, sum, 'chunks');
  return jobs / seconds;
}

type AddLike = 'add' | 'addWithProgress';

/** One chunk through `submit()`: the chunk's handles first, then their results. Returns the sum of the results. */
async function submitChunk(runner: Runner<BenchTasks>, task: AddLike, first: number, options?: Parameters<Runner<BenchTasks>['submit']>[2]): Promise<number> {
  const handles = new Array<ReturnType<typeof runner.submit<AddLike>>>(CHUNK);
  for (let i = 0; i < CHUNK; i++) handles[i] = runner.submit(task, [first + i, 1], options);
  const results = (await Promise.all(handles)).map((job) => job.result);
  let sum = 0;
  for (const result of await Promise.all(results)) sum += result;
  return sum;
}

/** `chunked()`, also timing the CPU of the whole process (main and pool threads) per job, in µs. */
async function chunkedWithCpu(jobs: number, call: (i: number) => Promise<number>): Promise<Measurement> {
  const before = process.cpuUsage();
  const rate = await chunked(jobs, call);
  const cpu = process.cpuUsage(before);
  return { rate, cpu: (cpu.user + cpu.system) / jobs };
}

/** The same through `submit()`, then `result`. */
async function submitChunked(jobs: number, runner: Runner<BenchTasks>): Promise<number> {
  const started = performance.now();
  let sum = 0;
  for (let done = 0; done < jobs; done += CHUNK) sum += await submitChunk(runner, 'add', done);
  const seconds = (performance.now() - started) / 1000;
  checkSum(jobs, sum, 'submit');
  return jobs / seconds;
}

function* range(count: number): Generator<number> {
  for (let i = 0; i < count; i++) yield i;
}

/** `map('add', …, { batchSize: 'auto' })` over a generator of `jobs` inputs, results read as they come out (in order, the default). */
async function mapped(jobs: number, runner: Runner<BenchTasks>): Promise<number> {
  const started = performance.now();
  let sum = 0;
  for await (const result of runner.map('add', range(jobs), { args: (i: number) => [i, 1], batchSize: 'auto' })) sum += result;
  const seconds = (performance.now() - started) / 1000;
  checkSum(jobs, sum, 'map');
  return jobs / seconds;
}

/** Bare piscina's `map`: the same jobs, at most `width` in flight, the next submitted as each result comes back. */
async function windowed(jobs: number, width: number, call: (i: number) => Promise<number>): Promise<number> {
  const started = performance.now();
  let sum = 0;
  let next = 0;
  let settled = 0;
  await new Promise<void>((resolve, reject) => {
    const onResult = (value: number): void => {
      sum += value;
      if (++settled === jobs) resolve();
      else fill();
    };
    const fill = (): void => {
      while (next < jobs && next - settled < width) call(next++).then(onResult, reject);
    };
    fill();
  });
  const seconds = (performance.now() - started) / 1000;
  checkSum(jobs, sum, 'window');
  return jobs / seconds;
}

/** One way of running a chunk in a paired comparison: `run` sends `CHUNK` jobs from `first` on and returns their sum. */
interface Variant {
  name: string;
  run(first: number): Promise<number>;
}

/**
 * A paired comparison inside one trial: `rounds` chunks of each variant,
 * alternating, each timed alone after a full gc and a 10 ms rest (as
 * between trials), so no chunk pays for another's garbage. The order
 * rotates and every other round runs backwards (ABC, ACB, CAB, CBA, …), so
 * no variant always follows the same one.
 *
 * Per variant it reports `name`: jobs/s from the median chunk's wall time,
 * and `name cpu`: the median chunk's CPU time per job in µs, the whole
 * process (main thread and pool threads, `process.cpuUsage()`). On this
 * shared machine a chunk that another process interrupts takes twice the
 * wall time; a median shrugs that off where a total would not, and CPU
 * time hardly sees it at all. Include an A/A variant (the same thing
 * twice) to see how small a difference the comparison resolves.
 */
async function alternate(variants: readonly Variant[], rounds: number): Promise<Measurement> {
  const n = variants.length;
  const wallMs: number[][] = variants.map(() => []);
  const cpuUs: number[][] = variants.map(() => []);
  const sums = variants.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < n; k++) {
      const v = round % 2 === 0 ? (round + k) % n : (round + n - 1 - k) % n;
      await settle();
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      sums[v]! += await variants[v]!.run(round * CHUNK);
      wallMs[v]!.push(performance.now() - started);
      const cpu = process.cpuUsage(cpuBefore);
      cpuUs[v]!.push(cpu.user + cpu.system);
    }
  }
  const measured: Measurement = {};
  for (const [v, variant] of variants.entries()) {
    checkSum(rounds * CHUNK, sums[v]!, variant.name);
    measured[variant.name] = CHUNK / (summarize(wallMs[v]!).median / 1000);
    measured[`${variant.name} cpu`] = summarize(cpuUs[v]!).median / CHUNK;
  }
  return measured;
}

/** A chunk through `run()`, awaited as a whole. */
async function runChunk(runner: Runner<BenchTasks>, first: number): Promise<number> {
  const chunk = new Array<Promise<number>>(CHUNK);
  for (let i = 0; i < CHUNK; i++) chunk[i] = runner.run('add', first + i, 1);
  let sum = 0;
  for (const result of await Promise.all(chunk)) sum += result;
  return sum;
}

/** What the bench needs of lib/lifecycle.ts's `Lifecycle`: every job event goes through its private `emit`. */
interface EventsHub {
  emit(name: string, payload: object): void;
}

/**
 * The runner's `Lifecycle`, reached through a job handle (`Job.owner`):
 * every job event passes through its `emit`, which checks for listeners
 * and `diagnostics_channel` subscribers before building anything. (Since
 * it checks first, stubbing the runner's own `emit` no longer turns events
 * off when nobody listens; the bench stubs this one.) Fails loudly if
 * lib/ changes shape.
 */
async function eventsHubOf(runner: Runner<BenchTasks>): Promise<EventsHub> {
  const job = await runner.submit('add', [0, 1]);
  await job.result;
  const owner = (job as unknown as { owner?: Partial<EventsHub> }).owner;
  if (typeof owner?.emit !== 'function' || Object.hasOwn(owner, 'emit')) {
    throw new Error('bench: a job handle no longer reaches the runner\'s Lifecycle (Job.owner.emit); update bench/workloads/tiny-jobs.ts');
  }
  return owner as EventsHub;
}

/** Replaces the hub's `emit` on the instance by a no-op, for good: no job event, no channel check. */
function turnEventsOff(hub: EventsHub): void {
  (hub as unknown as { emit: unknown }).emit = () => {};
}

/** Adds a listener that counts what it hears to each event; returns the count so far. */
function listen(runner: Runner<BenchTasks>, events: readonly ('running' | 'succeeded' | 'progress')[]): () => number {
  let heard = 0;
  const listener = (): void => void heard++;
  for (const event of events) runner.on(event, listener);
  return () => heard;
}

/**
 * CPU nanoseconds per job of the three job events a job emits on its way
 * (`queued`, `running`, `succeeded`) when nobody listens, through the
 * runner's own internal `emit` (a listener count and a channel check each),
 * payload objects included. CPU time (`process.cpuUsage()`; the pool
 * threads are idle meanwhile), so that other processes on the machine do
 * not inflate it. V8 may elide the payloads in this loop, so the end-to-end
 * "events off" rows are the check that the real path agrees.
 */
function measureUnheardEvents(hub: EventsHub): number {
  const job = {};
  const rounds = 1_000_000;
  const samples: number[] = [];
  for (let repeat = 0; repeat < 7; repeat++) {
    const before = process.cpuUsage();
    for (let i = 0; i < rounds; i++) {
      hub.emit('queued', { job });
      hub.emit('running', { job });
      hub.emit('succeeded', { job, result: i });
    }
    const cpu = process.cpuUsage(before);
    samples.push(((cpu.user + cpu.system) * 1e3) / rounds);
  }
  return summarize(samples.slice(2)).median;
}

/** In a baozi thread, CPU nanoseconds per job of ten unheard `reportProgress()` calls (see `unheardProgressNs` in tasks.ts). */
async function measureUnheardProgress(runner: Runner<BenchTasks>): Promise<number> {
  const samples: number[] = [];
  for (let repeat = 0; repeat < 9; repeat++) samples.push(await runner.run('unheardProgressNs', 1_000_000));
  return summarize(samples.slice(2)).median;
}

export async function tinyJobs(config: TinyJobsConfig): Promise<TinyJobsResult> {
  const { jobs, batchedJobs, repeats } = config;
  const slowJobs = Math.max(CHUNK, Math.round(jobs / 2 / CHUNK) * CHUNK);
  log(
    `(a, f) tiny jobs: ${jobs} jobs per trial (${batchedJobs} with batching on and through map, ${slowJobs} with progress listened to); ` +
      `events: ${config.eventRounds} chunks per variant, progress: ${config.progressRounds}; ${config.warmups} warm-up and ${repeats} measured trials per contender`,
  );
  const piscina = createPiscina();
  const piscinaSync = config.withPiscinaSync ? createPiscina('sync') : undefined;
  /** The default runner: batching 'auto'. */
  const runner = createBaozi();
  /** Batching off: one job per message. Also runs the progress comparison. */
  const runnerOff = createBaozi(1024, 'off');
  /** Batching and prefetch off: one job per message, and a thread gets its next one only after it replied, as with bare piscina. */
  const runnerAlone = createBaozi(1024, 'off', 'off');
  /**
   * The events comparison (batching 'auto') runs each variant on a runner of
   * its own, set up once and left so: listeners added and removed, or emit
   * stubbed and restored, chunk by chunk would make V8 deoptimize the
   * shared code again and again. `twin` is a second runner like `none`, the
   * A/A control. `progressListener` has a 'progress' listener, which turns
   * batching off for all its jobs: it runs as a contender of its own.
   */
  const eventRunners = { none: createBaozi(), twin: createBaozi(), off: createBaozi(), listeners: createBaozi(), progressListener: createBaozi() };
  try {
    const hub = await eventsHubOf(eventRunners.none);
    turnEventsOff(await eventsHubOf(eventRunners.off));
    const heardEvents = listen(eventRunners.listeners, ['running', 'succeeded']);
    listen(eventRunners.progressListener, ['progress']);
    let progressHeard = 0;
    const onProgress = (): void => void progressHeard++;
    const eventVariants: Variant[] = [
      { name: 'none', run: (first) => runChunk(eventRunners.none, first) },
      { name: 'off', run: (first) => runChunk(eventRunners.off, first) },
      { name: 'twin', run: (first) => runChunk(eventRunners.twin, first) },
      {
        name: 'listeners',
        run: async (first) => {
          const before = heardEvents();
          const sum = await runChunk(eventRunners.listeners, first);
          if (heardEvents() - before !== 2 * CHUNK) throw new Error(`listeners heard ${heardEvents() - before} events, expected ${2 * CHUNK}`);
          return sum;
        },
      },
    ];
    const progressVariants: Variant[] = [
      { name: 'plain', run: (first) => submitChunk(runnerOff, 'add', first) },
      { name: 'unheard', run: (first) => submitChunk(runnerOff, 'addWithProgress', first) },
      { name: 'twin', run: (first) => submitChunk(runnerOff, 'add', first) },
    ];
    /** `addWithProgress` with an `onProgress` callback, through submit() on the batching-off runner. */
    const onProgressChunked = async (): Promise<number> => {
      const started = performance.now();
      let sum = 0;
      for (let done = 0; done < slowJobs; done += CHUNK) {
        const before = progressHeard;
        sum += await submitChunk(runnerOff, 'addWithProgress', done, { onProgress });
        // Proves the task's reportProgress() reaches this thread, so the unheard variant ran the real path.
        if (progressHeard - before !== CHUNK * PROGRESS_REPORTS) throw new Error(`onProgress heard ${progressHeard - before} reports, expected ${CHUNK * PROGRESS_REPORTS}`);
      }
      checkSum(slowJobs, sum, 'onProgress');
      return slowJobs / ((performance.now() - started) / 1000);
    };
    const contenders: Contender[] = [
      { name: 'piscina', trial: () => chunkedWithCpu(jobs, (i) => runOnPiscina(piscina, 'add', [i, 1])) },
      { name: 'baozi run', trial: async () => ({ rate: await chunked(batchedJobs, (i) => runner.run('add', i, 1)) }) },
      { name: 'baozi submit', trial: async () => ({ rate: await submitChunked(batchedJobs, runner) }) },
      { name: 'baozi run off', trial: () => chunkedWithCpu(jobs, (i) => runnerOff.run('add', i, 1)) },
      { name: 'baozi run alone', trial: () => chunkedWithCpu(jobs, (i) => runnerAlone.run('add', i, 1)) },
      { name: 'baozi submit off', trial: async () => ({ rate: await submitChunked(jobs, runnerOff) }) },
      { name: 'piscina window', trial: async () => ({ rate: await windowed(jobs, MAP_WINDOW, (i) => runOnPiscina(piscina, 'add', [i, 1])) }) },
      { name: 'baozi map', trial: async () => ({ rate: await mapped(batchedJobs, runner) }) },
      { name: 'events', trial: () => alternate(eventVariants, config.eventRounds) },
      { name: 'progress', trial: () => alternate(progressVariants, config.progressRounds) },
      { name: 'baozi onProgress', trial: async () => ({ rate: await onProgressChunked() }) },
      { name: 'baozi progress listener', trial: async () => ({ rate: await chunked(slowJobs, (i) => eventRunners.progressListener.run('add', i, 1)) }) },
      ...(piscinaSync ? [{ name: 'piscina sync', trial: async () => ({ rate: await chunked(jobs, (i) => runOnPiscina(piscinaSync, 'add', [i, 1])) }) }] : []),
      { name: 'main', trial: async () => ({ rate: await chunked(jobs, (i) => runOnMain(add, i, 1)) }) },
    ];
    const samples = await interleave(contenders, repeats, config.warmups);
    const rate = (name: string, metric = 'rate'): number[] => samples[name]![metric]!;
    const unheardEventsNs = measureUnheardEvents(hub);
    const unheardProgressNs = await measureUnheardProgress(runnerOff);

    const section = '(a) tiny jobs, add(a, b) in chunks of 1,000 (each awaited), one runner per batching mode';
    const mapSection = `(a) tiny jobs through map('add', generator, { args, batchSize: 'auto' }), batching auto; piscina: the same jobs, at most ${MAP_WINDOW.toLocaleString('en')} in flight`;
    const events = `(f) events, batching 'auto': ${CHUNK.toLocaleString('en')}-job chunks through run(), variants alternating in each trial, rate of the median chunk`;
    const progress = `(f) progress, batching 'off': ${CHUNK.toLocaleString('en')}-job chunks through submit(), variants alternating in each trial, rate of the median chunk`;
    const rows: Row[] = [
      makeRow({ id: 'tiny.run', section, metric: "through run(), batching 'auto' (default)", unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi run'),
        main: rate('main'),
      }),
      makeRow({ id: 'tiny.submit', section, metric: "through submit(), then result, batching 'auto'", unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi submit'),
      }),
      makeRow({ id: 'tiny.runOff', section, metric: "through run(), batching 'off'", unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi run off'),
      }),
      makeRow({ id: 'tiny.submitOff', section, metric: "through submit(), then result, batching 'off'", unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi submit off'),
      }),
      makeRow({ id: 'tiny.runAlone', section, metric: "through run(), batching and prefetch 'off' (a thread waits for its next job, as with piscina)", unit: 'jobs/s', better: 'info' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi run alone'),
      }),
      makeRow({ id: 'tiny.cpuOff', section, metric: "  CPU per job, batching 'off' (process: main + pool threads)", unit: 'µs', better: 'info' }, {
        piscina: rate('piscina', 'cpu'),
        baozi: rate('baozi run off', 'cpu'),
      }),
      makeRow({ id: 'tiny.cpuAlone', section, metric: "  CPU per job, batching and prefetch 'off'", unit: 'µs', better: 'info' }, {
        piscina: rate('piscina', 'cpu'),
        baozi: rate('baozi run alone', 'cpu'),
      }),
      ...(piscinaSync
        ? [
            makeRow({ id: 'tiny.piscinaSync', section, metric: "run(), batching 'auto', vs piscina with atomics 'sync'", unit: 'jobs/s', better: 'info' }, {
              piscina: rate('piscina sync'),
              baozi: rate('baozi run'),
            }),
            makeRow({ id: 'tiny.piscinaSyncOff', section, metric: "run(), batching 'off', vs piscina with atomics 'sync'", unit: 'jobs/s', better: 'info' }, {
              piscina: rate('piscina sync'),
              baozi: rate('baozi run off'),
            }),
          ]
        : []),
      makeRow({ id: 'tiny.map', section: mapSection, metric: "through map(), batchSize 'auto'", unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina window'),
        baozi: rate('baozi map'),
      }),
      makeRow({ id: 'tiny.mapVsChunks', section: mapSection, metric: "through map(), batchSize 'auto', vs piscina in chunks of 1,000", unit: 'jobs/s', better: 'info' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi map'),
      }),
      makeRow({ id: 'events.none', section: events, metric: 'no listeners', unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('events', 'none'),
      }),
      makeRow({ id: 'events.off', section: events, metric: "events off (the runner's internal emit stubbed)", unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('events', 'off'),
      }),
      makeRow({ id: 'events.twin', section: events, metric: 'no listeners, a second identical runner (A/A control)', unit: 'jobs/s', better: 'info' }, {
        piscina: rate('piscina'),
        baozi: rate('events', 'twin'),
      }),
      makeRow({ id: 'events.listeners', section: events, metric: "listeners on 'running' + 'succeeded'", unit: 'jobs/s', better: 'info' }, {
        piscina: rate('piscina'),
        baozi: rate('events', 'listeners'),
      }),
      makeRow({ id: 'events.cpu', section: events, metric: 'CPU time per job, no listeners (process: main + pool threads)', unit: 'µs', better: 'info' }, {
        baozi: rate('events', 'none cpu'),
      }),
      makeRow({ id: 'events.unheardRatio', section: events, metric: 'no listeners ÷ events off, per trial: jobs/s', unit: 'x', better: 'higher' }, {
        baozi: pairedRatios(rate('events', 'none'), rate('events', 'off')),
      }),
      makeRow({ id: 'events.aa', section: events, metric: '  A/A control: second runner ÷ first', unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('events', 'twin'), rate('events', 'none')),
      }),
      makeRow({ id: 'events.unheardCpuRatio', section: events, metric: 'events off ÷ no listeners, per trial: CPU per job', unit: 'x', better: 'higher' }, {
        baozi: pairedRatios(rate('events', 'off cpu'), rate('events', 'none cpu')),
      }),
      makeRow({ id: 'events.aaCpu', section: events, metric: '  A/A control: first runner ÷ second', unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('events', 'none cpu'), rate('events', 'twin cpu')),
      }),
      makeRow({ id: 'events.listenersRatio', section: events, metric: 'with listeners ÷ no listeners, per trial: jobs/s', unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('events', 'listeners'), rate('events', 'none')),
      }),
      makeRow({ id: 'events.unheardNs', section: events, metric: '3 unheard job events per job, timed alone: CPU (main thread)', unit: 'ns', better: 'lower' }, {
        baozi: [unheardEventsNs],
      }),
      makeRow(
        { id: 'events.progressListener', section: events, metric: "run() on a runner with a 'progress' listener (add reports nothing)", unit: 'jobs/s', better: 'info' },
        { piscina: rate('piscina'), baozi: rate('baozi progress listener') },
      ),
      makeRow({ id: 'events.progressListenerRatio', section: events, metric: "  ÷ run() without it (a), per repeat", unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('baozi progress listener'), rate('baozi run')),
      }),
      makeRow({ id: 'progress.plain', section: progress, metric: 'add(a, b)', unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('progress', 'plain'),
      }),
      makeRow(
        { id: 'progress.unheard', section: progress, metric: `addWithProgress(a, b): ${PROGRESS_REPORTS} reportProgress() per job, nobody listening`, unit: 'jobs/s', better: 'higher' },
        { piscina: rate('piscina'), baozi: rate('progress', 'unheard') },
      ),
      makeRow({ id: 'progress.twin', section: progress, metric: 'add(a, b) again (A/A control)', unit: 'jobs/s', better: 'info' }, {
        piscina: rate('piscina'),
        baozi: rate('progress', 'twin'),
      }),
      makeRow({ id: 'progress.cpu', section: progress, metric: 'CPU time per job, add (process: main + pool threads)', unit: 'µs', better: 'info' }, {
        baozi: rate('progress', 'plain cpu'),
      }),
      makeRow({ id: 'progress.unheardRatio', section: progress, metric: 'unheard reports ÷ add, per trial: jobs/s', unit: 'x', better: 'higher' }, {
        baozi: pairedRatios(rate('progress', 'unheard'), rate('progress', 'plain')),
      }),
      makeRow({ id: 'progress.aa', section: progress, metric: '  A/A control: add again ÷ add', unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('progress', 'twin'), rate('progress', 'plain')),
      }),
      makeRow({ id: 'progress.unheardCpuRatio', section: progress, metric: 'add ÷ unheard reports, per trial: CPU per job', unit: 'x', better: 'higher' }, {
        baozi: pairedRatios(rate('progress', 'plain cpu'), rate('progress', 'unheard cpu')),
      }),
      makeRow({ id: 'progress.aaCpu', section: progress, metric: '  A/A control: add again ÷ add', unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('progress', 'twin cpu'), rate('progress', 'plain cpu')),
      }),
      makeRow({ id: 'progress.unheardNs', section: progress, metric: `${PROGRESS_REPORTS} unheard reportProgress() per job, timed alone: CPU (in a thread)`, unit: 'ns', better: 'lower' }, {
        baozi: [unheardProgressNs],
      }),
      makeRow({ id: 'progress.onProgress', section: progress, metric: 'addWithProgress(a, b) with an onProgress callback (own contender)', unit: 'jobs/s', better: 'info' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi onProgress'),
      }),
      makeRow({ id: 'progress.onProgressRatio', section: progress, metric: "  ÷ add through submit(), batching 'off' (a), per repeat", unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('baozi onProgress'), rate('baozi submit off')),
      }),
    ];
    const medians: Record<string, number> = {};
    for (const [name, metrics] of Object.entries(samples)) {
      for (const [metric, values] of Object.entries(metrics)) medians[metric === 'rate' ? name : `${name} ${metric}`] = summarize(values).median;
    }
    return {
      rows,
      unheardEventsNs,
      unheardProgressNs,
      eventsJobNs: 1000 * medians['events none cpu']!,
      progressJobNs: 1000 * medians['progress plain cpu']!,
      medians,
      raw: samples,
    };
  } finally {
    await runner.close();
    await runnerOff.close();
    await runnerAlone.close();
    for (const eventRunner of Object.values(eventRunners)) await eventRunner.close();
    await piscina.destroy();
    await piscinaSync?.destroy();
  }
}
