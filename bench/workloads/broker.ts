/**
 * The broker bench (`npm run bench -- --only=broker`): one producer and two
 * consumer processes on a redis-server of its own, baozi over BullMQ
 * against bare BullMQ with the same tasks, run by a sandboxed processor
 * (`useWorkerThreads`) and by a plain in-process processor. Every
 * consumer has the same slots (threads, or BullMQ concurrency). Each
 * contender's consumers stay up for the whole bench, on a queue of their
 * own, so that contenders can take turns: tiny jobs, which move by tens of
 * percent with this machine's load, are measured `tinyRepeats` times in
 * turn (the first contender rotating) and judged by their medians; the
 * other workloads once each.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startRedis } from '../../test/helpers/redis.js';
import { log } from '../harness.js';
import type { Target } from '../report.js';
import { CPU_JOB_MS } from '../broker/cpu-job.js';
import { pairedRatios, summarize, type Summary } from '../stats.js';

export interface BrokerConfig {
  cpuJobs: number;
  tinyJobs: number;
  /** Tiny-jobs trials per contender, taken in turn. */
  tinyRepeats: number;
  mapInputs: number;
  memoryJobs: number;
}

const CONSUMERS = 2;
/** Each consumer's slots: threads (baozi, sandboxed) or concurrency (in-process). */
export const SLOTS = 2;
const CONTENDERS = ['baozi', 'sandboxed', 'in-process'] as const;
type Contender = (typeof CONTENDERS)[number];

export const BROKER_TARGETS = { cpu: 1, loopP99: 0.5, tiny: 1, map: 5, heapGrowth: 0.1 } as const;

export interface BrokerResult {
  text: string;
  targets: Target[];
  figures: Record<string, Record<string, number>>;
}

const CONSUMER = new URL('../broker/consumer.js', import.meta.url);
const PRODUCER = new URL('../broker/producer.js', import.meta.url);

function child(url: URL, args: string[], execArgv: string[] = []): ChildProcess {
  return fork(url, args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function nextMessage<T>(process: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`a bench process exited with ${code} before answering`));
    process.once('exit', onExit);
    process.once('message', (message) => {
      process.off('exit', onExit);
      resolve(message as T);
    });
  });
}

async function produce(contender: Contender, url: string, queue: string, workload: string, jobs: number): Promise<Record<string, number>> {
  const producer = child(PRODUCER, [contender === 'baozi' ? 'baozi' : 'bare', url, queue, workload, String(jobs)], workload === 'memory' ? ['--expose-gc'] : []);
  return nextMessage(producer);
}

/** One contender's consumer processes, on a queue of their own. */
interface Fleet {
  readonly queue: string;
  readonly consumers: ChildProcess[];
}

async function startFleet(contender: Contender, url: string): Promise<Fleet> {
  const queue = `bench-${randomBytes(4).toString('hex')}`;
  const consumers = Array.from({ length: CONSUMERS }, () => child(CONSUMER, [contender, url, queue, String(SLOTS)]));
  await Promise.all(consumers.map((consumer) => nextMessage(consumer)));
  return { queue, consumers };
}

function closeFleet({ consumers }: Fleet): Promise<unknown> {
  return Promise.all(consumers.map((consumer) => (consumer.exitCode === null ? new Promise((resolve) => (consumer.once('exit', resolve), consumer.send('close'))) : undefined)));
}

/** The contenders, the first one moved `by` places along: each takes the first turn in some repeat. */
function rotated(by: number): Contender[] {
  const shift = by % CONTENDERS.length;
  return [...CONTENDERS.slice(shift), ...CONTENDERS.slice(0, shift)];
}

export async function brokerBench(config: BrokerConfig): Promise<BrokerResult> {
  const redis = await startRedis();
  const figures = Object.fromEntries(CONTENDERS.map((contender) => [contender, {} as Record<string, number>])) as Record<Contender, Record<string, number>>;
  const fleets = new Map<Contender, Fleet>();
  const rate = async (contender: Contender, workload: string, jobs: number): Promise<number> => jobs / ((await produce(contender, redis.url, fleets.get(contender)!.queue, workload, jobs)).ms! / 1000);
  try {
    for (const contender of CONTENDERS) fleets.set(contender, await startFleet(contender, redis.url));
    for (const contender of CONTENDERS) {
      const { consumers } = fleets.get(contender)!;
      log(`(broker) ${contender}: ${config.cpuJobs} × cpu(${CPU_JOB_MS} ms)`);
      for (const consumer of consumers) consumer.send('monitor');
      figures[contender].cpuPerS = await rate(contender, 'cpu', config.cpuJobs);
      const delays = await Promise.all(consumers.map((consumer) => (consumer.send('report'), nextMessage<{ p99: number }>(consumer))));
      figures[contender].loopP99Ms = Math.max(...delays.map(({ p99 }) => p99));
    }
    const tiny = Object.fromEntries(CONTENDERS.map((contender) => [contender, [] as number[]])) as Record<Contender, number[]>;
    for (let repeat = 0; repeat < config.tinyRepeats; repeat++) {
      for (const contender of rotated(repeat)) {
        log(`(broker) ${contender}: ${config.tinyJobs} tiny jobs (${repeat + 1} of ${config.tinyRepeats})`);
        tiny[contender].push(await rate(contender, 'tiny', config.tinyJobs));
      }
    }
    for (const contender of CONTENDERS) figures[contender].tinyPerS = summarize(tiny[contender]).median;
    for (const contender of CONTENDERS) {
      log(`(broker) ${contender}: map of ${config.mapInputs} inputs`);
      figures[contender].mapPerS = await rate(contender, 'map', config.mapInputs);
    }
    log(`(broker) baozi: awaiting producer, ${config.memoryJobs} jobs`);
    const memory = await produce('baozi', redis.url, fleets.get('baozi')!.queue, 'memory', config.memoryJobs);
    figures.baozi.heapEarlyMb = memory.heapEarlyMb!;
    figures.baozi.heapLateMb = memory.heapLateMb!;
    figures.baozi.memoryPerS = config.memoryJobs / (memory.ms! / 1000);
    const ratios = (bare: Contender): Summary => summarize(pairedRatios(tiny.baozi, tiny[bare]));
    return { ...report(figures, config, { sandboxed: ratios('sandboxed'), 'in-process': ratios('in-process') }), figures };
  } finally {
    await Promise.all([...fleets.values()].map(closeFleet));
    await redis.stop();
  }
}

/** `tinyRatios`: baozi's tiny-jobs rate over each bare processor's, per repeat (both ran in the same turn). */
function report(figures: Record<string, Record<string, number>>, config: BrokerConfig, tinyRatios: Record<'sandboxed' | 'in-process', Summary>): Omit<BrokerResult, 'figures'> {
  const b = figures.baozi!;
  const s = figures.sandboxed!;
  const p = figures['in-process']!;
  const rate = (value: number): string => (value >= 1e3 ? `${(value / 1e3).toFixed(2)}k` : value.toFixed(1));
  const ratio = (value: number): string => `${value.toFixed(2)}x`;
  const spread = ({ min, max }: Summary): string => `${min.toFixed(2)}–${max.toFixed(2)}x`;
  const lines = [
    ['metric', 'baozi', 'bare sandboxed', 'bare in-process', 'baozi ÷ sandboxed', 'baozi ÷ in-process'],
    [`CPU-heavy, ${config.cpuJobs} × cpu(${CPU_JOB_MS} ms), jobs/s`, rate(b.cpuPerS!), rate(s.cpuPerS!), rate(p.cpuPerS!), ratio(b.cpuPerS! / s.cpuPerS!), ratio(b.cpuPerS! / p.cpuPerS!)],
    ['consumer event-loop delay p99 during it, ms', b.loopP99Ms!.toFixed(1), s.loopP99Ms!.toFixed(1), p.loopP99Ms!.toFixed(1), ratio(b.loopP99Ms! / s.loopP99Ms!), ratio(b.loopP99Ms! / p.loopP99Ms!)],
    [`tiny jobs, ${config.tinyJobs} × add, jobs/s (median of ${config.tinyRepeats}, in turn)`, rate(b.tinyPerS!), rate(s.tinyPerS!), rate(p.tinyPerS!), ratio(b.tinyPerS! / s.tinyPerS!), ratio(b.tinyPerS! / p.tinyPerS!)],
    [`map, ${config.mapInputs} inputs of add (bare: a job each), inputs/s`, rate(b.mapPerS!), rate(s.mapPerS!), rate(p.mapPerS!), ratio(b.mapPerS! / s.mapPerS!), ratio(b.mapPerS! / p.mapPerS!)],
    [`awaiting producer, ${config.memoryJobs} jobs: heap after GC at 10% → 100%, MB`, `${b.heapEarlyMb!.toFixed(2)} → ${b.heapLateMb!.toFixed(2)}`, '', '', '', ''],
    ['  its rate, jobs/s', rate(b.memoryPerS!), '', '', '', ''],
  ];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((line) => line[i]!.length)));
  const text = lines.map((line) => line.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ').trimEnd()).join('\n');
  const status = (isMet: boolean): Target['status'] => (isMet ? 'met' : 'not met');
  // Against the faster bare processor where the issue says only "bare BullMQ".
  const bestTiny = Math.max(s.tinyPerS!, p.tinyPerS!);
  const bestMap = Math.max(s.mapPerS!, p.mapPerS!);
  const growth = (b.heapLateMb! - b.heapEarlyMb!) / b.heapEarlyMb!;
  const targets: Target[] = [
    { id: 'broker.cpu', text: `CPU-heavy throughput ≥ ${BROKER_TARGETS.cpu}x bare BullMQ sandboxed`, measured: ratio(b.cpuPerS! / s.cpuPerS!), status: status(b.cpuPerS! / s.cpuPerS! >= BROKER_TARGETS.cpu) },
    { id: 'broker.loopP99', text: `consumer event-loop delay p99 ≤ ${BROKER_TARGETS.loopP99}x the in-process processor's`, measured: ratio(b.loopP99Ms! / p.loopP99Ms!), status: status(b.loopP99Ms! / p.loopP99Ms! <= BROKER_TARGETS.loopP99) },
    {
      id: 'broker.tiny',
      text: `tiny jobs ≥ ${BROKER_TARGETS.tiny}x bare BullMQ (the faster processor; medians of ${config.tinyRepeats} turns)`,
      measured: `${ratio(b.tinyPerS! / bestTiny)} (per turn: ${spread(tinyRatios[s.tinyPerS! >= p.tinyPerS! ? 'sandboxed' : 'in-process'])})`,
      status: status(b.tinyPerS! / bestTiny >= BROKER_TARGETS.tiny),
    },
    { id: 'broker.map', text: `map ≥ ${BROKER_TARGETS.map}x bare BullMQ per input (the faster processor)`, measured: ratio(b.mapPerS! / bestMap), status: status(b.mapPerS! / bestMap >= BROKER_TARGETS.map) },
    {
      id: 'broker.memory',
      text: `producer heap flat over ${config.memoryJobs} awaited submits: growth from 10% to 100% < ${100 * BROKER_TARGETS.heapGrowth}% of the heap at 10%`,
      measured: `${(100 * growth).toFixed(1)}% (${b.heapEarlyMb!.toFixed(2)} → ${b.heapLateMb!.toFixed(2)} MB)`,
      status: status(growth < BROKER_TARGETS.heapGrowth),
    },
  ];
  return { text, targets };
}
