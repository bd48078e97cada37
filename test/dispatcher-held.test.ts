/**
 * The dispatcher's batch filter past held (rate-limited) jobs, over the real
 * MemoryBroker, Lifecycle and Dispatcher and a fake pool that only records
 * what it is sent.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'eventemitter3';
import type { JobReply, RunMessage } from '../workers/protocol.js';
import { Dispatcher } from '../lib/dispatch/dispatcher.js';
import type { RunnerEvents } from '../lib/events.js';
import { now } from '../lib/clock.js';
import { Job } from '../lib/job/job.js';
import { Lifecycle } from '../lib/job/lifecycle.js';
import type { Pool } from '../lib/pool/pool.js';
import { MemoryBroker } from '../lib/broker/memory.js';
import { resolveRunnerOptions, resolveSubmitOptions } from '../lib/admission/validate.js';

/** Records every message; its runs never end. */
class RecordingPool {
  readonly sent: RunMessage[] = [];
  readonly health = { failFastError: (): undefined => undefined };
  terminateIdleRetirees(): void {}
  terminateThreadOf(): void {}
  run(message: RunMessage): Promise<JobReply> {
    this.sent.push(message);
    return new Promise(() => {});
  }
}

interface Rig {
  broker: MemoryBroker<Job>;
  dispatcher: Dispatcher;
  pool: RecordingPool;
  lifecycle: Lifecycle;
  job(id: string, name: string, priority?: number): Job;
}

const rigs: Rig[] = [];

function rig(slots: number, rateLimited?: string): Rig {
  const options = resolveRunnerOptions({ tasks: 'file:///fake-tasks.js', capacity: 100, maxThreads: slots, minThreads: 0 });
  const events = new EventEmitter<RunnerEvents>();
  let lifecycle: Lifecycle | undefined;
  const broker = new MemoryBroker<Job>(100, {
    added: (job) => lifecycle!.added(job),
    full: () => lifecycle!.full(),
    drained: () => lifecycle!.drained(),
  });
  lifecycle = new Lifecycle(broker, events as never, options);
  const pool = new RecordingPool();
  const dispatcher = new Dispatcher(
    broker,
    pool as unknown as Pool,
    {
      slots,
      batching: 'auto',
      prefetchSlots: 0,
      slotsPerThread: 1,
      cancelGraceMs: 0,
      // One start a minute: once one job started, the task's others are held.
      rateLimits: new Map(rateLimited ? [[rateLimited, { max: 1, per: 60_000 }]] : []),
    },
    lifecycle,
  );
  lifecycle.attach(dispatcher);
  const made: Rig = {
    broker,
    dispatcher,
    pool,
    lifecycle,
    job: (id, name, priority = 0) => new Job(lifecycle!, id, name, [], false, resolveSubmitOptions({ priority }), now()),
  };
  rigs.push(made);
  return made;
}

afterEach(() => {
  for (const { dispatcher } of rigs.splice(0)) dispatcher.dispose();
});

describe('dispatcher batches past held jobs', () => {
  // Before b67df3d the more jobs of a batch came from the first job's own
  // priority line (shiftWhile(job.priority, ...)); take(n, { inLine }) starts
  // at the highest line, where a held (rate-limited) job stops it at once.
  it('batches tiny jobs that wait behind held (rate-limited) jobs of a higher priority', () => {
    const { broker, dispatcher, pool, job } = rig(2, 'limited');
    // Measured tiny: 100 of its jobs took 1 ms in their thread.
    dispatcher.sizer.record('tiny', 100, 1);
    // The limited task spends its window and keeps a slot.
    expect(broker.tryPut(job('L1', 'limited', 5))).toBe(true);
    dispatcher.pump();
    expect(pool.sent).toHaveLength(1);
    // One more of it waits, held, ahead of four tiny jobs of a lower priority.
    expect(broker.tryPut(job('L2', 'limited', 5))).toBe(true);
    for (let i = 1; i <= 4; i++) expect(broker.tryPut(job(`T${i}`, 'tiny', 0))).toBe(true);
    dispatcher.pump();
    expect(pool.sent).toHaveLength(2);
    const second = pool.sent[1]!;
    // The fair share of the one slot free (the other runs L1): all four tiny jobs in one message.
    expect(second.jobs.map((entry) => entry.id)).toEqual(['T1', 'T2', 'T3', 'T4']);
  });
});
