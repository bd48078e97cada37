/**
 * One producer and two consumer processes sharing one table through BullMQ
 * on Redis, with live progress. Run it with `npm run example:distributed`:
 * it starts its own redis-server on a free loopback port (it needs
 * `redis-server` installed), starts two consumer processes (this file with
 * `consumer <url>`), submits baskets from this process, which starts no
 * threads, and stops everything at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRunner } from 'baozi';
import { bullmq } from 'baozi/bullmq';

type Kitchen = typeof import('./kitchen.js');
const tasks = new URL('./kitchen.js', import.meta.url);
const QUEUE = 'baskets';
const BASKETS = 8;
const BUNS_PER_BASKET = 10;
const ROUNDS = 5_000;

if (process.argv[2] === 'consumer') await consume(process.argv[3]!);
else await main();

/** A consumer: takes a basket whenever one of its 2 threads is free; stops on SIGTERM after finishing what it runs. */
async function consume(url: string): Promise<void> {
  const runner = createRunner<Kitchen>({ tasks, minThreads: 2, maxThreads: 2, broker: bullmq({ queue: QUEUE, connection: url }) });
  await runner.ready();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void runner.close().then(() => process.exit(0)));
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const consumers = await Promise.all([startConsumer(redis.url), startConsumer(redis.url)]);
  const producer = createRunner<Kitchen>({ tasks, capacity: 4, broker: bullmq({ queue: QUEUE, connection: redis.url }), consume: false });
  try {
    const progress = new Array<number>(BASKETS).fill(0);
    const show = (): void => {
      const line = progress.map((percent, i) => `#${i} ${String(percent).padStart(3)}%`).join('  ');
      process.stdout.write(process.stdout.isTTY ? `\r${line}` : `${line}\n`);
    };
    const results = [];
    for (let basket = 0; basket < BASKETS; basket++) {
      // Waits while 4 baskets wait on the shared table.
      const job = await producer.submit('steamBasket', [basket, BUNS_PER_BASKET, ROUNDS], {
        jobId: `basket-${basket}`,
        onProgress: (percent) => {
          progress[basket] = percent as number;
          show();
        },
      });
      results.push(job.result);
    }
    const done = await Promise.all(results);
    process.stdout.write('\n');
    const byConsumer = new Map<number, number>();
    for (const { pid } of done) byConsumer.set(pid, (byConsumer.get(pid) ?? 0) + 1);
    for (const [pid, count] of byConsumer) console.log(`consumer process ${pid} steamed ${count} baskets`);
    const again = await producer.fetchJob('basket-0');
    console.log(`basket-0, looked up by id: ${again?.state}`);
  } finally {
    await producer.close();
    await Promise.all(consumers.map(stop));
    await redis.stop();
  }
}

async function startConsumer(url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'consumer', url], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`a consumer exited with ${code}`)));
  });
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** A redis-server of its own on a free loopback port, without persistence. */
async function startRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'baozi-example-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`cannot start redis-server (is it installed? Debian: apt-get install -y redis-server): ${error.message}`)));
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('Ready to accept connections') && resolve());
  });
  child.stdout!.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => {
      rmSync(dir, { recursive: true, force: true });
      return stop(child);
    },
  };
}
