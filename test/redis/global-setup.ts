import { hasRedisServer, REDIS_INSTALL_HINT, startRedis } from '../helpers/redis.js';

/**
 * Starts the redis-server the broker suites share, on a free loopback
 * port, for the whole run. Without redis-server the broker suites skip and
 * the run ends saying so (global-teardown.ts); under CI it fails instead.
 */
export default async function setup(): Promise<void> {
  if (process.env.BAOZI_REDIS_URL) return;
  if (!hasRedisServer()) {
    if (process.env.CI === 'true') throw new Error(`CI=true and redis-server is not installed, so the broker suites cannot run. ${REDIS_INSTALL_HINT}`);
    process.env.BAOZI_REDIS_MISSING = '1';
    return;
  }
  const server = await startRedis();
  process.env.BAOZI_REDIS_URL = server.url;
  (globalThis as { baoziRedis?: typeof server }).baoziRedis = server;
}
