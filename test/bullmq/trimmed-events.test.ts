import { expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { describeWithRedis, queueName, REDIS_URL, useBrokerRunners } from './helpers.js';

describeWithRedis('A producer behind a trimmed event stream', () => {
  const { producer, consumer } = useBrokerRunners();

  it('settles every job, reading outcomes from Redis when their events were trimmed before it read them', async () => {
    const queue = queueName();
    const front = producer(queue);
    consumer(queue);
    await front.ready();
    const redis = new Redis(REDIS_URL!);
    try {
      // Trims the stream as fast as Redis answers, as BullMQ's own trimming does
      // to a producer that fell ~10,000 events behind: many outcome events go unread.
      let isTrimming = true;
      let trims = 0;
      const trimming = (async () => {
        while (isTrimming) trims += (await redis.xtrim(`bull:${queue}:events`, 'MAXLEN', 0)) > 0 ? 1 : 0;
      })();
      const jobs = await Promise.all(Array.from({ length: 500 }, (_, i) => front.submit('add', [i, 1])));
      const results = await Promise.all(jobs.map((job) => job.result));
      isTrimming = false;
      await trimming;
      expect(results).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      expect(trims).toBeGreaterThan(0);
    } finally {
      await redis.quit();
    }
  }, 30_000);
});
