/**
 * `baozi/bullmq`: the same task module and the same typed runner over
 * BullMQ on Redis, where many consumer processes share one table. Needs
 * the optional peer dependencies `bullmq` and `ioredis`.
 *
 * ```ts
 * import { createRunner } from 'baozi';
 * import { bullmq } from 'baozi/bullmq';
 * const broker = bullmq({ queue: 'images', connection: 'redis://127.0.0.1:6379' });
 * // a producer: starts no threads
 * const producer = createRunner<typeof import('./tasks.js')>({ tasks, broker, consume: false });
 * // a consumer, in any process on any machine
 * const consumer = createRunner<typeof import('./tasks.js')>({ tasks, broker });
 * ```
 *
 * What holds over BullMQ and what does not: docs/bullmq.md.
 */
import type { ConsumerSettings, ProducerSettings, RemoteBroker, RemoteConsumer, RemoteProducer } from '../remote.js';
import { BullmqConsumer } from './consumer.js';
import { resolveBullmqOptions, type BullmqOptions, type ResolvedBullmqOptions } from './options.js';
import { BullmqProducer } from './producer.js';

export type { BullmqOptions } from './options.js';

/** A BullMQ queue as a runner's broker: give it as `createRunner({ broker })`. Create it with `bullmq()`. */
export class BullmqBroker implements RemoteBroker {
  readonly kind = 'bullmq';
  readonly #options: ResolvedBullmqOptions;

  /** @internal Use `bullmq()`. */
  constructor(options: ResolvedBullmqOptions) {
    this.#options = options;
  }

  /** The queue's name. */
  get queue(): string {
    return this.#options.queue;
  }

  /** @internal */
  producer(settings: ProducerSettings): RemoteProducer {
    return new BullmqProducer(this.#options, settings);
  }

  /** @internal */
  consumer(settings: ConsumerSettings): RemoteConsumer {
    return new BullmqConsumer(this.#options, settings);
  }
}

/**
 * A BullMQ queue on Redis as the runner's table. Throws
 * `InvalidOptionError` for bad options; connects nothing until a runner
 * uses it.
 */
export function bullmq(options: BullmqOptions): BullmqBroker {
  return new BullmqBroker(resolveBullmqOptions(options));
}
