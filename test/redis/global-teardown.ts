import type { RedisServer } from '../helpers/redis.js';
import { REDIS_INSTALL_HINT } from '../helpers/redis.js';

export default async function teardown(): Promise<void> {
  const server = (globalThis as { baoziRedis?: RedisServer }).baoziRedis;
  if (server) {
    await server.stop();
    delete process.env.BAOZI_REDIS_URL;
  }
  if (process.env.BAOZI_REDIS_MISSING) {
    process.stdout.write(`\n*** The broker suites (BullMQ on Redis: test/bullmq/) did NOT run: redis-server is not installed. ${REDIS_INSTALL_HINT} ***\n\n`);
  }
}
