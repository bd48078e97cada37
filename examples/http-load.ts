/**
 * Puts examples/http-service.ts under load twice, with autocannon: once
 * with the heavy route computed on the main thread (`/fib-inline`), once
 * through baozi (`/fib`), each time while a client keeps asking the cheap
 * route (`/ping`). Prints the cheap route's latency and the heavy route's
 * throughput side by side. Run it with `npm run example:http-load` (about
 * 15 seconds). The service runs in its own process, on 127.0.0.1 and a free
 * port, so the load generator does not share its event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SECONDS = 5;
const N = 30; // fib(30): about 10 ms of CPU
const HEAVY_CONNECTIONS = 4;
// The cheap route is asked at a steady rate, as health checks and small
// reads are: flooding it would take CPU from the threads it is compared with.
const PING_RATE = 200;

/** One row of the printed table: column title → cell. */
type Measurement = Record<string, string>;

const service = spawn(process.execPath, [fileURLToPath(new URL('./http-service.js', import.meta.url))], {
  env: { ...process.env, PORT: '0' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const url = await listeningUrl(service);
  // Warm up: the threads import the task module, both code paths get compiled.
  for (const path of [`/fib?n=${N}`, `/fib?n=${N}`, `/fib-inline?n=${N}`]) await (await fetch(url + path)).text();

  console.log(`${SECONDS} s each: ${HEAVY_CONNECTIONS} clients on the heavy route, 1 client asking /ping ${PING_RATE} times a second\n`);
  const inline = await measure(url, `/fib-inline?n=${N}`);
  const offloaded = await measure(url, `/fib?n=${N}`);
  printTable({ 'fib on the main thread': inline, 'fib through baozi': offloaded });
} finally {
  await stop(service);
}

/** Loads the heavy route and `/ping` at once, for SECONDS. */
async function measure(url: string, heavyPath: string): Promise<Measurement> {
  const [heavy, cheap] = await Promise.all([
    autocannon({ url: url + heavyPath, connections: HEAVY_CONNECTIONS, duration: SECONDS }),
    autocannon({ url: `${url}/ping`, connections: 1, overallRate: PING_RATE, duration: SECONDS }),
  ]);
  return {
    '/ping p50': milliseconds(cheap.latency.p50),
    '/ping p99': milliseconds(cheap.latency.p99),
    '/ping answered/s': String(Math.round(cheap['2xx'] / cheap.duration)),
    'fib/s': String(Math.round(heavy['2xx'] / heavy.duration)),
    'fib not 2xx': String(heavy.non2xx + heavy.errors),
  };
}

// autocannon measures whole milliseconds.
function milliseconds(value: number): string {
  return value < 1 ? '< 1 ms' : `${value} ms`;
}

function printTable(rows: Record<string, Measurement>): void {
  const labels = Object.keys(rows);
  const columns = Object.keys(Object.values(rows)[0]!);
  const first = Math.max(...labels.map((label) => label.length));
  const widths = columns.map((column) => Math.max(column.length, ...labels.map((label) => rows[label]![column]!.length)));
  const line = (label: string, cells: string[]): string => [label.padEnd(first), ...cells.map((cell, i) => cell.padStart(widths[i]!))].join('   ');
  console.log(line('', columns));
  for (const label of labels) console.log(line(label, columns.map((column) => rows[label]![column]!)));
}

/** The URL the service prints once it listens. */
async function listeningUrl(child: ChildProcess): Promise<string> {
  for await (const line of createInterface({ input: child.stdout! })) {
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1];
    if (url) {
      child.stdout!.resume(); // leaving the loop paused it: keep draining what else the service prints
      return url;
    }
  }
  throw new Error('The service exited before it listened.');
}

/** Asks the service to close (it drains), and kills it if it has not exited within 5 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
