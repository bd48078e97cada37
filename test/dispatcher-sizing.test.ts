/**
 * How the dispatcher uses the run sizer: every run's thread time, as its
 * reply reports it, sizes the next runs of its task and decides whether its
 * jobs may be prefetched. Over the real MemoryBroker, Lifecycle and
 * Dispatcher and a pool whose runs the test ends.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'eventemitter3';
import type { JobReply, RunMessage } from '../workers/protocol.js';
import { Dispatcher } from '../lib/dispatch/dispatcher.js';
import type { RunnerEvents } from '../lib/events.js';
import { now } from '../lib/clock.js';
import { Job } from '../lib/job/job.js';
import { Lifecycle } from '../lib/job/lifecycle.js';
import type { Placement, Pool, StopSignal } from '../lib/pool/pool.js';
import { MemoryBroker } from '../lib/broker/memory.js';
import { resolveRunnerOptions, resolveSubmitOptions } from '../lib/admission/validate.js';

interface SentRun {
  message: RunMessage;
  /** Whether it went with a stop signal (so it never waits behind another run). */
  isStoppable: boolean;
  isPrefetch: boolean;
  /** Ends the run: every job succeeds, the thread having spent `ms` on them. */
  end(ms: number): void;
}

/** Records every run; the test ends them. */
class ScriptedPool {
  readonly sent: SentRun[] = [];
  readonly health = { failFastError: (): undefined => undefined };
  terminateIdleRetirees(): void {}
  terminateThreadOf(): void {}
  run(message: RunMessage, stop: StopSignal | undefined, _transferList: unknown, placement: Placement): Promise<JobReply> {
    return new Promise((resolve) => {
      this.sent.push({
        message,
        isStoppable: stop !== undefined,
        isPrefetch: placement.mayWait,
        end: (ms) => resolve({ type: 'run', values: message.jobs.map(() => 'done'), failures: undefined, progress: undefined, ms }),
      });
    });
  }
}

const dispatchers: Dispatcher[] = [];

afterEach(() => {
  for (const dispatcher of dispatchers.splice(0)) dispatcher.dispose();
});

function rig(
  slots: number,
  prefetch: 'auto' | 'off' = 'auto',
): { broker: MemoryBroker<Job>; dispatcher: Dispatcher; pool: ScriptedPool; put(name: string): Job; queue(name: string): Job } {
  const options = resolveRunnerOptions({ tasks: 'file:///fake-tasks.js', capacity: 100, maxThreads: slots, minThreads: 0 });
  let lifecycle: Lifecycle | undefined;
  const broker = new MemoryBroker<Job>(100, {
    added: (job) => lifecycle!.added(job),
    full: () => lifecycle!.full(),
    drained: () => lifecycle!.drained(),
  });
  lifecycle = new Lifecycle(broker, new EventEmitter<RunnerEvents>() as never, options);
  const pool = new ScriptedPool();
  const dispatcher = new Dispatcher(
    broker,
    pool as unknown as Pool,
    { slots, batching: 'auto', prefetchSlots: prefetch === 'auto' ? slots : 0, slotsPerThread: 1, cancelGraceMs: 0, rateLimits: new Map() },
    lifecycle,
  );
  lifecycle.attach(dispatcher);
  dispatchers.push(dispatcher);
  let nextId = 0;
  const queue = (name: string): Job => {
    const job = new Job(lifecycle!, `j${nextId++}`, name, [], false, resolveSubmitOptions(undefined), now());
    expect(broker.tryPut(job)).toBe(true);
    return job;
  };
  return {
    broker,
    dispatcher,
    pool,
    queue,
    put: (name) => {
      const job = queue(name);
      dispatcher.pump();
      return job;
    },
  };
}

/** Runs jobs of `task` one at a time on one slot, each taking the next of `times` ms in its thread. */
async function runOneByOne(pool: ScriptedPool, put: (name: string) => Job, task: string, times: readonly number[]): Promise<void> {
  for (const ms of times) {
    const job = put(task);
    const run = pool.sent.at(-1)!;
    expect(run.message.jobs.map(({ id }) => id)).toEqual([job.id]);
    run.end(ms);
    await job.result;
  }
}

describe('Dispatcher sizing runs', () => {
  it("sizes a transparent batch from the thread time its task's runs report", async () => {
    const { pool, put } = rig(1, 'off');
    await runOneByOne(pool, put, 'tiny', [0.01]);
    // One job runs; behind it, four tiny jobs wait, and a run grows fourfold over the largest measured.
    const first = put('tiny');
    const firstRun = pool.sent.at(-1)!;
    for (let i = 0; i < 4; i++) put('tiny');
    expect(pool.sent.at(-1)).toBe(firstRun);
    firstRun.end(0.01);
    await first.result;
    expect(pool.sent.at(-1)!.message.jobs).toHaveLength(4);
  });

  // Review of 41ac750 (branch review, f6938f8), through the dispatcher: a
  // task slow every third run must not keep being prefetched.
  it('stops prefetching a task whose every third run takes 50 ms, after its second slow run', async () => {
    const { pool, put } = rig(1);
    await runOneByOne(pool, put, 'bimodal', Array.from({ length: 11 }, () => 0.05));
    const prefetchedAfterSlowRun: number[] = [];
    for (let i = 0; i < 12; i++) {
      await runOneByOne(pool, put, 'bimodal', [i % 3 === 0 ? 50 : 0.05]);
      if (i % 3 !== 0) continue;
      // The next job goes with a stop signal unless the task still counts as quick.
      const probe = put('bimodal');
      const run = pool.sent.at(-1)!;
      if (!run.isStoppable) prefetchedAfterSlowRun.push(i);
      run.end(0.05);
      await probe.result;
    }
    expect(prefetchedAfterSlowRun).toEqual([0]);
  });

  it('sends the line of a tiny task to the one slot free in one run, not half of it', async () => {
    const { pool, put } = rig(2, 'off');
    await runOneByOne(pool, put, 'tiny', [0.01]);
    const busy = [put('slow'), put('slow')];
    const line = Array.from({ length: 4 }, () => put('tiny'));
    // One slot frees; the other still runs a slow job, and could take nothing now.
    pool.sent[2]!.end(50);
    await busy[1]!.result;
    expect(pool.sent).toHaveLength(4);
    expect(pool.sent[3]!.message.jobs.map(({ id }) => id)).toEqual(line.map((job) => job.id));
    pool.sent[1]!.end(50);
    pool.sent[3]!.end(0.04);
    await Promise.all([busy[0]!.result, ...line.map((job) => job.result)]);
  });

  it('sends a line that one run finishes within its target whole, though two slots are free', async () => {
    const { dispatcher, pool, put, queue } = rig(2, 'off');
    await runOneByOne(pool, put, 'tiny', [0.01]);
    const line = [queue('tiny'), queue('tiny'), queue('tiny')];
    dispatcher.pump();
    expect(pool.sent.slice(1).map((run) => run.message.jobs.map(({ id }) => id))).toEqual([line.map((job) => job.id)]);
    pool.sent[1]!.end(0.03);
    await Promise.all(line.map((job) => job.result));
  });

  it('shares a line longer than a run among the free slots', async () => {
    const { dispatcher, pool, put, queue } = rig(2, 'off');
    // 1 ms a job: three take longer than a run's 2 ms target.
    await runOneByOne(pool, put, 'ms', [1, 1]);
    const line = [queue('ms'), queue('ms'), queue('ms')];
    dispatcher.pump();
    expect(pool.sent.slice(2).map((run) => run.message.jobs.length)).toEqual([2, 1]);
    pool.sent[2]!.end(2);
    pool.sent[3]!.end(1);
    await Promise.all(line.map((job) => job.result));
  });

  it('prefetches the next job of a task measured quick while a run of it is out', async () => {
    const { pool, put } = rig(1);
    await runOneByOne(pool, put, 'tiny', [0.01, 0.01]);
    const ahead = put('tiny');
    const behind = put('tiny');
    expect(pool.sent.slice(-2).map((run) => [run.isStoppable, run.isPrefetch])).toEqual([
      [false, false],
      [false, true],
    ]);
    pool.sent.at(-2)!.end(0.01);
    pool.sent.at(-1)!.end(0.01);
    await Promise.all([ahead.result, behind.result]);
  });
});
