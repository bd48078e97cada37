/**
 * The benchmark driver: `npm run bench` (about 5 minutes) or
 * `npm run bench -- --quick` (under a minute). `--only=a,b,d` runs some
 * workloads (a: tiny jobs, map, events and progress, b: CPU-heavy and loop
 * delay, d: memory and depth, e: start-up, f: peers with their own
 * defaults, each trial a fresh process, g: the journal; `broker`, not in the
 * default set: baozi over BullMQ against bare BullMQ, on a redis-server of its own).
 *
 * Prints the results (medians, min–max, ratios to bare piscina), then the
 * targets, and writes everything to bench/results/latest.json.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { version as piscinaVersion } from 'piscina';
import { BAOZI_ATOMICS, THREADS } from './contenders.js';
import { log } from './harness.js';
import { formatResults, formatTargets, formatValue, type Row, type Target } from './report.js';
import { PROGRESS_REPORTS } from './tasks.js';
import { brokerBench, SLOTS, type BrokerResult } from './workloads/broker.js';
import { cpuHeavy } from './workloads/cpu-heavy.js';
import { formatCount, memory, type MemoryResult } from './workloads/memory.js';
import { journal, type JournalResult } from './workloads/journal.js';
import { peers, type PeersResult } from './workloads/peers.js';
import { startUp } from './workloads/start-up.js';
import { tinyJobs, type TinyJobsResult } from './workloads/tiny-jobs.js';

const isQuick = process.argv.includes('--quick');
const onlyArg = process.argv.find((arg) => arg.startsWith('--only='));
const only = new Set(onlyArg ? onlyArg.slice('--only='.length).split(',') : ['a', 'b', 'd', 'e', 'f', 'g']);

const CONFIG = isQuick
  ? {
      tiny: { jobs: 2_000, batchedJobs: 10_000, repeats: 4, warmups: 1, eventRounds: 2, progressRounds: 1, withPiscinaSync: false },
      cpu: { repeats: 4 },
      startUp: { repeats: 5 },
      memory: { sizes: [20_000, 200_000], repeats: [1, 1], windowMs: 2_000 },
      peers: { repeats: 2, chunkJobs: 20_000, mapInputs: 20_000, fire: [10_000, 100_000] as const, roundTrips: 1_000 },
      journal: { repeats: 3, tinyJobs: 20_000, recoverJobs: 20_000 },
      broker: { cpuJobs: 40, tinyJobs: 1_000, tinyRepeats: 3, mapInputs: 5_000, memoryJobs: 10_000 },
    }
  : {
      tiny: { jobs: 10_000, batchedJobs: 50_000, repeats: 10, warmups: 1, eventRounds: 8, progressRounds: 4, withPiscinaSync: true },
      cpu: { repeats: 25 },
      startUp: { repeats: 15 },
      memory: { sizes: [100_000, 1_000_000], repeats: [2, 1], windowMs: 5_000 },
      peers: { repeats: 5, chunkJobs: 100_000, mapInputs: 100_000, fire: [10_000, 1_000_000] as const, roundTrips: 5_000 },
      journal: { repeats: 7, tinyJobs: 100_000, recoverJobs: 100_000 },
      broker: { cpuJobs: 200, tinyJobs: 5_000, tinyRepeats: 3, mapInputs: 20_000, memoryJobs: 100_000 },
    };

const RESULTS = new URL('../../bench/results/latest.json', import.meta.url);

interface CodeState {
  /** HEAD and whether lib/ or workers/ differ from it, e.g. `2c929fc` or `2c929fc + uncommitted lib/ or workers/ changes`. */
  label: string;
  /** Changes when HEAD or the uncommitted changes to lib/ or workers/ do. */
  fingerprint: string;
}

// Other engineers commit and build in this tree while the bench runs:
// the heading says what code was measured, and whether it changed meanwhile.
function codeState(): CodeState | undefined {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
    const commit = git('rev-parse', '--short', 'HEAD').trim();
    const diff = git('diff', 'HEAD', '--', 'lib', 'workers');
    const untracked = git('ls-files', '--others', '--exclude-standard', '--', 'lib', 'workers');
    const label = diff || untracked ? `${commit} + uncommitted lib/ or workers/ changes` : commit;
    return { label, fingerprint: createHash('sha1').update(commit).update(diff).update(untracked).digest('hex') };
  } catch {
    return undefined;
  }
}

/** Compiled files of lib/ and workers/ written after `since` (epoch ms): another build ran meanwhile. */
function rebuiltSince(since: number): number {
  let count = 0;
  for (const folder of ['../lib/', '../workers/']) {
    const dir = new URL(folder, import.meta.url);
    try {
      for (const name of readdirSync(dir)) if (name.endsWith('.js') && statSync(new URL(name, dir)).mtimeMs > since) count++;
    } catch {
      // No such folder: nothing rebuilt there.
    }
  }
  return count;
}

const find = (rows: readonly Row[], id: string): Row | undefined => rows.find((row) => row.id === id);

function ratioText(row: Row): string {
  const { ofMedians, paired } = row.ratio!;
  return paired.samples.length > 1 ? `${ofMedians.toFixed(2)}x (${paired.min.toFixed(2)}–${paired.max.toFixed(2)})` : `${ofMedians.toFixed(2)}x`;
}

function status(isMet: boolean): Target['status'] {
  return isMet ? 'met' : 'not met';
}

/** The targets, each against bare piscina measured in this run. */
export const TARGETS = {
  batchedTiny: 4,
  unbatchedTiny: 0.9,
  map: 20,
  cpuWall: 1.02,
  cpuBusyPct: 97,
  heapMb: 16,
  heapFlat: 1.2,
  /** "The same throughput with 1M jobs produced as with 1,000": the bench reads "same" as within 10%. */
  depth: 0.9,
  loopP99: 1.5,
  startUp: 1,
  /** Jobs nobody listens to pay under 2% for events and for progress. */
  unheardCost: 0.02,
} as const;

function evaluate(rows: readonly Row[], tiny: TinyJobsResult | undefined, mem: MemoryResult | undefined): Target[] {
  const targets: Target[] = [];
  const ratioTarget = (id: string, text: string, isMet: (ratio: number) => boolean): void => {
    const row = find(rows, id);
    if (row?.ratio) targets.push({ id, text, measured: ratioText(row), status: status(isMet(row.ratio.ofMedians)) });
  };
  ratioTarget('tiny.run', `tiny jobs through run(), batching 'auto' ≥ ${TARGETS.batchedTiny}x piscina`, (r) => r >= TARGETS.batchedTiny);
  ratioTarget('tiny.submit', `tiny jobs through submit(), batching 'auto' ≥ ${TARGETS.batchedTiny}x piscina`, (r) => r >= TARGETS.batchedTiny);
  ratioTarget('tiny.runOff', `tiny jobs through run(), batching 'off' ≥ ${TARGETS.unbatchedTiny}x piscina`, (r) => r >= TARGETS.unbatchedTiny);
  ratioTarget('tiny.submitOff', `tiny jobs through submit(), batching 'off' ≥ ${TARGETS.unbatchedTiny}x piscina`, (r) => r >= TARGETS.unbatchedTiny);
  ratioTarget('tiny.map', `tiny jobs through map(), batchSize 'auto', ≥ ${TARGETS.map}x piscina (same jobs, same window)`, (r) => r >= TARGETS.map);
  if (mem) {
    const large = formatCount(CONFIG.memory.sizes[CONFIG.memory.sizes.length - 1]!);
    const depth = find(rows, `depth.${large}.ratio`)?.values.baozi;
    if (depth) {
      targets.push({
        id: 'depth',
        text: `tiny-job rate with ${large} produced ≥ ${TARGETS.depth}x the rate with 1,000 (batching 'auto')`,
        measured: depth.samples.length > 1 ? `${depth.median.toFixed(2)}x (${depth.min.toFixed(2)}–${depth.max.toFixed(2)})` : `${depth.median.toFixed(2)}x`,
        status: status(depth.median >= TARGETS.depth),
      });
    }
  }
  ratioTarget('cpu.wall', `CPU-heavy wall time ≤ ${TARGETS.cpuWall}x piscina`, (r) => r <= TARGETS.cpuWall);
  const busy = find(rows, 'cpu.busy')?.values;
  if (busy?.baozi) {
    targets.push({
      id: 'cpu.busy',
      text: `CPU-heavy: threads busy ≥ ${TARGETS.cpuBusyPct}%`,
      measured: `${busy.baozi.median.toFixed(1)}% (${busy.baozi.min.toFixed(1)}–${busy.baozi.max.toFixed(1)}); piscina ${busy.piscina?.median.toFixed(1)}%`,
      status: status(busy.baozi.median >= TARGETS.cpuBusyPct),
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
      text: `memory: ${large}-job producer, capacity 1,024, heap grows < ${TARGETS.heapMb} MB`,
      measured: `${formatValue(grownLarge.median, 'MB')} MB`,
      status: status(grownLarge.median < TARGETS.heapMb),
    });
    targets.push({
      id: 'memory.flat',
      text: `memory: heap growth at ${large} ≤ ${TARGETS.heapFlat}x growth at ${small}`,
      measured: `${formatValue(grownLarge.median, 'MB')} vs ${formatValue(grownSmall.median, 'MB')} MB (${(grownLarge.median / grownSmall.median).toFixed(2)}x)`,
      status: status(grownLarge.median <= TARGETS.heapFlat * grownSmall.median),
    });
  }
  ratioTarget('loop.p99', `event-loop delay p99 during (b) ≤ ${TARGETS.loopP99}x piscina`, (r) => r <= TARGETS.loopP99);
  ratioTarget('startup.firstResult', `start-up to first result ≤ ${TARGETS.startUp.toFixed(1)}x piscina`, (r) => r <= TARGETS.startUp);
  if (tiny) {
    // Met or not by the timing of the added work alone, as a share of the
    // CPU time a job costs the process: end to end, this machine cannot
    // resolve 2% (the A/A controls show how close two identical variants
    // come), so the end-to-end ratios are shown beside it as the check,
    // not as the verdict.
    const paired = (id: string): string => {
      const summary = find(rows, id)!.values.baozi!;
      return `${summary.median.toFixed(2)} (${summary.min.toFixed(2)}–${summary.max.toFixed(2)})`;
    };
    const eventsShare = tiny.unheardEventsNs / tiny.eventsJobNs;
    targets.push({
      id: 'events.unheard',
      text: `events nobody listens to cost a job < ${100 * TARGETS.unheardCost}% (batching 'auto')`,
      measured:
        `${tiny.unheardEventsNs.toFixed(0)} ns of ${formatNs(tiny.eventsJobNs)} CPU per job = ${(100 * eventsShare).toFixed(2)}%; ` +
        `end to end (CPU) ${paired('events.unheardCpuRatio')}, A/A ${paired('events.aaCpu')}`,
      status: status(eventsShare < TARGETS.unheardCost),
    });
    const progressShare = tiny.unheardProgressNs / tiny.progressJobNs;
    targets.push({
      id: 'progress.unheard',
      text: `${PROGRESS_REPORTS} unheard reportProgress() cost a job < ${100 * TARGETS.unheardCost}% (batching 'off')`,
      measured:
        `${tiny.unheardProgressNs.toFixed(0)} ns of ${formatNs(tiny.progressJobNs)} CPU per job = ${(100 * progressShare).toFixed(2)}%; ` +
        `end to end (CPU) ${paired('progress.unheardCpuRatio')}, A/A ${paired('progress.aaCpu')}`,
      status: status(progressShare < TARGETS.unheardCost),
    });
  }
  return targets;
}

function formatNs(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}

const startedAt = new Date();
const loadBefore = loadavg()[0]!;
const codeBefore = codeState();
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
const peersResult: PeersResult | undefined = only.has('f') ? peers(CONFIG.peers) : undefined;
const journalResult: JournalResult | undefined = only.has('g') ? await journal(CONFIG.journal) : undefined;
const brokerResult: BrokerResult | undefined = only.has('broker') ? await brokerBench(CONFIG.broker) : undefined;
const sectionOrder = ['(a)', '(b)', '(c)', '(d)', '(e)', '(f)'];
rows.sort((a, b) => sectionOrder.indexOf(a.section.slice(0, 3)) - sectionOrder.indexOf(b.section.slice(0, 3)));
const targets = [...evaluate(rows, tiny, mem), ...(peersResult?.targets ?? []), ...(journalResult?.targets ?? []), ...(brokerResult?.targets ?? [])];
const durationS = (performance.now() - started) / 1000;
const loadAfter = loadavg()[0]!;
const codeAfter = codeState();
const codeWarnings = [
  ...(codeBefore && codeAfter && codeBefore.fingerprint !== codeAfter.fingerprint ? [`lib/ or workers/ changed during the run (now ${codeAfter.label})`] : []),
  ...(rebuiltSince(startedAt.getTime()) > 0 ? ['dist/lib or dist/workers was rebuilt during the run: child processes started after that loaded the new build'] : []),
];

const heading =
  `baozi bench, ${isQuick ? '--quick' : 'full'} run, ${startedAt.toISOString()}: node ${process.version}, ` +
  `${cpus()[0]?.model ?? 'unknown CPU'} × ${availableParallelism()}, piscina ${piscinaVersion}, ` +
  `${THREADS} threads each, atomics '${BAOZI_ATOMICS}', baozi ${codeBefore?.label ?? 'outside git'}, ${durationS.toFixed(0)} s, ` +
  `1-minute load average ${loadBefore.toFixed(2)} before and ${loadAfter.toFixed(2)} after\n` +
  codeWarnings.map((warning) => `WARNING: ${warning}\n`).join('') +
  'cells: median (min–max) over repeats; ratios: median ÷ median (min–max of the per-repeat ratios)';
const peersText = peersResult ? `(f) peers with their own defaults, a fresh process per trial\n\n${peersResult.text}\n` : '';
const journalText = journalResult ? `(g) the journal, defaults (only \`tasks\`, and \`journal\`), interleaved in one process\n\n${journalResult.text}\n\n` : '';
const brokerText = brokerResult ? `(broker) baozi over BullMQ against bare BullMQ: one producer and two consumer processes, ${SLOTS} slots each, one local redis-server, one run\n\n${brokerResult.text}\n\n` : '';
const resultsText = rows.length > 0 ? `${formatResults(rows)}\n\n` : '';
process.stdout.write(`${heading}\n\n${resultsText}${peersText}${journalText}${brokerText}${formatTargets(targets)}\n`);

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
        code: { before: codeBefore?.label, after: codeAfter?.label, warnings: codeWarnings },
        loadAverage: { before: loadBefore, after: loadAfter },
      },
      config: CONFIG,
      rows,
      targets,
      memoryReports: mem?.reports,
      peers: peersResult?.medians,
      journal: journalResult?.medians,
      broker: brokerResult?.figures,
      tiny: tiny && {
        unheardEventsNs: tiny.unheardEventsNs,
        unheardProgressNs: tiny.unheardProgressNs,
        eventsJobNs: tiny.eventsJobNs,
        progressJobNs: tiny.progressJobNs,
        medians: tiny.medians,
      },
    },
    null,
    2,
  )}\n`,
);
log(`done; wrote ${fileURLToPath(RESULTS)}`);
