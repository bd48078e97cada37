import { expect, it } from '@jest/globals';
import { BrokerUnreachableError, createRunner, type JobHandle, type Runner } from 'baozi';
import { bullmq, type BullmqOptions } from 'baozi/bullmq';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { TASKS, type TestTasks } from '../helpers/runner.js';
import { describeWithRedis, queueName } from './helpers.js';

const PRODUCERS = 3;

/** Submitting loops that keep every job whose `submit` resolved, and every refusal. */
function submitting(front: Runner<TestTasks>): {
  readonly accepted: { job: JobHandle; ms: number }[];
  readonly refused: unknown[];
  /** Resolves once `n` jobs in all were accepted. */
  acceptedAtLeast(n: number): Promise<void>;
  /** Resolves at the next refusal. */
  nextRefusal(): Promise<void>;
  stop(): Promise<void>;
} {
  const accepted: { job: JobHandle; ms: number }[] = [];
  const refused: unknown[] = [];
  let waits: { check: () => boolean; resolve: () => void }[] = [];
  const notify = (): void => {
    waits = waits.filter((wait) => !(wait.check() && (wait.resolve(), true)));
  };
  const when = (check: () => boolean): Promise<void> =>
    check() ? Promise.resolve() : new Promise((resolve) => waits.push({ check, resolve }));
  let isStopped = false;
  const loop = async (producer: number): Promise<void> => {
    for (let i = 0; !isStopped; i++) {
      const ms = 5 + ((producer * 7 + i) % 20);
      try {
        accepted.push({ job: await front.submit('sleepOrThrow', [ms]), ms });
      } catch (error) {
        refused.push(error);
      }
      notify();
    }
  };
  const loops = Array.from({ length: PRODUCERS }, (_, producer) => loop(producer));
  return {
    accepted,
    refused,
    acceptedAtLeast: (n) => when(() => accepted.length >= n),
    nextRefusal: () => {
      const seen = refused.length;
      return when(() => refused.length > seen);
    },
    stop: async () => {
      isStopped = true;
      await Promise.all(loops);
    },
  };
}

describeWithRedis('Redis restarting under load', () => {
  it('loses no accepted job when Redis (appendonly) is killed and restarted while producers submit and consumers run; both sides reconnect by themselves', async () => {
    let redis: RedisServer = await startRedis({ appendonly: true });
    const runners: Runner<TestTasks>[] = [];
    try {
      const broker: BullmqOptions = { queue: queueName(), connection: redis.url, unreachableAfterMs: 2000, lockDuration: 2000, stalledInterval: 500, maxStalledCount: 3 };
      const make = (consume: boolean): Runner<TestTasks> => {
        const runner = createRunner<TestTasks>({ tasks: TASKS, minThreads: consume ? 1 : 0, maxThreads: 2, consume, broker: bullmq(broker) });
        runners.push(runner);
        return runner;
      };
      const front = make(false);
      const consumers = [make(true), make(true)];
      await Promise.all(runners.map((runner) => runner.ready()));
      const load = submitting(front);

      await load.acceptedAtLeast(40);
      // The outage must catch jobs in flight: accepted and not yet settled.
      const inFlightAtKill = load.accepted.filter(({ job }) => !['succeeded', 'failed', 'cancelled', 'expired'].includes(job.state)).length;
      await redis.kill();
      // The producers notice: a submit is refused (never hangs) while Redis is down.
      await load.nextRefusal();
      const acceptedBefore = load.accepted.length;
      const succeededBefore = consumers.map((runner) => runner.stats().succeeded);
      redis = await redis.restart();
      // Nobody reconnects by hand: new submits are accepted again, and run.
      await load.acceptedAtLeast(acceptedBefore + 40);
      await load.stop();

      const settled = new Map<JobHandle, number>();
      await Promise.all(
        load.accepted.map(async ({ job, ms }) => {
          await expect(job.result).resolves.toBe(ms);
          settled.set(job, (settled.get(job) ?? 0) + 1);
        }),
      );
      expect(settled.size).toBe(load.accepted.length);
      expect([...settled.values()].every((count) => count === 1)).toBe(true);
      expect(load.accepted.every(({ job }) => job.state === 'succeeded')).toBe(true);
      expect(inFlightAtKill).toBeGreaterThan(0);
      expect(load.refused.length).toBeGreaterThan(0);
      for (const error of load.refused) expect(error).toBeInstanceOf(BrokerUnreachableError);
      // Both consumers took jobs again after the restart.
      consumers.forEach((runner, i) => expect(runner.stats().succeeded).toBeGreaterThan(succeededBefore[i]!));
    } finally {
      await Promise.all(runners.map((runner) => runner.close({ drain: 'none' })));
      await redis.stop();
    }
  }, 60_000);
});
