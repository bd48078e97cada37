/**
 * (a) Tiny-job throughput, `add(a, b)` submitted in chunks of 1,000, and
 * (f) what events cost: the same loop with listeners on `running` and
 * `succeeded`, and with `emit` stubbed out on the instance (events off).
 */
import type { Runner } from 'baozi';
import { createBaozi, createPiscina, runOnMain, runOnPiscina, type BenchTasks } from '../contenders.js';
import { interleave, log, type Contender } from '../harness.js';
import { makeRow, type Row } from '../report.js';
import { pairedRatios, summarize } from '../stats.js';
import { add } from '../tasks.js';

export const CHUNK = 1_000;

export interface TinyJobsConfig {
  /** Jobs per trial, a multiple of `CHUNK`. */
  jobs: number;
  repeats: number;
  /** Unrecorded trials per contender first: JIT warm-up takes some 10,000 jobs. */
  warmups: number;
  /** Also run bare piscina with atomics 'sync' (its default), for reference. */
  withPiscinaSync: boolean;
}

export interface TinyJobsResult {
  rows: Row[];
  /** Median main-thread nanoseconds per job of emitting three events nobody hears. */
  unheardEventsNs: number;
  /** Median nanoseconds per job of baozi's `run()` loop (1e9 ÷ jobs/s). */
  baoziJobNs: number;
  /** Median jobs/s, by contender (for the targets). */
  medians: Record<string, number>;
  /** Every trial's jobs/s, by contender. */
  raw: Record<string, Record<string, number[]>>;
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
  checkSum(jobs, sum);
  return jobs / seconds;
}

// add(i, 1) over 0…jobs-1: proves every job really ran and came back.
function checkSum(jobs: number, sum: number): void {
  const expected = (jobs * (jobs - 1)) / 2 + jobs;
  if (sum !== expected) throw new Error(`tiny jobs: results sum to ${sum}, expected ${expected}`);
}

/** The same through `submit()`: a chunk of handles first, then their results. */
async function submitChunked(jobs: number, runner: Runner<BenchTasks>): Promise<number> {
  const started = performance.now();
  let sum = 0;
  for (let done = 0; done < jobs; done += CHUNK) {
    const handles = new Array<ReturnType<typeof runner.submit<'add'>>>(CHUNK);
    for (let i = 0; i < CHUNK; i++) handles[i] = runner.submit('add', [done + i, 1]);
    const results = (await Promise.all(handles)).map((job) => job.result);
    for (const result of await Promise.all(results)) sum += result;
  }
  const seconds = (performance.now() - started) / 1000;
  checkSum(jobs, sum);
  return jobs / seconds;
}

/** The runner's `emit`, replaced on the instance by a no-op for one trial. */
function withEventsOff<T>(runner: Runner<BenchTasks>, body: () => Promise<T>): Promise<T> {
  const instance = runner as unknown as { emit: unknown };
  instance.emit = () => false;
  return body().finally(() => {
    delete instance.emit;
  });
}

async function withListeners<T>(runner: Runner<BenchTasks>, body: () => Promise<T>): Promise<T> {
  let heard = 0;
  const onRunning = (): void => void heard++;
  const onSucceeded = (): void => void heard++;
  runner.on('running', onRunning);
  runner.on('succeeded', onSucceeded);
  try {
    return await body();
  } finally {
    runner.off('running', onRunning);
    runner.off('succeeded', onSucceeded);
    if (heard === 0) throw new Error('listeners heard nothing');
  }
}

/**
 * Nanoseconds per job of the three job events baozi emits (`queued`,
 * `running`, `succeeded`) when nobody listens, payload objects included,
 * through the runner's own `emit`.
 */
function measureUnheardEvents(runner: Runner<BenchTasks>): number {
  const job = {} as never;
  const emit = runner.emit.bind(runner) as (event: string, payload: object) => boolean;
  const rounds = 1_000_000;
  const samples: number[] = [];
  for (let repeat = 0; repeat < 7; repeat++) {
    const started = performance.now();
    for (let i = 0; i < rounds; i++) {
      emit('queued', { job });
      emit('running', { job });
      emit('succeeded', { job, result: i });
    }
    samples.push(((performance.now() - started) * 1e6) / rounds);
  }
  return summarize(samples.slice(2)).median;
}

export async function tinyJobs(config: TinyJobsConfig): Promise<TinyJobsResult> {
  const { jobs, repeats } = config;
  log(`(a, f) tiny jobs: ${jobs} jobs per trial, ${config.warmups} warm-up and ${repeats} measured trials per contender`);
  const piscina = createPiscina();
  const piscinaSync = config.withPiscinaSync ? createPiscina('sync') : undefined;
  const runner = createBaozi();
  const contenders: Contender[] = [
    { name: 'piscina', trial: async () => ({ rate: await chunked(jobs, (i) => runOnPiscina(piscina, 'add', [i, 1])) }) },
    { name: 'baozi run', trial: async () => ({ rate: await chunked(jobs, (i) => runner.run('add', i, 1)) }) },
    { name: 'baozi submit', trial: async () => ({ rate: await submitChunked(jobs, runner) }) },
    {
      name: 'baozi listeners',
      trial: async () => ({ rate: await withListeners(runner, () => chunked(jobs, (i) => runner.run('add', i, 1))) }),
    },
    {
      name: 'baozi events off',
      trial: async () => ({ rate: await withEventsOff(runner, () => chunked(jobs, (i) => runner.run('add', i, 1))) }),
    },
    ...(piscinaSync ? [{ name: 'piscina sync', trial: async () => ({ rate: await chunked(jobs, (i) => runOnPiscina(piscinaSync, 'add', [i, 1])) }) }] : []),
    { name: 'main', trial: async () => ({ rate: await chunked(jobs, (i) => runOnMain(add, i, 1)) }) },
  ];
  try {
    const samples = await interleave(contenders, repeats, config.warmups);
    const rate = (name: string): number[] => samples[name]!.rate!;
    const unheardEventsNs = measureUnheardEvents(runner);
    const section = '(a) tiny jobs, add(a, b) in chunks of 1,000';
    const events = '(f) events and progress (tiny jobs through run())';
    const rows: Row[] = [
      makeRow({ id: 'tiny.run', section, metric: 'through run()', unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi run'),
        main: rate('main'),
      }),
      makeRow({ id: 'tiny.submit', section, metric: 'through submit(), then result', unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi submit'),
      }),
      ...(piscinaSync
        ? [
            makeRow({ id: 'tiny.piscinaSync', section, metric: "run(), vs piscina with atomics 'sync' (its default)", unit: 'jobs/s', better: 'info' }, {
              piscina: rate('piscina sync'),
              baozi: rate('baozi run'),
            }),
          ]
        : []),
      makeRow({ id: 'events.none', section: events, metric: 'no listeners (as in (a))', unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi run'),
      }),
      makeRow({ id: 'events.listeners', section: events, metric: "listeners on 'running' + 'succeeded'", unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi listeners'),
      }),
      makeRow({ id: 'events.off', section: events, metric: 'events off (emit stubbed on the instance)', unit: 'jobs/s', better: 'higher' }, {
        piscina: rate('piscina'),
        baozi: rate('baozi events off'),
      }),
      makeRow({ id: 'events.listenersCost', section: events, metric: 'with listeners ÷ no listeners, per repeat', unit: 'x', better: 'higher' }, {
        baozi: pairedRatios(rate('baozi listeners'), rate('baozi run')),
      }),
      makeRow({ id: 'events.offGain', section: events, metric: 'events off ÷ no listeners, per repeat', unit: 'x', better: 'info' }, {
        baozi: pairedRatios(rate('baozi events off'), rate('baozi run')),
      }),
      makeRow({ id: 'events.unheardNs', section: events, metric: '3 unheard emits per job, payloads included', unit: 'ns', better: 'lower' }, {
        baozi: [unheardEventsNs],
      }),
      { id: 'progress', section: events, metric: 'progress reporting', unit: '', better: 'info', values: {}, text: 'progress: not implemented yet' },
    ];
    const medians: Record<string, number> = {};
    for (const name of Object.keys(samples)) medians[name] = summarize(rate(name)).median;
    return { rows, unheardEventsNs, baoziJobNs: 1e9 / medians['baozi run']!, medians, raw: samples };
  } finally {
    await runner.close();
    await piscina.destroy();
    await piscinaSync?.destroy();
  }
}
