import { expect, it } from '@jest/globals';
import { InvalidOptionError } from 'baozi';
import { thrownBy } from '../helpers/e2e.js';
import { describeWithRedis, queueName, rawQueue, useBrokerRunners } from './helpers.js';


describeWithRedis('Periodic schedules over BullMQ (job schedulers)', () => {
  const { producer, consumer } = useBrokerRunners();

  it('fires once per due time across the fleet when two producers declare the same schedule', async () => {
    const queue = queueName();
    const raw = rawQueue(queue);
    const first = producer(queue);
    const second = producer(queue);
    const a = first.schedule('add', [1, 2], { every: 200 });
    const b = second.schedule('add', [1, 2], { every: 200 });
    const back = consumer(queue, { maxThreads: 1 });
    const fourRan = new Promise<void>((resolve) => {
      let ran = 0;
      back.on('succeeded', () => ++ran === 4 && resolve());
    });
    await fourRan;
    const schedulers = await raw.getJobSchedulers();
    expect(schedulers).toHaveLength(1);
    a.stop();
    expect(a.isStopped).toBe(true);
    await expect(a.lastJob!.result).resolves.toBe(3);
    const completed = await raw.getJobs(['completed']);
    // One job per due time: every id names its due time, and no due time ran twice.
    const dueTimes = completed.map((job) => Number(job.id!.split(':').pop()));
    expect(new Set(dueTimes).size).toBe(dueTimes.length);
    expect(dueTimes.length).toBeGreaterThanOrEqual(4);
    expect(completed.every((job) => job.id!.startsWith(`repeat:${schedulers[0]!.key}:`))).toBe(true);
    expect(b.ticks).toBeGreaterThanOrEqual(1);
    // stop() removes the scheduler for every process.
    await expectSoon(async () => (await raw.getJobSchedulersCount()) === 0);
    await raw.close();
  });

  it('keeps the scheduler in Redis when a producer closes: the other processes still rely on it', async () => {
    const queue = queueName();
    const raw = rawQueue(queue);
    const front = producer(queue);
    const schedule = front.schedule('add', [2, 2], { cron: '*/5 * * * * *', timezone: 'UTC' });
    await expectSoon(async () => (await raw.getJobSchedulersCount()) === 1);
    expect(schedule.nextRunAt).toBeInstanceOf(Date);
    await front.close();
    expect(schedule.isStopped).toBe(true);
    const [left] = await raw.getJobSchedulers();
    expect(left).toBeDefined();
    await raw.removeJobScheduler(left!.key);
    await raw.close();
  });

  it('refuses `overlap` over BullMQ with InvalidOptionError, and bad timing as in-process', () => {
    const front = producer(queueName());
    for (const overlap of ['skip', 'queue'] as const) {
      const error = thrownBy(() => front.schedule('add', [1, 1], { every: 100, overlap }));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
    }
    expect(thrownBy(() => front.schedule('add', [1, 1], { every: -1 }))).toBeInstanceOf(InvalidOptionError);
  });
});

/** Polls a Redis-side condition a write we do not await will make true (the scheduler's upsert or removal). */
async function expectSoon(check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('the condition did not hold within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
