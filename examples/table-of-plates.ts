/**
 * The producer–consumer story baozi is named after: a fast cook steams buns
 * and puts each on a table with room for 4 plates; 2 eaters (worker
 * threads) take plates as they are free. When the table is full, the cook
 * waits. Run it with `npm start`.
 */
import { createRunner } from 'baozi';

const BUNS = 200;
const ROUNDS = 6_000; // SHA-256 rounds per bun: a few ms of CPU each

const runner = createRunner<typeof import('./kitchen.js')>({
  tasks: new URL('./kitchen.js', import.meta.url),
  capacity: 4,
  minThreads: 2,
  maxThreads: 2,
});

let cookWaitedMs = 0;
const started = performance.now();
const report = setInterval(() => {
  const { queued, running, blocked, succeeded } = runner.stats();
  console.log(`eaten ${String(succeeded).padStart(3)}/${BUNS}  plates on the table ${queued}/4  eaters busy ${running}/2  cook waiting ${blocked ? 'yes' : 'no'}`);
}, 250);

const meals: Promise<string>[] = [];
for (let bun = 1; bun <= BUNS; bun++) {
  const before = performance.now();
  const job = await runner.submit('eat', [bun, ROUNDS]); // waits while all 4 plates are taken
  cookWaitedMs += performance.now() - before;
  meals.push(job.result);
}
const digests = await Promise.all(meals);
clearInterval(report);

const seconds = (performance.now() - started) / 1000;
const { succeeded, failed, waitTime, runTime, utilization } = runner.stats();
await runner.close();

console.log('\nAll buns eaten.');
console.table({
  buns: { value: succeeded },
  failed: { value: failed },
  'buns per second': { value: Math.round(succeeded / seconds) },
  'plate wait p50 / p99 (ms)': { value: `${waitTime.p50.toFixed(1)} / ${waitTime.p99.toFixed(1)}` },
  'eating time p50 / p99 (ms)': { value: `${runTime.p50.toFixed(1)} / ${runTime.p99.toFixed(1)}` },
  'cook blocked (ms)': { value: Math.round(cookWaitedMs) },
  'eaters busy': { value: `${Math.round(utilization * 100)}%` },
  'last digest': { value: digests.at(-1) },
});
