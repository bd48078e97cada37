/**
 * A task result whose buffers move to the main thread instead of being
 * copied. Create it with `transfer()` from `baozi/worker`.
 */
import type { MessagePort } from 'node:worker_threads';

export class TransferredResult<T = unknown> {
  constructor(
    readonly value: T,
    readonly transferList: readonly (ArrayBuffer | MessagePort)[],
  ) {}
}

/**
 * Returns `value` from a task with the listed buffers moved, not copied, to
 * the main thread. They are detached (unusable) in the worker afterwards.
 *
 * ```ts
 * export function render(size: number) {
 *   const pixels = new Uint8Array(size);
 *   return transfer(pixels, [pixels.buffer]);
 * }
 * ```
 */
export function transfer<T>(value: T, transferList: readonly (ArrayBuffer | MessagePort)[]): T {
  return new TransferredResult(value, transferList) as unknown as T;
}
