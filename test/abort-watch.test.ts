import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { watchAbort } from '../lib/abort-watch.js';

describe('watchAbort()', () => {
  it('adds one listener to a signal however many watch it, and removes it when the last one stops', () => {
    const { signal } = new AbortController();
    const stops = Array.from({ length: 50 }, () => watchAbort(signal, () => {}));
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    for (const stop of stops.slice(1)) stop();
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    stops[0]!();
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('calls every watcher still watching once, in the order they started', () => {
    const controller = new AbortController();
    const calls: number[] = [];
    const stops = [0, 1, 2, 3].map((i) => watchAbort(controller.signal, () => calls.push(i)));
    stops[2]!();
    controller.abort();
    controller.abort();
    expect(calls).toEqual([0, 1, 3]);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('does not call a watcher that an earlier one stopped during the abort', () => {
    const controller = new AbortController();
    const calls: string[] = [];
    let stopSecond = (): void => {};
    watchAbort(controller.signal, () => {
      calls.push('first');
      stopSecond();
    });
    stopSecond = watchAbort(controller.signal, () => calls.push('second'));
    controller.abort();
    expect(calls).toEqual(['first']);
  });

  it('starts afresh after a stop emptied it: a new watcher is called on abort', () => {
    const controller = new AbortController();
    watchAbort(controller.signal, () => {})();
    const calls: string[] = [];
    watchAbort(controller.signal, () => calls.push('again'));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    expect(calls).toEqual(['again']);
  });
});
