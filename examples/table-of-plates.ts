/**
 * The producer–consumer story baozi is named after: three fast cooks steam
 * buns and put each on a table with room for 4 plates; 2 eaters (worker
 * threads) take plates as they are free. When the table is full, a cook
 * waits. Run it with `npm start`: live bars on a terminal, plain lines
 * otherwise, and a summary at the end.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { createRunner, type RunnerMetrics } from 'baozi';

const BUNS = 600;
const COOKS = 3;
const PLATES = 4;
const EATERS = 2;
const ROUNDS = 6_000; // SHA-256 rounds per bun: a few ms of CPU each

const runner = createRunner<typeof import('./kitchen.js')>({
  tasks: new URL('./kitchen.js', import.meta.url),
  capacity: PLATES,
  minThreads: EATERS,
  maxThreads: EATERS,
});

// ── the story ─────────────────────────────────────────────────────────

let nextBun = 1;

/** A cook steams buns until none are left to steam, keeping the promise of each meal. */
async function cook(): Promise<{ meals: Promise<string>[]; waitedMs: number }> {
  const meals: Promise<string>[] = [];
  let waitedMs = 0;
  while (nextBun <= BUNS) {
    const bun = nextBun++;
    const before = performance.now();
    const job = await runner.submit('eat', [bun, ROUNDS]); // waits while all plates are taken
    waitedMs += performance.now() - before;
    meals.push(job.result);
  }
  return { meals, waitedMs };
}

const started = performance.now();
const display = process.stdout.isTTY ? progressBars() : plainLines();
const refresh = setInterval(() => display.update(runner.metrics()), process.stdout.isTTY ? 100 : 250);

const cooks = await Promise.all(Array.from({ length: COOKS }, () => cook()));
await Promise.all(cooks.flatMap(({ meals }) => meals));
clearInterval(refresh);
const seconds = (performance.now() - started) / 1000;
const metrics = runner.metrics();
display.update(metrics);
display.stop();
const { utilization } = runner.stats();
await runner.close();

// ── the summary ───────────────────────────────────────────────────────

const { total } = metrics;
const ms = (value: number): string => value.toFixed(1);
console.log(`\nAll ${total.succeeded} buns eaten in ${seconds.toFixed(1)} s.\n`);
printTable([
  ['buns eaten', String(total.succeeded), '', ''],
  ['buns failed', String(total.failed), '', ''],
  ['throughput', String(Math.round(total.succeeded / seconds)), 'buns/s', ''],
  ['plate wait, median', ms(total.waitTime.p50), 'ms', 'a bun on the table until an eater takes it'],
  ['plate wait, p99', ms(total.waitTime.p99), 'ms', ''],
  ['eating time, median', ms(total.runTime.p50), 'ms', 'an eater on one bun'],
  ['eating time, p99', ms(total.runTime.p99), 'ms', ''],
  ['cooks blocked', cooks.map(({ waitedMs }) => Math.round(waitedMs)).join(' / '), 'ms', 'each cook, waiting for a free plate'],
  ['eaters busy', String(Math.round(utilization * 100)), '%', 'of the time, eating'],
]);

/** Rows of label, value, unit and note: labels left, values right, so that digits line up. */
function printTable(rows: [label: string, value: string, unit: string, note: string][]): void {
  const width = (column: number): number => Math.max(...rows.map((row) => row[column]!.length));
  const [label, value, unit] = [width(0), width(1), width(2)];
  for (const row of rows) {
    console.log(`  ${row[0].padEnd(label)}  ${row[1].padStart(value)} ${row[2].padEnd(unit)}  ${row[3]}`.trimEnd());
  }
}

// ── the displays ──────────────────────────────────────────────────────

interface Display {
  update(metrics: RunnerMetrics): void;
  stop(): void;
}

/** Four live bars: buns eaten, plates on the table, eaters busy, cooks waiting. */
function progressBars(): Display {
  const bars = new MultiBar(
    { format: ' {label} {bar} {value}/{total}', barsize: 30, clearOnComplete: false, stream: process.stdout },
    Presets.shades_classic,
  );
  const bar = (label: string, total: number): SingleBar => bars.create(total, 0, { label: label.padEnd(20) });
  const eaten = bar('buns eaten', BUNS);
  const plates = bar('plates on the table', PLATES);
  const eaters = bar('eaters busy', EATERS);
  const cooks = bar('cooks waiting', COOKS);
  return {
    update({ total, gauges }) {
      eaten.update(total.succeeded);
      plates.update(gauges.queued);
      eaters.update(gauges.running);
      cooks.update(gauges.blocked);
    },
    stop: () => bars.stop(),
  };
}

/** One line per refresh, for logs and pipes. */
function plainLines(): Display {
  return {
    update({ total, gauges }) {
      console.log(
        `eaten ${String(total.succeeded).padStart(3)}/${BUNS}  plates on the table ${gauges.queued}/${PLATES}` +
          `  eaters busy ${gauges.running}/${EATERS}  cooks waiting ${gauges.blocked}/${COOKS}`,
      );
    },
    stop() {},
  };
}
