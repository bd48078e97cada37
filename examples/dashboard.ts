/**
 * The live dashboard while a kitchen works: a cook submits buns (some of
 * them burnt: those fail) for `SECONDS` seconds; open the printed URL to
 * watch the table fill, the threads work and the jobs settle. Run it with
 * `npm run example:dashboard`.
 */
import { createRunner } from 'baozi';
import { serveDashboard } from 'baozi/dashboard';

const SECONDS = Number(process.env.SECONDS ?? 30);

const runner = createRunner<typeof import('./kitchen.js')>({
  tasks: new URL('./kitchen.js', import.meta.url),
  capacity: 16,
});
const dashboard = await serveDashboard(runner, { port: Number(process.env.PORT ?? 3001), intervalMs: 500 });
console.log(`dashboard on ${dashboard.url} for ${SECONDS} s`);

const until = Date.now() + SECONDS * 1000;
for (let bun = 1; Date.now() < until; bun++) {
  // One bun in 25 is burnt: `eat` gets a negative number of rounds and throws.
  const job = await runner.submit('eat', [bun, bun % 25 === 0 ? -1 : 2_000 + (bun % 7) * 1_000]);
  job.result.catch(() => {});
}
await runner.close();
await dashboard.close();
