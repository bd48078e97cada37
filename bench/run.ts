/**
 * The benchmark driver: `npm run bench` (about 5 minutes) or
 * `npm run bench -- --quick` (under a minute). `--only=a,b,d` runs some
 * workloads (a: tiny jobs and events, b: CPU-heavy and loop delay,
 * d: memory and depth, e: start-up).
 *
 * Prints the results (medians, min–max, ratios to bare piscina), then the
 * targets, and writes everything to bench/results/latest.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { version as piscinaVersion } from 'piscina';
import { BAOZI_ATOMICS, THREADS } from './contenders.js';
import { log } from './harness.js';
import { formatResults, formatTargets, formatValue, type Row, type Target } from './report.js';
import { cpuHeavy } from './workloads/cpu-heavy.js';
import { formatCount, memory, type MemoryResult } from './workloads/memory.js';
import { startUp } from './workloads/start-up.js';
import { tinyJobs, type TinyJobsResult } from './workloads/tiny-jobs.js';

const isQuick = process.argv.includes('--quick');
const onlyArg = process.argv.find((arg) => arg.startsWith('--only='));
const only = new Set(onlyArg ? onlyArg.slice('--only='.length).split(',') : ['a', 'b', 'd', 'e']);

const CONFIG = isQuick
  ? {
      tiny: { jobs: 2_000, repeats: 4, warmups: 2, withPiscinaSync: false },
      cpu: { repeats: 4 },
      startUp: { repeats: 5 },
      memory: { sizes: [20_000, 200_000], repeats: [1, 1], windowMs: 2_000 },
    }
  : {
      tiny: { jobs: 10_000, repeats: 10, warmups: 1, withPiscinaSync: true },
      cpu: { repeats: 25 },
      startUp: { repeats: 15 },
      memory: { sizes: [100_000, 1_000_000], repeats: [2, 1], windowMs: 5_000 },
    };

const RESULTS = new URL('../../bench/results/latest.json', import.meta.url);

function gitCommit(): string | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'workers'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${commit} (lib/ or workers/ modified)` : commit;
  } catch {
    return undefined;
  }
}

const find = (rows: readonly Row[], id: string): Row | undefined => rows.find((row) => row.id === id);

function ratioText(row: Row): string {
  const { ofMedians, paired } = row.ratio!;
  return paired.samples.length > 1 ? `${ofMedians.toFixed(2)}x (${paired.min.toFixed(2)}–${paired.max.toFixed(2)})` : `${ofMedians.toFixed(2)}x`;
}

function status(isMet: boolean): Target['status'] {
  return isMet ? 'met' : 'not met';
}

function evaluate(rows: readonly Row[], tiny: TinyJobsResult | undefined, mem: MemoryResult | undefined): Target[] {
  const targets: Target[] = [];
  for (const [id, how] of [['tiny.run', 'run()'], ['tiny.submit', 'submit()']] as const) {
    const row = find(rows, id);
    if (row?.ratio) {
      targets.push({ id, text: `tiny jobs through ${how} ≥ 0.9x piscina (batching off)`, measured: ratioText(row), status: status(row.ratio.ofMedians >= 0.9) });
    }
  }
  targets.push({ id: 'tiny.batching', text: 'tiny jobs with batching ≥ 4x piscina', measured: 'batching does not exist yet', status: 'not implemented' });
  targets.push({ id: 'tiny.map', text: 'tiny jobs through map() ≥ 20x piscina', measured: 'map() does not exist yet', status: 'not implemented' });
  const wall = find(rows, 'cpu.wall');
  if (wall?.ratio) {
    targets.push({ id: 'cpu.wall', text: 'CPU-heavy wall time ≤ 1.02x piscina', measured: ratioText(wall), status: status(wall.ratio.ofMedians <= 1.02) });
  }
  const busy = find(rows, 'cpu.busy')?.values.baozi;
  if (busy) {
    targets.push({
      id: 'cpu.busy',
      text: 'CPU-heavy: threads busy ≥ 97%',
      measured: `${busy.median.toFixed(1)}% (${busy.min.toFixed(1)}–${busy.max.toFixed(1)})`,
      status: status(busy.median >= 97),
    });
  }
  if (mem) {
    const sizes = CONFIG.memory.sizes;
    const small = formatCount(sizes[0]!);
    const large = formatCount(sizes[sizes.length - 1]!);
    const grownSmall = find(rows, `memory.${small}.heap`)!.values.baozi!;
    const grownLarge = find(rows, `memory.${large}.heap`)!.values.baozi!;
    targets.push({
      id: 'memory.heap',
      text: `memory: ${large}-job producer, capacity 1,024, heap grows < 16 MB`,
      measured: `${formatValue(grownLarge.median, 'MB')} MB`,
      status: status(grownLarge.median < 16),
    });
    targets.push({
      id: 'memory.flat',
      text: `memory: heap growth at ${large} ≤ 1.2x growth at ${small}`,
      measured: `${formatValue(grownLarge.median, 'MB')} vs ${formatValue(grownSmall.median, 'MB')} MB (${(grownLarge.median / grownSmall.median).toFixed(2)}x)`,
      status: status(grownLarge.median <= 1.2 * grownSmall.median),
    });
  }
  const p99 = find(rows, 'loop.p99');
  if (p99?.ratio) {
    targets.push({ id: 'loop.p99', text: 'event-loop delay p99 during (b) ≤ 1.5x piscina', measured: ratioText(p99), status: status(p99.ratio.ofMedians <= 1.5) });
  }
  const start = find(rows, 'startup.firstResult');
  if (start?.ratio) {
    targets.push({ id: 'startup', text: 'start-up to first result ≤ 1.0x piscina', measured: ratioText(start), status: status(start.ratio.ofMedians <= 1) });
  }
  if (tiny) {
    const share = tiny.unheardEventsNs / tiny.baoziJobNs;
    const off = find(rows, 'events.offGain')!.values.baozi!;
    targets.push({
      id: 'events.unheard',
      text: 'events nobody listens to cost a job < 2%',
      measured:
        `${tiny.unheardEventsNs.toFixed(0)} ns of ${(tiny.baoziJobNs / 1000).toFixed(0)} µs per job = ${(100 * share).toFixed(2)}%; ` +
        `end to end, events off ÷ on ${off.median.toFixed(2)} (${off.min.toFixed(2)}–${off.max.toFixed(2)})`,
      status: status(share < 0.02),
    });
    targets.push({ id: 'progress', text: 'progress reporting cost', measured: 'progress does not exist yet', status: 'not implemented' });
  }
  return targets;
}

const startedAt = new Date();
const loadBefore = loadavg()[0]!;
const started = performance.now();
log(`baozi bench (${isQuick ? 'quick' : 'full'}): ${THREADS} threads each, piscina ${piscinaVersion}, atomics '${BAOZI_ATOMICS}', ${availableParallelism()} cores`);
const rows: Row[] = [];
let tiny: TinyJobsResult | undefined;
let mem: MemoryResult | undefined;
if (only.has('a')) {
  tiny = await tinyJobs(CONFIG.tiny);
  rows.push(...tiny.rows);
}
if (only.has('b')) rows.push(...(await cpuHeavy(CONFIG.cpu)));
if (only.has('d')) {
  mem = await memory(CONFIG.memory);
  rows.push(...mem.rows);
}
if (only.has('e')) rows.push(...(await startUp(CONFIG.startUp)));
const sectionOrder = ['(a)', '(b)', '(c)', '(d)', '(e)', '(f)'];
rows.sort((a, b) => sectionOrder.indexOf(a.section.slice(0, 3)) - sectionOrder.indexOf(b.section.slice(0, 3)));
const targets = evaluate(rows, tiny, mem);
const durationS = (performance.now() - started) / 1000;
const loadAfter = loadavg()[0]!;

const heading =
  `baozi bench, ${isQuick ? '--quick' : 'full'} run, ${startedAt.toISOString()}: node ${process.version}, ` +
  `${cpus()[0]?.model ?? 'unknown CPU'} × ${availableParallelism()}, piscina ${piscinaVersion}, ` +
  `${THREADS} threads each, atomics '${BAOZI_ATOMICS}', ${durationS.toFixed(0)} s, ` +
  `1-minute load average ${loadBefore.toFixed(2)} before and ${loadAfter.toFixed(2)} after\n` +
  'cells: median (min–max) over repeats; ratios: median ÷ median (min–max of the per-repeat ratios)';
process.stdout.write(`${heading}\n\n${formatResults(rows)}\n\n${formatTargets(targets)}\n`);

mkdirSync(new URL('.', RESULTS), { recursive: true });
writeFileSync(
  RESULTS,
  `${JSON.stringify(
    {
      meta: {
        startedAt: startedAt.toISOString(),
        durationS,
        mode: isQuick ? 'quick' : 'full',
        node: process.version,
        cpu: cpus()[0]?.model,
        cores: availableParallelism(),
        piscina: piscinaVersion,
        threads: THREADS,
        atomics: BAOZI_ATOMICS,
        commit: gitCommit(),
        loadAverage: { before: loadBefore, after: loadAfter },
      },
      config: CONFIG,
      rows,
      targets,
      memoryReports: mem?.reports,
      tiny: tiny && { unheardEventsNs: tiny.unheardEventsNs, baoziJobNs: tiny.baoziJobNs, medians: tiny.medians },
    },
    null,
    2,
  )}\n`,
);
log(`done; wrote ${fileURLToPath(RESULTS)}`);
