/**
 * (d) A producer of many tiny jobs against `capacity` 1,024: heap and RSS
 * growth, at two sizes, each contender in its own child process. Also the
 * tiny-job rate with that many jobs produced versus 1,000 (a queue that
 * slows with depth would show here). baozi runs with its defaults:
 * transparent batching 'auto'.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { log } from '../harness.js';
import type { MemoryReport } from '../memory-child.js';
import { makeRow, type Row } from '../report.js';

const CHILD = fileURLToPath(new URL('../memory-child.js', import.meta.url));
const run = promisify(execFile);

export interface MemoryConfig {
  /** Job counts, smallest first (100k and 1M; 20k and 200k in --quick). */
  sizes: readonly number[];
  /** Child runs per contender for each size (index matches `sizes`). */
  repeats: readonly number[];
  /** How long bare piscina's results are counted once all its jobs are queued. */
  windowMs: number;
}

export interface MemoryResult {
  rows: Row[];
  reports: MemoryReport[];
}

async function runChild(contender: 'baozi' | 'piscina', jobs: number, windowMs: number): Promise<MemoryReport> {
  const { stdout } = await run(process.execPath, ['--expose-gc', '--max-old-space-size=8192', CHILD, contender, String(jobs), String(windowMs)], {
    maxBuffer: 1024 * 1024,
  });
  const line = stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as MemoryReport;
}

export function formatCount(jobs: number): string {
  return jobs >= 1e6 ? `${jobs / 1e6}M` : `${jobs / 1e3}k`;
}

export async function memory(config: MemoryConfig): Promise<MemoryResult> {
  const reports: MemoryReport[] = [];
  for (const [index, jobs] of config.sizes.entries()) {
    const repeats = config.repeats[index] ?? 1;
    for (let repeat = 0; repeat < repeats; repeat++) {
      // Alternate who goes first.
      const order = repeat % 2 === 0 ? (['baozi', 'piscina'] as const) : (['piscina', 'baozi'] as const);
      for (const contender of order) {
        log(`(d) memory: ${contender}, ${formatCount(jobs)} jobs (child process)`);
        reports.push(await runChild(contender, jobs, config.windowMs));
      }
    }
  }
  const pick = (contender: 'baozi' | 'piscina', jobs: number, field: keyof MemoryReport): number[] =>
    reports.filter((report) => report.contender === contender && report.jobs === jobs).map((report) => report[field] as number);
  const both = (jobs: number, field: keyof MemoryReport): { piscina: number[]; baozi: number[] } => ({
    piscina: pick('piscina', jobs, field),
    baozi: pick('baozi', jobs, field),
  });
  const batching = [...new Set(reports.filter((report) => report.contender === 'baozi').map((report) => report.batching))].join(', ');
  const section = `(d) fast producer of tiny jobs, capacity 1,024, batching '${batching}' (piscina: unbounded), own process each`;
  const depth = `(d) tiny-job rate, N produced vs 1,000, batching '${batching}' (piscina at N: results/s while the other jobs wait queued)`;
  const rows: Row[] = [];
  for (const jobs of config.sizes) {
    const n = formatCount(jobs);
    rows.push(
      makeRow({ id: `memory.${n}.heap`, section, metric: `${n} jobs: peak heap growth (after gc)`, unit: 'MB', better: 'lower' }, both(jobs, 'heapGrowthMb')),
      makeRow({ id: `memory.${n}.rss`, section, metric: `${n} jobs: peak RSS growth`, unit: 'MB', better: 'lower' }, both(jobs, 'rssGrowthMb')),
      makeRow({ id: `memory.${n}.raw`, section, metric: `${n} jobs: peak heap growth without gc (garbage too)`, unit: 'MB', better: 'info' }, both(jobs, 'heapRawGrowthMb')),
    );
  }
  const smallest = config.sizes[0]!;
  rows.push(makeRow({ id: 'depth.1k', section: depth, metric: '1,000 produced', unit: 'jobs/s', better: 'higher' }, both(smallest, 'rate1k')));
  for (const jobs of config.sizes) {
    rows.push(makeRow({ id: `depth.${formatCount(jobs)}`, section: depth, metric: `${formatCount(jobs)} produced`, unit: 'jobs/s', better: 'higher' }, both(jobs, 'rate')));
  }
  for (const jobs of config.sizes) {
    const own = (contender: 'baozi' | 'piscina'): number[] =>
      reports.filter((report) => report.contender === contender && report.jobs === jobs).map((report) => report.rate / report.rate1k);
    rows.push(
      makeRow(
        { id: `depth.${formatCount(jobs)}.ratio`, section: depth, metric: `${formatCount(jobs)} rate ÷ 1,000 rate, same process`, unit: 'x', better: 'higher' },
        { piscina: own('piscina'), baozi: own('baozi') },
      ),
    );
  }
  return { rows, reports };
}
