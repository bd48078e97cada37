/**
 * One workload on one contender, in a fresh process:
 * `node dist/bench/peers/child.js <workload> <contender> [count]`. Prints one
 * JSON line of measurements. Times count from creating the pool, as a new
 * user's process would see them, unless a workload says otherwise.
 */
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { work } from '../plain-tasks.js';
import { createPeer, type PeerName } from './contenders.js';

const [workload, contender, countArg] = process.argv.slice(2) as [string, PeerName, string | undefined];
const count = Number(countArg ?? 0);
const CHUNK = 1000;
const CPU_JOBS = 48;
const CPU_JOB_MS = 20;

function timed(call: () => unknown): number {
  const started = performance.now();
  call();
  return performance.now() - started;
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/** The median time `rounds` of work take on this thread, over 5 runs. */
function workMs(rounds: number): number {
  return median(Array.from({ length: 5 }, () => timed(() => work(rounds))));
}

/** Rounds of `work` that take about `ms` on this thread. */
function calibrate(ms: number): number {
  let rounds = 100_000;
  while (timed(() => work(rounds)) < 5) rounds *= 2;
  return Math.round((rounds * ms) / workMs(rounds));
}

// Calibrated and timed before any pool starts: threads starting meanwhile would make the work look slower,
// so the jobs smaller and the threads busier than they are.
const cpuRounds = workload === 'cpu' ? calibrate(CPU_JOB_MS) : 0;
const cpuJobMs = workload === 'cpu' ? workMs(cpuRounds) : 0;

async function measure(): Promise<Record<string, number>> {
  const startedAt = performance.now();
  const peer = createPeer(contender);
  try {
    switch (workload) {
      // 100k tiny jobs, 1,000 at a time (Promise.all per chunk).
      case 'chunks': {
        for (let done = 0; done < count; done += CHUNK) {
          await Promise.all(Array.from({ length: CHUNK }, (_, i) => peer.run('add', [done + i, 1])));
        }
        return { jobsPerSec: count / ((performance.now() - startedAt) / 1000) };
      }
      // The same inputs through baozi's map(); the others as in 'chunks'.
      case 'map': {
        if (!peer.map) throw new Error(`${contender} has no map()`);
        const inputs = Array.from({ length: count }, (_, i) => [i, 1]);
        let seen = 0;
        for await (const _ of peer.map('add', inputs)) seen++;
        if (seen !== count) throw new Error(`map gave ${seen} of ${count}`);
        return { jobsPerSec: count / ((performance.now() - startedAt) / 1000) };
      }
      // Every call fired before any is awaited; the heap is read (after a collection) once all are in.
      case 'fire': {
        global.gc?.();
        const heapBefore = process.memoryUsage().heapUsed;
        const results: Promise<unknown>[] = new Array(count);
        for (let i = 0; i < count; i++) results[i] = peer.run('add', [i, 1]);
        // What the waiting calls hold, not the garbage made on the way.
        global.gc?.();
        const heapPerCall = (process.memoryUsage().heapUsed - heapBefore) / count;
        await Promise.all(results);
        return { jobsPerSec: count / ((performance.now() - startedAt) / 1000), heapPerCallBytes: heapPerCall };
      }
      // One job at a time, after a warm-up: the round trip.
      case 'roundtrip': {
        for (let i = 0; i < 500; i++) await peer.run('add', [i, 1]);
        const trips: number[] = [];
        for (let i = 0; i < count; i++) {
          const sent = performance.now();
          await peer.run('add', [i, 1]);
          trips.push(performance.now() - sent);
        }
        trips.sort((a, b) => a - b);
        return { p50Us: 1000 * trips[Math.floor(trips.length / 2)]! };
      }
      // 48 jobs of ~20 ms of work each (fixed work, calibrated before the pool starts): wall, threads busy, the main
      // loop's delay (a second pass, the monitor off in the first). Busy: the work's single-thread time over wall × cores.
      case 'cpu': {
        await peer.run('add', [0, 0]);
        const runAll = (): Promise<unknown[]> => Promise.all(Array.from({ length: CPU_JOBS }, () => peer.run('work', [cpuRounds])));
        const started = performance.now();
        await runAll();
        const wallMs = performance.now() - started;
        const delay = monitorEventLoopDelay({ resolution: 1 });
        delay.enable();
        await runAll();
        delay.disable();
        return { wallMs, busyPct: (100 * CPU_JOBS * cpuJobMs) / (wallMs * availableParallelism()), loopP99Ms: delay.percentile(99) / 1e6 };
      }
      case 'startup': {
        await peer.run('add', [1, 2]);
        return { firstResultMs: performance.now() - startedAt };
      }
      default:
        throw new Error(`no workload ${workload}`);
    }
  } finally {
    await peer.close();
  }
}

process.stdout.write(`${JSON.stringify(await measure())}\n`);
