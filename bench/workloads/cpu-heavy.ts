/**
 * (b) CPU-heavy jobs, 16 × cpu(20 ms) on 2 threads: wall time, the share of
 * the threads' time spent inside tasks, in-thread task time; and (c) the
 * main event loop's delay (perf_hooks.monitorEventLoopDelay) meanwhile.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createBaozi, createPiscina, runOnPiscina, THREADS } from '../contenders.js';
import { interleave, log, type Contender, type Measurement } from '../harness.js';
import { makeRow, type Row } from '../report.js';
import { cpu } from '../tasks.js';

export const CPU_JOBS = 16;
export const CPU_JOB_MS = 20;

export interface CpuHeavyConfig {
  repeats: number;
}

/**
 * Runs the batch twice: once for time and busy share, once with the
 * loop-delay monitor on. The monitor wakes the main thread every
 * millisecond, which on 2 cores costs the threads 2–3 points of busy
 * share, so it stays off while those are measured.
 */
async function batch(threads: number, runAll: () => Promise<number[]>): Promise<Measurement> {
  const started = performance.now();
  const taskMs = await runAll();
  const wallMs = performance.now() - started;
  const inTasks = taskMs.reduce((sum, ms) => sum + ms, 0);

  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await runAll();
  delay.disable();
  return {
    wallMs,
    busyPct: (100 * inTasks) / (wallMs * threads),
    taskMs: inTasks / taskMs.length,
    delayP50: delay.percentile(50) / 1e6,
    delayP99: delay.percentile(99) / 1e6,
    delayMax: delay.max / 1e6,
  };
}

export async function cpuHeavy(config: CpuHeavyConfig): Promise<Row[]> {
  log(`(b, c) CPU-heavy: ${CPU_JOBS} × ${CPU_JOB_MS} ms, ${config.repeats} repeats`);
  const piscina = createPiscina();
  const runner = createBaozi();
  const indices = [...Array(CPU_JOBS).keys()];
  const contenders: Contender[] = [
    { name: 'piscina', trial: () => batch(THREADS, () => Promise.all(indices.map(() => runOnPiscina(piscina, 'cpu', [CPU_JOB_MS])))) },
    { name: 'baozi', trial: () => batch(THREADS, () => Promise.all(indices.map(() => runner.run('cpu', CPU_JOB_MS)))) },
    {
      // One job per turn of the event loop, so timers still get their turns between jobs.
      name: 'main',
      trial: () =>
        batch(1, async () => {
          const taskMs: number[] = [];
          for (const _ of indices) {
            await yieldToLoop();
            taskMs.push(cpu(CPU_JOB_MS));
          }
          return taskMs;
        }),
    },
  ];
  try {
    const samples = await interleave(contenders, config.repeats);
    const of = (metric: string, withMain = true): { piscina: number[]; baozi: number[]; main?: number[] } => ({
      piscina: samples.piscina![metric]!,
      baozi: samples.baozi![metric]!,
      ...(withMain && { main: samples.main![metric]! }),
    });
    const work = `(b) CPU-heavy, ${CPU_JOBS} × ${CPU_JOB_MS} ms on ${THREADS} threads (main thread: one after another)`;
    const loop = '(c) main event-loop delay during (b) (monitorEventLoopDelay, 1 ms resolution, own run of the batch)';
    return [
      makeRow({ id: 'cpu.wall', section: work, metric: 'wall time', unit: 'ms', better: 'lower' }, of('wallMs')),
      makeRow({ id: 'cpu.busy', section: work, metric: 'threads busy (Σ task time ÷ wall × threads)', unit: '%', better: 'higher' }, of('busyPct', false)),
      makeRow({ id: 'cpu.task', section: work, metric: 'in-thread task time, mean per job', unit: 'ms', better: 'info' }, of('taskMs')),
      makeRow({ id: 'loop.p50', section: loop, metric: 'p50', unit: 'ms', better: 'lower' }, of('delayP50')),
      makeRow({ id: 'loop.p99', section: loop, metric: 'p99', unit: 'ms', better: 'lower' }, of('delayP99')),
      makeRow({ id: 'loop.max', section: loop, metric: 'max', unit: 'ms', better: 'lower' }, of('delayMax')),
    ];
  } finally {
    await runner.close();
    await piscina.destroy();
  }
}
