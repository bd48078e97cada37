/**
 * The soak of RELIABILITY.md (LS2): `npm run soak` (100k jobs) or
 * `npm run soak -- --quick` (10k). Also `--jobs=N`, `--seed=N`, and
 * `--recycle=N` (threads replaced every N jobs: `maxJobsPerWorker`).
 *
 * One runner (capacity 256, 2 threads) runs a seeded mix of jobs: about
 * 80% successes, 10% failures, 1% soft and 0.25% hard timeouts (a hard one
 * terminates its thread), 4% cancelled while queued, 4% cancelled while
 * running (cooperatively, through their signal) and 1% that kill their
 * thread. After a warm-up it takes a baseline of the heap
 * (after gc; object spaces only, compiled code left out) and of
 * `process.getActiveResourcesInfo()`, runs the jobs, waits for idle,
 * collects garbage again and compares.
 *
 * Prints ONE line of JSON to stdout (progress goes to stderr) and exits 1
 * when the heap grew more than 10% over the baseline, or any of these is
 * not 0: unsettled, doubleSettled, wrongOutcome, unhandledRejections,
 * leftoverResources (live runner, against the baseline), leftoverAfterClose
 * (closed runner, against the process before the runner existed); or when
 * the process does not exit on its own after close().
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import { CancelledError, createRunner, TaskError, TimeoutError, WorkerCrashedError, type JobHandle } from 'baozi';
import { seededRandom as random } from '../test/helpers/seeded-random.js';

type SoakTasks = typeof import('./soak-tasks.js');

type Kind = 'ok' | 'fail' | 'softTimeout' | 'hardTimeout' | 'cancelQueued' | 'cancelRunning' | 'crash';

/** Cumulative shares of the mix, in the order they are drawn. */
const MIX: readonly [Kind, number][] = [
  ['crash', 0.01],
  ['hardTimeout', 0.0125],
  ['softTimeout', 0.0225],
  ['cancelQueued', 0.0625],
  ['cancelRunning', 0.1025],
  ['fail', 0.2025],
  ['ok', 1],
];

const HEAP_GROWTH_LIMIT_PCT = 10;
const MB = 1024 * 1024;

function argument(name: string): string | undefined {
  return process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Resources now beyond those of `baseline`, by type. */
function leftover(baseline: Map<string, number>): Record<string, number> {
  const extra: Record<string, number> = {};
  for (const [type, count] of resources()) {
    const more = count - (baseline.get(type) ?? 0);
    if (more > 0) extra[type] = more;
  }
  return extra;
}

// Compiled code grows as more functions get optimized: it is not data the runner keeps.
const CODE_SPACES = new Set(['code_space', 'code_large_object_space']);

/** Bytes of objects on the heap: every space but compiled code. */
function objectHeap(spaces: Map<string, number>): number {
  let bytes = 0;
  for (const [name, used] of spaces) if (!CODE_SPACES.has(name)) bytes += used;
  return bytes;
}

const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((total, n) => total + n, 0);

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Full collections, with turns between them so that finalizers and weak callbacks run. Returns bytes used by each heap space. */
async function collect(gc: () => void): Promise<Map<string, number>> {
  for (let i = 0; i < 4; i++) {
    gc();
    await nextTurn();
  }
  return new Map(getHeapSpaceStatistics().map((space) => [space.space_name, space.space_used_size]));
}

async function soak(gc: () => void): Promise<void> {
  const isQuick = process.argv.includes('--quick');
  const jobs = Number(argument('jobs') ?? (isQuick ? 10_000 : 100_000));
  const seed = Number(argument('seed') ?? 6);
  const recycle = argument('recycle');
  const draw = random(seed);
  const log = (message: string): void => void process.stderr.write(`[soak ${((performance.now() - startedAt) / 1000).toFixed(1)} s] ${message}\n`);
  const startedAt = performance.now();

  let unhandledRejections = 0;
  process.on('unhandledRejection', (reason) => {
    unhandledRejections++;
    log(`unhandled rejection: ${String(reason)}`);
  });

  // Opens stdout and stderr (each a handle when piped) before the baselines are taken.
  log(`${jobs} jobs, seed ${seed}${isQuick ? ' (quick)' : ''}`);
  process.stdout.write('');
  const beforeRunner = resources();
  const runner = createRunner<SoakTasks>({
    tasks: new URL('./soak-tasks.js', import.meta.url),
    capacity: 256,
    minThreads: 2,
    maxThreads: 2,
    ...(recycle !== undefined && { maxJobsPerWorker: Number(recycle) }),
  });
  let terminalEvents = 0;
  let recycled = 0;
  runner.on('workerRecycled', () => void recycled++);
  let workerErrors = 0;
  for (const event of ['succeeded', 'failed', 'cancelled', 'expired'] as const) runner.on(event, () => void terminalEvents++);
  runner.on('workerError', ({ error }) => {
    workerErrors++;
    log(`workerError: ${String((error as Error | undefined)?.stack ?? error)}`);
  });

  const counts = {
    submitted: 0,
    settled: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    timedOut: 0,
    crashed: 0,
    wrongOutcome: 0,
    submitRejected: 0,
  };
  const byKind: Record<Kind, number> = { ok: 0, fail: 0, softTimeout: 0, hardTimeout: 0, cancelQueued: 0, cancelRunning: 0, crash: 0 };

  const settle = (kind: Kind, i: number, isOk: boolean, outcome: unknown): void => {
    counts.settled++;
    let expected: string;
    let isRight: boolean;
    if (isOk) {
      counts.succeeded++;
      expected = kind === 'ok' ? `${i + 1}` : kind;
      isRight = kind === 'ok' && outcome === i + 1;
    } else if (outcome instanceof CancelledError) {
      counts.cancelled++;
      expected = kind;
      isRight = kind === 'cancelQueued' || kind === 'cancelRunning';
    } else if (outcome instanceof TimeoutError) {
      counts.timedOut++;
      expected = kind;
      isRight = (kind === 'hardTimeout' && outcome.kind === 'hard') || (kind === 'softTimeout' && outcome.kind === 'soft');
    } else if (outcome instanceof WorkerCrashedError) {
      counts.crashed++;
      expected = kind;
      isRight = kind === 'crash' && outcome.reason === 'exit';
    } else {
      counts.failed++;
      expected = kind;
      isRight = kind === 'fail' && outcome instanceof TaskError;
    }
    if (!isRight) {
      counts.wrongOutcome++;
      if (counts.wrongOutcome <= 5) {
        const cause = isOk ? undefined : (outcome as Error).cause;
        log(`job ${i} (${expected}) settled with ${isOk ? JSON.stringify(outcome) : String(outcome)}${cause === undefined ? '' : `; cause: ${String((cause as Error).stack ?? cause)}`}`);
      }
    }
  };

  const submit = async (i: number, kind: Kind): Promise<void> => {
    let job: JobHandle<unknown>;
    switch (kind) {
      case 'ok':
        job = await runner.submit('ok', [i]);
        break;
      case 'fail':
        job = await runner.submit('fail', [i]);
        break;
      case 'hardTimeout':
        job = await runner.submit('slow', [1000], { timeout: 20 });
        break;
      case 'softTimeout':
        job = await runner.submit('slowUntilAborted', [1000], { softTimeout: 10, timeout: 1000 });
        break;
      case 'crash':
        job = await runner.submit('crash', []);
        break;
      case 'cancelQueued':
        job = await runner.submit('ok', [i]);
        job.cancel('cancelled by the soak');
        break;
      case 'cancelRunning': {
        const controller = new AbortController();
        job = await runner.submit('holdUntilAborted', [], { signal: controller.signal, onProgress: () => controller.abort('cancelled by the soak') });
        break;
      }
    }
    counts.submitted++;
    byKind[kind]++;
    job.result.then(
      (value) => settle(kind, i, true, value),
      (error: unknown) => settle(kind, i, false, error),
    );
  };

  const produce = async (count: number, offset: number, onProgress?: (done: number) => void): Promise<void> => {
    for (let i = offset; i < offset + count; i++) {
      const r = draw();
      const kind = MIX.find(([, upTo]) => r < upTo)![0];
      try {
        await submit(i, kind);
      } catch (error) {
        counts.submitRejected++;
        log(`submit ${i} (${kind}) rejected: ${String(error)}`);
      }
      if (onProgress && (i - offset + 1) % 10_000 === 0) onProgress(i - offset + 1);
    }
    await runner.onIdle();
  };

  // Warm-up: threads, JIT, the task's run-time estimate, a full store of results.
  const warmUp = Math.min(5_000, Math.max(2_000, Math.round(jobs / 10)));
  await produce(warmUp, 0);
  const spacesBaseline = await collect(gc);
  const heapBaseline = objectHeap(spacesBaseline);
  const baseline = resources();
  const soakStarted = performance.now();
  Object.assign(counts, { submitted: 0, settled: 0, succeeded: 0, failed: 0, cancelled: 0, timedOut: 0, crashed: 0 });
  for (const kind of Object.keys(byKind) as Kind[]) byKind[kind] = 0;
  const eventsBefore = terminalEvents;
  log(`warmed up with ${warmUp} jobs; heap ${(heapBaseline / MB).toFixed(1)} MB; running ${jobs} jobs`);

  await produce(jobs, warmUp, (done) => log(`${done} submitted, ${counts.settled} settled`));
  const seconds = (performance.now() - soakStarted) / 1000;
  await nextTurn();
  const spacesAfter = await collect(gc);
  const heapAfter = objectHeap(spacesAfter);
  const spaceGrowthKB = Object.fromEntries(
    [...spacesAfter].map(([name, used]) => [name, Math.round((used - (spacesBaseline.get(name) ?? 0)) / 1024)]).filter(([, kb]) => kb !== 0),
  );
  const leftoverLive = leftover(baseline);
  const { rss } = process.memoryUsage();
  const stats = runner.stats();

  await runner.close();
  await nextTurn();
  const leftoverClosed = leftover(beforeRunner);

  const report = {
    jobs,
    seed,
    ...counts,
    byKind,
    unsettled: counts.submitted - counts.settled,
    doubleSettled: Math.max(0, terminalEvents - eventsBefore - counts.settled),
    unhandledRejections,
    workerErrors,
    leftoverResources: sum(leftoverLive),
    leftoverResourceTypes: leftoverLive,
    leftoverAfterClose: sum(leftoverClosed),
    leftoverAfterCloseTypes: leftoverClosed,
    heapBaselineMB: Number((heapBaseline / MB).toFixed(2)),
    heapAfterMB: Number((heapAfter / MB).toFixed(2)),
    heapGrowthPct: Number((((heapAfter - heapBaseline) / heapBaseline) * 100).toFixed(2)),
    spaceGrowthKB,
    rssMB: Number((rss / MB).toFixed(1)),
    threads: stats.threads,
    recycled,
    seconds: Number(seconds.toFixed(1)),
    jobsPerSecond: Math.round(jobs / seconds),
  };
  const mustBeZero = ['unsettled', 'doubleSettled', 'wrongOutcome', 'submitRejected', 'unhandledRejections', 'leftoverResources', 'leftoverAfterClose'] as const;
  const failures = mustBeZero.filter((key) => report[key] !== 0);
  if (report.heapGrowthPct > HEAP_GROWTH_LIMIT_PCT) failures.push('heapGrowthPct' as never);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  if (failures.length > 0) log(`FAILED: ${failures.join(', ')}`);
  process.exitCode = failures.length > 0 ? 1 : 0;
  // Nothing of the runner may keep the process alive once it is closed: it must exit on its own.
  setTimeout(() => {
    log('FAILED: the process did not exit on its own 10 s after close()');
    process.exit(1);
  }, 10_000).unref();
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  // Run again with the flag: the heap is only comparable after full collections.
  const child = spawn(process.execPath, ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await soak(gc);
}
