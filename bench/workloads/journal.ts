/**
 * (g) The journal (issue 15): tiny jobs and CPU-heavy jobs through a runner
 * with `journal` set, against the same runner in memory and bare piscina,
 * each with its defaults; tiny jobs both in awaited chunks and fired all
 * before any is awaited;
 * contenders interleaved in one process; then the recovery of jobs a closed
 * runner left in a journal, read back and run by a new one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRunner, type Runner } from 'baozi';
import { Piscina } from 'piscina';
import { PISCINA_ENTRY_URL, runOnPiscina, TASKS_URL, type BenchTasks } from '../contenders.js';
import { collectGarbage, interleave, log, type Contender } from '../harness.js';
import type { Target } from '../report.js';
import { summarize, pairedRatios, type Summary } from '../stats.js';
import { CPU_JOB_MS, CPU_JOBS } from './cpu-heavy.js';

export interface JournalConfig {
  repeats: number;
  /** Tiny jobs per trial, submitted in chunks of 1,000. */
  tinyJobs: number;
  /** Jobs left in the journal for the recovery trial. */
  recoverJobs: number;
}

const CHUNK = 1000;
/** How long the jobs left for recovery wait before they are due: long enough to submit them all and close. */
const LEAVE_MS = 8000;

export interface JournalResult {
  text: string;
  targets: Target[];
  medians: Record<string, Record<string, number>>;
}

function journalRunner(path: string, capacity?: number): Runner<BenchTasks> {
  return createRunner<BenchTasks>({ tasks: TASKS_URL, journal: path, ...(capacity !== undefined && { capacity }) });
}

/** `jobs` × add(1, 2), every call made before any is awaited, then all awaited: jobs per second. */
async function firedRate(jobs: number, run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < jobs; i++) calls.push(run());
  await Promise.all(calls);
  return jobs / ((performance.now() - started) / 1000);
}

/** `jobs` × add(1, 2), `run()` in chunks of 1,000 awaited together: jobs per second. */
async function tinyRate(jobs: number, run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let done = 0; done < jobs; done += CHUNK) {
    const chunk: Promise<unknown>[] = [];
    for (let i = 0; i < CHUNK; i++) chunk.push(run());
    await Promise.all(chunk);
  }
  return jobs / ((performance.now() - started) / 1000);
}

async function cpuWall(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await Promise.all(Array.from({ length: CPU_JOBS }, run));
  return performance.now() - started;
}

/** Leaves `jobs` unsettled in a fresh journal at `path`, due `LEAVE_MS` from now: a runner closed without draining keeps them. */
async function leaveJobs(path: string, jobs: number): Promise<number> {
  const leaving = createRunner<BenchTasks>({ tasks: TASKS_URL, journal: path, maxScheduled: jobs });
  const runAt = Date.now() + LEAVE_MS;
  const submitted: Promise<unknown>[] = [];
  for (let i = 0; i < jobs; i++) submitted.push(leaving.submit('add', [i, 1], { runAt: new Date(runAt) }));
  await Promise.all(submitted);
  await leaving.close({ drain: 'none' });
  return runAt;
}

/**
 * Times a new runner from creation until every job a closed one left in
 * its journal ran, and the most its live heap grew by (a full collection
 * at each quarter of the jobs, inside the timing). The jobs are left in a
 * function of their own, so that nothing of the runner that left them is
 * still held while this one runs.
 */
async function recovery(dir: string, jobs: number): Promise<{ ms: number; heapMb: number; recovered: number }> {
  const path = join(dir, `recover-${jobs}.db`);
  const runAt = await leaveJobs(path, jobs);
  await sleep(Math.max(0, runAt - Date.now()));
  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  const started = performance.now();
  const runner = createRunner<BenchTasks>({ tasks: TASKS_URL, journal: path, capacity: 1024 });
  let recovered = 0;
  runner.on('recovered', ({ count }) => void (recovered = count));
  let succeeded = 0;
  const quarter = Math.max(1, Math.floor(jobs / 4));
  await new Promise<void>((resolve) => {
    runner.on('succeeded', () => {
      succeeded++;
      // The live heap (after a full collection): what recovery holds, not its garbage.
      if (succeeded % quarter === 0 && succeeded < jobs) {
        collectGarbage();
        heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      }
      if (succeeded === jobs) resolve();
    });
  });
  const ms = performance.now() - started;
  await runner.close();
  rmSync(path, { force: true });
  return { ms, heapMb: (heapPeak - heapBefore) / 2 ** 20, recovered };
}

export async function journal(config: JournalConfig): Promise<JournalResult> {
  log(`(g) journal: ${config.tinyJobs} tiny jobs and ${CPU_JOBS} × ${CPU_JOB_MS} ms, ${config.repeats} repeats; recovery of ${config.recoverJobs}`);
  const dir = mkdtempSync(join(tmpdir(), 'baozi-bench-journal-'));
  // Bare piscina with its own defaults, as a user gets it.
  const piscina = new Piscina({ filename: PISCINA_ENTRY_URL.href });
  // Defaults only, as a user gets them: `tasks`, and the journal for one of them.
  const memory = createRunner<BenchTasks>({ tasks: TASKS_URL });
  const journaled = journalRunner(join(dir, 'jobs.db'));
  const trial =
    (add: () => Promise<unknown>, cpu: () => Promise<unknown>) =>
    // CPU-heavy first: the garbage of 100k fired calls would land on its clock.
    async (): Promise<Record<string, number>> => ({
      cpu: await cpuWall(cpu),
      tiny: await tinyRate(config.tinyJobs, add),
      fired: await firedRate(config.tinyJobs, add),
    });
  const contenders: Contender[] = [
    { name: 'piscina', trial: trial(() => runOnPiscina(piscina, 'add', [1, 2]), () => runOnPiscina(piscina, 'cpu', [CPU_JOB_MS])) },
    { name: 'memory', trial: trial(() => memory.run('add', 1, 2), () => memory.run('cpu', CPU_JOB_MS)) },
    { name: 'journal', trial: trial(() => journaled.run('add', 1, 2), () => journaled.run('cpu', CPU_JOB_MS)) },
  ];
  try {
    const samples = await interleave(contenders, config.repeats);
    const of = (name: string, metric: string): number[] => samples[name]![metric]!;
    const cell = (s: Summary, digits: number): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
    const ratio = (a: number[], b: number[]): Summary => summarize(pairedRatios(a, b));
    const tinyToMemory = ratio(of('journal', 'tiny'), of('memory', 'tiny'));
    const tinyToPiscina = ratio(of('journal', 'tiny'), of('piscina', 'tiny'));
    const firedToMemory = ratio(of('journal', 'fired'), of('memory', 'fired'));
    const firedToPiscina = ratio(of('journal', 'fired'), of('piscina', 'fired'));
    const cpuToMemory = ratio(of('journal', 'cpu'), of('memory', 'cpu'));
    const recover = await recovery(dir, config.recoverJobs);
    const lines = [
      `tiny jobs, run() in chunks of ${CHUNK} (jobs/s, median (min–max) of ${config.repeats}): piscina ${cell(summarize(of('piscina', 'tiny')), 0)}, ` +
        `in memory ${cell(summarize(of('memory', 'tiny')), 0)}, journal ${cell(summarize(of('journal', 'tiny')), 0)}`,
      `  journal ÷ in memory ${cell(tinyToMemory, 2)}x, journal ÷ piscina ${cell(tinyToPiscina, 2)}x`,
      `tiny jobs, ${config.tinyJobs} run() calls made before any is awaited (jobs/s): piscina ${cell(summarize(of('piscina', 'fired')), 0)}, ` +
        `in memory ${cell(summarize(of('memory', 'fired')), 0)}, journal ${cell(summarize(of('journal', 'fired')), 0)}`,
      `  journal ÷ in memory ${cell(firedToMemory, 2)}x, journal ÷ piscina ${cell(firedToPiscina, 2)}x (info: the targets are on the chunks above)`,
      `CPU-heavy ${CPU_JOBS} × ${CPU_JOB_MS} ms (wall ms): piscina ${cell(summarize(of('piscina', 'cpu')), 1)}, in memory ${cell(summarize(of('memory', 'cpu')), 1)}, ` +
        `journal ${cell(summarize(of('journal', 'cpu')), 1)}; journal ÷ in memory ${cell(cpuToMemory, 3)}x`,
      `recovery: ${recover.recovered} jobs left by a runner closed without draining, recovered and run by a new one (capacity 1,024) in ${recover.ms.toFixed(0)} ms, heap +${recover.heapMb.toFixed(1)} MB`,
    ];
    const met = (ok: boolean): Target['status'] => (ok ? 'met' : 'not met');
    const targets: Target[] = [
      { id: 'journal.tiny.memory', text: 'journal: tiny jobs ≥ 0.5x the in-memory runner', measured: `${tinyToMemory.median.toFixed(2)}x`, status: met(tinyToMemory.median >= 0.5) },
      { id: 'journal.tiny.piscina', text: 'journal: tiny jobs ≥ 1.0x bare piscina', measured: `${tinyToPiscina.median.toFixed(2)}x`, status: met(tinyToPiscina.median >= 1) },
      { id: 'journal.cpu', text: 'journal: CPU-heavy within 2% of the in-memory runner', measured: `${cpuToMemory.median.toFixed(3)}x`, status: met(cpuToMemory.median <= 1.02) },
      {
        id: 'journal.recovery',
        text: `journal: recovery of ${config.recoverJobs} unfinished jobs under 2 s, memory bounded by capacity`,
        measured: `${recover.ms.toFixed(0)} ms, heap +${recover.heapMb.toFixed(1)} MB`,
        status: met(recover.ms < 2000 && recover.recovered === config.recoverJobs),
      },
    ];
    const median = (name: string, metric: string): number => summarize(of(name, metric)).median;
    const medians: Record<string, Record<string, number>> = Object.fromEntries(
      ['piscina', 'memory', 'journal'].map((name) => [name, { tiny: median(name, 'tiny'), fired: median(name, 'fired'), cpu: median(name, 'cpu') }]),
    );
    medians.recovery = { ms: recover.ms, heapMb: recover.heapMb };
    return { text: lines.join('\n'), targets, medians };
  } finally {
    await journaled.close();
    await memory.close();
    await piscina.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
