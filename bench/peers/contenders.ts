/**
 * Every pool the peers bench compares, each built the way its README
 * shows, with its own defaults: only the task file is given (poolifier
 * needs a thread count: `availableParallelism()`, as its README does).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import PQueue from 'p-queue';
import { Piscina } from 'piscina';
import { FixedThreadPool } from 'poolifier';
import Tinypool from 'tinypool';
import workerpool from 'workerpool';
import { createRunner } from 'baozi';
import type { PiscinaJob } from '../piscina-entry.js';
import type { BenchTasks } from '../contenders.js';

export type TaskName = PiscinaJob['name'];

/** What every contender offers the workloads. */
export interface Peer {
  run(name: TaskName, args: unknown[]): Promise<unknown>;
  /** baozi only: its `map()` over one-argument-list inputs. */
  map?(name: TaskName, inputs: unknown[][]): AsyncIterable<unknown>;
  close(): Promise<void>;
}

export const PEERS = ['baozi', 'piscina', 'tinypool', 'workerpool', 'poolifier', 'p-queue'] as const;
export type PeerName = (typeof PEERS)[number] | 'baozi-fixed';

const here = (file: string): URL => new URL(file, import.meta.url);
const PISCINA_ENTRY = here('../piscina-entry.js');

export function createPeer(name: PeerName): Peer {
  switch (name) {
    case 'baozi':
    case 'baozi-fixed': {
      const threads = availableParallelism();
      const runner = createRunner<BenchTasks>({ tasks: here('../tasks.js'), ...(name === 'baozi-fixed' && { minThreads: threads, maxThreads: threads }) });
      return {
        run: (task, args) => (runner.run as (task: string, ...args: unknown[]) => Promise<unknown>)(task, ...args),
        map: (task, inputs) => runner.map(task as 'add', inputs as never, { args: (input: unknown) => input as [number, number] }),
        close: async () => void (await runner.close()),
      };
    }
    case 'piscina': {
      const pool = new Piscina({ filename: PISCINA_ENTRY.href });
      return { run: (task, args) => pool.run({ name: task, args } satisfies PiscinaJob), close: () => pool.destroy() };
    }
    case 'tinypool': {
      const pool = new Tinypool({ filename: PISCINA_ENTRY.href });
      return { run: (task, args) => pool.run({ name: task, args } satisfies PiscinaJob), close: () => pool.destroy() };
    }
    case 'workerpool': {
      const pool = workerpool.pool(here('./workerpool-worker.js').pathname, { workerType: 'thread' });
      return { run: (task, args) => pool.exec(task, args) as unknown as Promise<unknown>, close: async () => void (await pool.terminate()) };
    }
    case 'poolifier': {
      const pool = new FixedThreadPool<PiscinaJob, unknown>(availableParallelism(), here('./poolifier-worker.js').pathname);
      return { run: (task, args) => pool.execute({ name: task, args }), close: () => pool.destroy() };
    }
    case 'p-queue':
      return handWired();
  }
}

/** The pool a Node engineer wires by hand: one worker per core, p-queue limiting jobs in flight to one per worker. */
function handWired(): Peer {
  const workers = Array.from({ length: availableParallelism() }, () => new Worker(here('./raw-worker.js')));
  const idle = [...workers];
  const pending = new Map<number, (result: unknown) => void>();
  for (const worker of workers) worker.on('message', ({ id, result }: { id: number; result: unknown }) => pending.get(id)!(result));
  const queue = new PQueue({ concurrency: workers.length });
  let nextId = 0;
  return {
    run: (task, args) =>
      queue.add(async () => {
        const worker = idle.pop()!;
        const id = nextId++;
        try {
          return await new Promise((resolve) => {
            pending.set(id, resolve);
            worker.postMessage({ id, job: { name: task, args } });
          });
        } finally {
          pending.delete(id);
          idle.push(worker);
        }
      }),
    close: async () => void (await Promise.all(workers.map((worker) => worker.terminate()))),
  };
}
