/**
 * (f) Peers with their own defaults, each trial in a fresh process
 * (bench/peers/child.ts): baozi with only `tasks` set against bare piscina,
 * tinypool, workerpool, poolifier and a hand-wired p-queue over
 * worker_threads, on the workloads of the dispatch-core issue. Contenders
 * take turns, the first rotating, so a slow spell lands on all of them.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { log } from '../harness.js';
import { PEERS, type PeerName } from '../peers/contenders.js';
import type { Target } from '../report.js';
import { summarize, type Summary } from '../stats.js';

export interface PeersConfig {
  repeats: number;
  chunkJobs: number;
  mapInputs: number;
  /** Calls fired without awaiting: a small and a large count for baozi; piscina's memory per queued task at the small one ×10. */
  fire: readonly [number, number];
  roundTrips: number;
}

const CHILD = fileURLToPath(new URL('../peers/child.js', import.meta.url));

function trial(workload: string, contender: PeerName, count = 0): Record<string, number> {
  const output = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', CHILD, workload, contender, String(count)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return JSON.parse(output.trim().split('\n').pop()!) as Record<string, number>;
}

/** Each contender's samples of each metric, the contenders taking turns. */
function interleaved(workload: string, contenders: readonly PeerName[], repeats: number, count?: number): Map<PeerName, Record<string, number[]>> {
  const samples = new Map<PeerName, Record<string, number[]>>(contenders.map((name) => [name, {}]));
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (let k = 0; k < contenders.length; k++) {
      const name = contenders[(repeat + k) % contenders.length]!;
      const bucket = samples.get(name)!;
      for (const [metric, value] of Object.entries(trial(workload, name, count))) (bucket[metric] ??= []).push(value);
    }
  }
  return samples;
}

export interface PeersResult {
  /** The printed table. */
  text: string;
  targets: Target[];
  medians: Record<string, Record<string, number>>;
}

export function peers(config: PeersConfig): PeersResult {
  const lines: string[] = [];
  const targets: Target[] = [];
  const medians: Record<string, Record<string, number>> = {};
  const summary = (samples: Map<PeerName, Record<string, number[]>>, name: PeerName, metric: string): Summary => summarize(samples.get(name)![metric]!);
  const cell = (s: Summary, digits = 0): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
  const table = (title: string, samples: Map<PeerName, Record<string, number[]>>, metric: string, unit: string, digits = 0): Map<PeerName, number> => {
    const piscina = samples.has('piscina') ? summary(samples, 'piscina', metric).median : undefined;
    lines.push(`${title} (${unit}, median (min–max) of ${config.repeats})`);
    const byName = new Map<PeerName, number>();
    for (const name of samples.keys()) {
      const s = summary(samples, name, metric);
      byName.set(name, s.median);
      (medians[title] ??= {})[name] = s.median;
      lines.push(`  ${name.padEnd(12)} ${cell(s, digits).padStart(26)}${piscina ? `   ${(s.median / piscina).toFixed(2)}x piscina` : ''}`);
    }
    lines.push('');
    return byName;
  };
  const met = (isMet: boolean): Target['status'] => (isMet ? 'met' : 'not met');

  log(`(f) peers: ${config.chunkJobs} tiny jobs in chunks of 1,000, ${config.repeats} fresh processes each`);
  const chunks = table(`tiny jobs, ${config.chunkJobs} in chunks of 1,000, fresh process`, interleaved('chunks', PEERS, config.repeats, config.chunkJobs), 'jobsPerSec', 'jobs/s');
  const baoziChunks = chunks.get('baozi')!;
  const bestPeer = Math.max(...[...chunks].filter(([name]) => name !== 'baozi').map(([, rate]) => rate));
  targets.push({
    id: 'peers.chunks',
    text: 'tiny jobs in chunks of 1,000, fresh process: ≥ 4x piscina and ahead of every peer',
    measured: `${(baoziChunks / chunks.get('piscina')!).toFixed(2)}x piscina; ${(baoziChunks / bestPeer).toFixed(2)}x the best peer`,
    status: met(baoziChunks >= 4 * chunks.get('piscina')! && baoziChunks > bestPeer),
  });

  log(`(f) peers: map over ${config.mapInputs} inputs`);
  const map = table(`map over ${config.mapInputs} tiny inputs, fresh process (piscina: chunks of 1,000)`, new Map([...interleaved('map', ['baozi', 'baozi-fixed'], config.repeats, config.mapInputs), ['piscina', interleaved('chunks', ['piscina'], config.repeats, config.mapInputs).get('piscina')!]]), 'jobsPerSec', 'jobs/s');
  targets.push({
    id: 'peers.map',
    text: 'map, defaults: ≥ 20x piscina, and within 1.2x of a fixed pool (minThreads = maxThreads)',
    measured: `${(map.get('baozi')! / map.get('piscina')!).toFixed(1)}x piscina; fixed pool ${(map.get('baozi-fixed')! / map.get('baozi')!).toFixed(2)}x defaults`,
    status: met(map.get('baozi')! >= 20 * map.get('piscina')! && map.get('baozi-fixed')! <= 1.2 * map.get('baozi')!),
  });

  const [small, large] = config.fire;
  log(`(f) peers: ${small} and ${large} run() calls fired without awaiting`);
  const fireSmall = interleaved('fire', ['baozi'], config.repeats, small).get('baozi')!;
  const fireLarge = interleaved('fire', ['baozi'], 1, large).get('baozi')!;
  const pisFire = interleaved('fire', ['piscina'], config.repeats, small * 10).get('piscina')!;
  const rateSmall = summarize(fireSmall.jobsPerSec!).median;
  const rateLarge = summarize(fireLarge.jobsPerSec!).median;
  const heapBaozi = summarize(fireLarge.heapPerCallBytes!).median;
  const heapPiscina = summarize(pisFire.heapPerCallBytes!).median;
  lines.push(`run() fired without awaiting, then Promise.all, fresh process`);
  lines.push(`  baozi ${small}: ${rateSmall.toFixed(0)} jobs/s; ${large}: ${rateLarge.toFixed(0)} jobs/s (${(rateLarge / rateSmall).toFixed(2)}x), heap ${heapBaozi.toFixed(0)} B per waiting call`);
  lines.push(`  piscina ${small * 10}: ${summarize(pisFire.jobsPerSec!).median.toFixed(0)} jobs/s, heap ${heapPiscina.toFixed(0)} B per queued task`, '');
  medians['fire'] = { rateSmall, rateLarge, heapBaozi, heapPiscina };
  targets.push({
    id: 'peers.fire',
    text: `${large} run() fired without awaiting: all complete; jobs/s ≥ 0.9x of at ${small}; heap per waiting call ≤ piscina's per queued task`,
    measured: `all complete; ${(rateLarge / rateSmall).toFixed(2)}x; ${heapBaozi.toFixed(0)} B vs ${heapPiscina.toFixed(0)} B`,
    status: met(rateLarge >= 0.9 * rateSmall && heapBaozi <= heapPiscina),
  });

  log(`(f) peers: round trip, one job at a time`);
  const trips = table(`one job at a time, round trip p50, after 500 warm-up jobs`, interleaved('roundtrip', ['baozi', 'piscina'], config.repeats, config.roundTrips), 'p50Us', 'µs', 1);
  targets.push({ id: 'peers.roundtrip', text: 'one job at a time, round trip p50 ≤ 1.0x piscina', measured: `${(trips.get('baozi')! / trips.get('piscina')!).toFixed(2)}x`, status: met(trips.get('baozi')! <= trips.get('piscina')!) });

  log(`(f) peers: CPU-heavy 48 × 20 ms of work`);
  const cpuSamples = interleaved('cpu', PEERS, config.repeats);
  const wall = table('CPU-heavy, 48 jobs × ~20 ms of fixed work: wall', cpuSamples, 'wallMs', 'ms');
  const busy = table('CPU-heavy: threads busy (single-thread work time ÷ wall × cores)', cpuSamples, 'busyPct', '%', 1);
  const loop = table('CPU-heavy: main event-loop delay p99', cpuSamples, 'loopP99Ms', 'ms', 2);
  const wallRatio = wall.get('baozi')! / wall.get('piscina')!;
  const loopRatio = loop.get('baozi')! / loop.get('piscina')!;
  targets.push({
    id: 'peers.cpu',
    text: 'CPU-heavy 48 × 20 ms: wall ≤ 1.02x piscina, threads busy ≥ 97%, event-loop delay p99 ≤ 1.2x',
    measured: `wall ${wallRatio.toFixed(2)}x, busy ${busy.get('baozi')!.toFixed(1)}%, loop p99 ${loopRatio.toFixed(2)}x`,
    status: met(wallRatio <= 1.02 && busy.get('baozi')! >= 97 && loopRatio <= 1.2),
  });

  log(`(f) peers: start-up to first result`);
  const startUp = table('start-up to first result, fresh process', interleaved('startup', ['baozi', 'piscina'], config.repeats * 2), 'firstResultMs', 'ms', 1);
  const startRatio = startUp.get('baozi')! / startUp.get('piscina')!;
  targets.push({ id: 'peers.startup', text: 'start-up to first result ≤ 1.2x piscina', measured: `${startRatio.toFixed(2)}x`, status: met(startRatio <= 1.2) });

  return { text: lines.join('\n'), targets, medians };
}
