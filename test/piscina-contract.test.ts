/**
 * What baozi assumes of Piscina beyond its documented API (lib/pool/pool.ts,
 * workers/piscina-symbols.ts, workers/codec.ts), checked against the version
 * installed. package.json pins Piscina exactly; an upgrade that breaks one of
 * these assumptions fails here first, by name.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Piscina } from 'piscina';
import { piscinaSymbols } from '../workers/piscina-symbols.js';

const require = createRequire(import.meta.url);
const FIXTURE = new URL('./fixtures/piscina-echo.js', import.meta.url).href;

describe('Piscina, as baozi uses it', () => {
  const views: unknown[] = [];
  const placements: unknown[] = [];
  const pool = new Piscina({
    filename: FIXTURE,
    minThreads: 1,
    maxThreads: 1,
    atomics: 'async',
    loadBalancer: (task: unknown, threads: { currentUsage: number }[]) => {
      placements.push((task as Record<symbol, unknown>)[Piscina.queueOptionsSymbol]);
      return threads.find((thread) => thread.currentUsage === 0) ?? null;
    },
  } as ConstructorParameters<typeof Piscina>[0]);
  pool.on('workerCreate', (view: unknown) => views.push(view));
  afterAll(() => pool.destroy());

  it('is the exact version package.json pins', () => {
    const pinned = (require('../../package.json') as { dependencies: Record<string, string> }).dependencies.piscina;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Piscina.version).toBe(pinned);
  });

  it('keeps its symbols in dist/symbols.js beside its main module, the public ones equal to what it exports', () => {
    const symbols = piscinaSymbols as unknown as Record<string, unknown>;
    expect(typeof symbols.kMovable).toBe('symbol');
    expect(typeof symbols.kWorkerData).toBe('symbol');
    expect(symbols.kTransferable).toBe(Piscina.transferableSymbol);
    expect(symbols.kValue).toBe(Piscina.valueSymbol);
  });

  it("shows the load balancer a task's value under queueOptionsSymbol, without sending it to the thread", async () => {
    const placement = { mayWait: false, thread: undefined };
    const message = { kind: 'echo', value: 'hello' } as Record<string | symbol, unknown>;
    message[Piscina.queueOptionsSymbol] = placement;
    expect(await pool.run(message)).toBe('hello');
    expect(placements).toContain(placement);
  });

  it("gives each new thread's view, in 'workerCreate', its record under kWorkerData: the Worker and processPendingMessages()", async () => {
    await pool.run({ kind: 'echo', value: 1 });
    const { kWorkerData } = piscinaSymbols;
    expect(views.length).toBeGreaterThanOrEqual(1);
    const record = (views[0] as Record<symbol, { worker: unknown; processPendingMessages: unknown }>)[kWorkerData]!;
    expect(record.worker).toBeInstanceOf(Worker);
    expect(typeof record.processPendingMessages).toBe('function');
    expect(pool.threads).toContain(record.worker);
  });

  it('moves the buffers of a reply built as { kMovable, kTransferable, kValue } and gives back kValue', async () => {
    const reply = (await pool.run({ kind: 'move', size: 4096 })) as Uint8Array;
    expect(reply).toBeInstanceOf(Uint8Array);
    expect(reply.byteLength).toBe(4096);
    expect(reply[4095]).toBe(7);
    // Moved, not copied: the thread's own view of it is detached.
    expect(await pool.run({ kind: 'movedLength' })).toBe(0);
  });
});
