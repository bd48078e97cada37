import { getEventListeners } from 'node:events';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Broker, BrokerEntry, BrokerObserver } from '../../lib/broker/contract.js';
import { CancelledError } from '../../lib/errors.js';

/**
 * The broker contract, written once: every broker runs it through a
 * `describeBrokerContract` call of its own (see memory.test.ts).
 */

export type Plate = BrokerEntry;

export function plate(id: number, priority = 0, name = 'eat', sharing: BrokerEntry['sharing'] = 'any'): Plate {
  return { id: String(id), name, priority, sharing };
}

/** A broker with room for `capacity`, reporting to `observer`. */
export type BrokerFactory = (capacity: number, observer: BrokerObserver<Plate>) => Broker<Plate>;

/** The id of the next entry a plain take gives, as a number. */
function next(broker: Broker<Plate>): number | undefined {
  const [entry] = broker.take(1);
  return entry && Number(entry.id);
}

/** An observer that writes down what it hears, in order. */
function recorder(): { events: string[]; observer: BrokerObserver<Plate> } {
  const events: string[] = [];
  return {
    events,
    observer: {
      added: (entry) => events.push(`added ${entry.id}`),
      full: () => events.push('full'),
      drained: () => events.push('drained'),
    },
  };
}

let create: BrokerFactory;

function table(capacity: number, observer: BrokerObserver<Plate> = recorder().observer): Broker<Plate> {
  return create(capacity, observer);
}

/** Lets every pending promise reaction run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

type Outcome = { status: 'pending' } | { status: 'fulfilled' } | { status: 'rejected'; error: unknown };

/** Watches a promise so a test can look at where it stands without awaiting it. */
function watch(promise: Promise<unknown>): { readonly outcome: Outcome } {
  const watched = { outcome: { status: 'pending' } as Outcome };
  promise.then(
    () => (watched.outcome = { status: 'fulfilled' }),
    (error: unknown) => (watched.outcome = { status: 'rejected', error }),
  );
  return watched;
}

function drain(memory: Broker<Plate>): number[] {
  const ids: number[] = [];
  for (let id = next(memory); id !== undefined; id = next(memory)) ids.push(id);
  return ids;
}

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

export function describeBrokerContract(name: string, factory: BrokerFactory): void {
describe(`${name} (the broker contract)`, () => {
  beforeAll(() => {
    create = factory;
  });

  describe('with room', () => {
    it('puts entries on the table at once', async () => {
      const memory = table(3);
      expect(memory.tryPut(plate(1))).toBe(true);
      await memory.put(plate(2));
      expect(memory.size).toBe(2);
      expect(memory.blocked).toBe(0);
      expect(drain(memory)).toEqual([1, 2]);
    });

    it('gives back undefined when nothing is on it', () => {
      const memory = table(1);
      expect(memory.take(1)[0]).toBeUndefined();
      expect(memory.size).toBe(0);
    });
  });

  describe('put()', () => {
    it('resolves with the entry, at once when there is room and once admitted when there was none', async () => {
      const memory = table(1);
      const first = plate(1);
      const second = plate(2);
      expect(await memory.put(first)).toBe(first);
      const waiting = memory.put(second);
      memory.take(1);
      expect(await waiting).toBe(second);
    });
  });

  describe('when full', () => {
    it('makes push wait until an entry leaves', async () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      const second = watch(memory.put(plate(2)));
      await flush();
      expect(second.outcome.status).toBe('pending');
      expect(memory.blocked).toBe(1);

      expect(next(memory)).toBe(1);
      await flush();
      expect(second.outcome.status).toBe('fulfilled');
      expect(memory.size).toBe(1);
      expect(memory.blocked).toBe(0);
      expect(next(memory)).toBe(2);
    });

    it('makes tryPut return false and leaves the entry off', () => {
      const memory = table(2);
      memory.tryPut(plate(1));
      memory.tryPut(plate(2));
      expect(memory.tryPut(plate(3))).toBe(false);
      expect(memory.size).toBe(2);
      expect(memory.blocked).toBe(0);
      expect(drain(memory)).toEqual([1, 2]);
    });

    it('gives freed room straight to the longest waiter, so a tryPut right after still returns false', () => {
      const memory = table(2);
      memory.tryPut(plate(1));
      memory.tryPut(plate(2));
      void memory.put(plate(3));
      void memory.put(plate(4));

      memory.take(1)[0];
      expect(memory.size).toBe(2);
      expect(memory.tryPut(plate(5))).toBe(false);

      memory.remove(plate(0).id); // not on the table: frees nothing
      expect(memory.tryPut(plate(5))).toBe(false);

      const two = memory.take(1)[0]!;
      expect(two.id).toBe('2');
      expect(memory.tryPut(plate(5))).toBe(false);
      expect(memory.blocked).toBe(0);
      expect(drain(memory)).toEqual([3, 4]);
    });

    it('makes tryPut return false while producers wait, even from inside the hook that admits one', () => {
      const seen: boolean[] = [];
      const memory: Broker<Plate> = table(1, {
        added: (entry) => {
          if (entry.id === '2') seen.push(memory.tryPut(plate(99)));
        },
        full: () => {},
        drained: () => {},
      });
      memory.tryPut(plate(1));
      void memory.put(plate(2));
      void memory.put(plate(3));
      memory.take(1)[0];
      expect(seen).toEqual([false]);
      expect(memory.blocked).toBe(1);
    });

    it('never holds more than its capacity with 50 producers against capacity 4, and admits them in arrival order', async () => {
      const capacity = 4;
      const admitted: number[] = [];
      const resolved: number[] = [];
      const memory: Broker<Plate> = table(capacity, {
        added: (entry) => {
          expect(memory.size).toBeLessThanOrEqual(capacity);
          admitted.push(Number(entry.id));
        },
        full: () => {},
        drained: () => {},
      });
      const pushes = Array.from({ length: 50 }, (_, id) => memory.put(plate(id)).then(() => void resolved.push(id)));
      expect(memory.size).toBe(capacity);
      expect(memory.blocked).toBe(50 - capacity);

      const taken: number[] = [];
      for (let entry = memory.take(1)[0]; entry; entry = memory.take(1)[0]) {
        taken.push(Number(entry.id));
        expect(memory.size).toBeLessThanOrEqual(capacity);
        // A waiter is admitted in the same call, so the table refills while anyone waits.
        if (memory.blocked > 0) expect(memory.size).toBe(capacity);
      }
      await Promise.all(pushes);

      const inOrder = Array.from({ length: 50 }, (_, id) => id);
      expect(taken).toEqual(inOrder);
      expect(admitted).toEqual(inOrder);
      expect(resolved).toEqual(inOrder);
      expect(memory.size).toBe(0);
      expect(memory.blocked).toBe(0);
    });

    it('admits waiters in arrival order whatever their priority', () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      void memory.put(plate(2, 0));
      void memory.put(plate(3, 10));
      expect(drain(memory)).toEqual([1, 2, 3]);
    });
  });

  describe('priority', () => {
    it('takes higher priorities first and keeps first in, first out within one', () => {
      const memory = table(10);
      for (const [id, priority] of [[1, 0], [2, 5], [3, 0], [4, 5], [5, 1], [6, 0]] as const) {
        memory.tryPut(plate(id, priority));
      }
      expect(drain(memory)).toEqual([2, 4, 5, 1, 3, 6]);
    });

    it('takes negative priorities after zero, lowest last', () => {
      const memory = table(10);
      for (const [id, priority] of [[1, -1], [2, -1000], [3, 0], [4, -5], [5, 1000], [6, -1]] as const) {
        memory.tryPut(plate(id, priority));
      }
      expect(drain(memory)).toEqual([5, 3, 1, 6, 4, 2]);
    });

    it('serves a lane by its priority, not by when it first appeared', () => {
      const memory = table(10);
      memory.tryPut(plate(1, 0));
      expect(next(memory)).toBe(1);
      memory.tryPut(plate(2, 0));
      memory.tryPut(plate(3, 7));
      memory.tryPut(plate(4, 3));
      expect(drain(memory)).toEqual([3, 4, 2]);
    });
  });

  describe('remove()', () => {
    it('takes a queued entry off and keeps the others in order', () => {
      const memory = table(10);
      const entries = [plate(1), plate(2, 5), plate(3), plate(4, 5), plate(5)];
      for (const entry of entries) memory.tryPut(entry);
      expect(memory.remove(entries[2]!.id)).toBe(true);
      expect(memory.remove(entries[1]!.id)).toBe(true);
      expect(memory.size).toBe(3);
      expect(drain(memory)).toEqual([4, 1, 5]);
    });

    it('admits exactly one waiter for the room it frees', async () => {
      const memory = table(2);
      const first = plate(1);
      memory.tryPut(first);
      memory.tryPut(plate(2));
      const waiters = [watch(memory.put(plate(3))), watch(memory.put(plate(4))), watch(memory.put(plate(5)))];

      expect(memory.remove(first.id)).toBe(true);
      await flush();
      expect(waiters.map((waiter) => waiter.outcome.status)).toEqual(['fulfilled', 'pending', 'pending']);
      expect(memory.size).toBe(2);
      expect(memory.blocked).toBe(2);
      expect(drain(memory)).toEqual([2, 3, 4, 5]);
    });

    it('returns false for an entry that is neither on the table nor waiting, and frees nothing', () => {
      const memory = table(1);
      const entry = plate(1);
      memory.tryPut(entry);
      void memory.put(plate(2));

      expect(memory.remove(plate(3).id)).toBe(false);
      expect(memory.remove(plate(4, 9).id)).toBe(false);
      expect(memory.size).toBe(1);
      expect(memory.blocked).toBe(1);

      expect(memory.take(1)[0]).toBe(entry);
      expect(memory.remove(entry.id)).toBe(false);
      expect(memory.size).toBe(1);
      expect(drain(memory)).toEqual([2]);
    });

    it('takes an entry out of the line of waiters, rejecting its push with CancelledError', async () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      const waiting = plate(2);
      const pushed = memory.put(waiting);
      const behind = plate(3);
      void memory.put(behind);

      expect(memory.remove(waiting.id)).toBe(true);
      await expect(pushed).rejects.toMatchObject({ code: 'BAOZI_CANCELLED' });
      expect(memory.blocked).toBe(1);
      expect(memory.take(1)[0]).toEqual(plate(1));
      // The room went to the waiter behind the removed one.
      expect(drain(memory)).toEqual([3]);
    });
  });

  describe('when a waiting producer’s signal aborts', () => {
    it('rejects the push with CancelledError carrying the abort reason', async () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      const controller = new AbortController();
      const pending = memory.put(plate(2), controller.signal);
      const reason = new Error('the cook went home');
      controller.abort(reason);

      const error = await pending.then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(CancelledError);
      expect((error as CancelledError).code).toBe('BAOZI_CANCELLED');
      expect((error as CancelledError).cause).toBe(reason);
      expect(memory.blocked).toBe(0);
      expect(memory.size).toBe(1);
    });

    it('uses the default AbortError as cause when aborted without a reason', async () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      const controller = new AbortController();
      const pending = memory.put(plate(2), controller.signal);
      controller.abort();
      const error = (await pending.catch((thrown: unknown) => thrown)) as CancelledError;
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe(controller.signal.reason);
      expect((error.cause as Error).name).toBe('AbortError');
    });

    it('leaves no reservation behind: the next waiter gets the room', async () => {
      const { events, observer } = recorder();
      const memory = table(1, observer);
      memory.tryPut(plate(1));
      const controller = new AbortController();
      const aborted = watch(memory.put(plate(2), controller.signal));
      const behind = watch(memory.put(plate(3)));
      controller.abort();
      expect(memory.blocked).toBe(1);

      expect(next(memory)).toBe(1);
      await flush();
      expect(aborted.outcome.status).toBe('rejected');
      expect(behind.outcome.status).toBe('fulfilled');
      expect(memory.size).toBe(1);
      expect(drain(memory)).toEqual([3]);
      expect(events.filter((event) => event.startsWith('added'))).toEqual(['added 1', 'added 3']);
    });

    it('keeps the other waiters in their order', () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      const controller = new AbortController();
      void memory.put(plate(2));
      memory.put(plate(3), controller.signal).catch(() => {});
      void memory.put(plate(4));
      void memory.put(plate(5));
      controller.abort();
      expect(memory.blocked).toBe(3);
      expect(drain(memory)).toEqual([1, 2, 4, 5]);
    });

    it('removes its abort listener once the entry is admitted, so a later abort changes nothing', async () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      const controller = new AbortController();
      const admitted = watch(memory.put(plate(2), controller.signal));
      void memory.put(plate(3));
      expect(abortListeners(controller.signal)).toBe(1);

      memory.take(1)[0];
      expect(abortListeners(controller.signal)).toBe(0);
      controller.abort();
      await flush();
      expect(admitted.outcome.status).toBe('fulfilled');
      expect(memory.size).toBe(1);
      expect(memory.blocked).toBe(1);
      expect(drain(memory)).toEqual([2, 3]);
    });

    it('adds no listener when the entry goes on at once', async () => {
      const memory = table(1);
      const controller = new AbortController();
      await memory.put(plate(1), controller.signal);
      expect(abortListeners(controller.signal)).toBe(0);
    });

    it('rejects at once when the signal had already aborted, instead of waiting for room', async () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      const reason = new Error('too late');
      const pending = watch(memory.put(plate(2), AbortSignal.abort(reason)));
      await flush();

      expect(pending.outcome.status).toBe('rejected');
      const { error } = pending.outcome as { error: CancelledError };
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe(reason);
      expect(memory.blocked).toBe(0);
    });

    it('does not admit a waiter whose signal aborted while the room was being freed', async () => {
      // A listener that runs before the table's own (the runner's, for a
      // queued job sharing the signal) frees room during the abort event.
      const memory = table(1);
      memory.tryPut(plate(1));
      const controller = new AbortController();
      controller.signal.addEventListener('abort', () => memory.take(1)[0]);
      const aborted = watch(memory.put(plate(2), controller.signal));
      const next = watch(memory.put(plate(3)));
      controller.abort();
      await flush();

      expect(aborted.outcome.status).toBe('rejected');
      expect((aborted.outcome as { error: unknown }).error).toBeInstanceOf(CancelledError);
      expect(next.outcome.status).toBe('fulfilled');
      expect(drain(memory)).toEqual([3]);
    });
  });

  describe('rejectBlocked()', () => {
    it('rejects every waiting producer with the given error and adds none of their entries', async () => {
      const { events, observer } = recorder();
      const memory = table(2, observer);
      memory.tryPut(plate(1));
      memory.tryPut(plate(2));
      const controller = new AbortController();
      const waiters = [memory.put(plate(3)), memory.put(plate(4), controller.signal), memory.put(plate(5, 9))];
      const error = new Error('closing');

      memory.rejectBlocked(error);
      const outcomes = await Promise.allSettled(waiters);
      expect(outcomes).toHaveLength(3);
      expect(outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason === error)).toBe(true);
      expect(memory.blocked).toBe(0);
      expect(abortListeners(controller.signal)).toBe(0);
      expect(drain(memory)).toEqual([1, 2]);
      expect(events.filter((event) => event.startsWith('added'))).toEqual(['added 1', 'added 2']);
    });

    it('leaves the table usable: later producers are admitted as usual', async () => {
      const memory = table(1);
      memory.tryPut(plate(1));
      memory.put(plate(2)).catch(() => {});
      memory.rejectBlocked(new Error('closing'));
      const later = watch(memory.put(plate(3)));
      memory.take(1)[0];
      await flush();
      expect(later.outcome.status).toBe('fulfilled');
      expect(drain(memory)).toEqual([3]);
    });

    it('does nothing when nobody waits', () => {
      const memory = table(2);
      memory.tryPut(plate(1));
      memory.rejectBlocked(new Error('closing'));
      expect(memory.size).toBe(1);
      expect(memory.blocked).toBe(0);
    });
  });

  describe('observer', () => {
    it('hears added once per entry, whether it went on at once or after waiting', async () => {
      const { events, observer } = recorder();
      const memory = table(1, observer);
      memory.tryPut(plate(1));
      const second = memory.put(plate(2));
      memory.tryPut(plate(3)); // refused: not added
      memory.take(1)[0];
      await second;
      memory.take(1)[0];
      expect(events.filter((event) => event.startsWith('added'))).toEqual(['added 1', 'added 2']);
    });

    it('hears full once per transition to full', () => {
      const { events, observer } = recorder();
      const memory = table(2, observer);
      memory.tryPut(plate(1));
      expect(events).not.toContain('full');
      memory.tryPut(plate(2));
      memory.tryPut(plate(3));
      memory.tryPut(plate(4));
      expect(events.filter((event) => event === 'full')).toHaveLength(1);

      memory.take(1)[0];
      memory.tryPut(plate(5));
      expect(events.filter((event) => event === 'full')).toHaveLength(2);
    });

    it('hears drained once when room reappears', () => {
      const { events, observer } = recorder();
      const memory = table(2, observer);
      memory.tryPut(plate(1));
      memory.tryPut(plate(2));
      memory.take(1)[0];
      memory.take(1)[0];
      expect(events).toEqual(['added 1', 'added 2', 'full', 'drained']);
    });

    it('does not hear drained when a waiter takes the freed room at once', () => {
      const { events, observer } = recorder();
      const memory = table(1, observer);
      memory.tryPut(plate(1));
      void memory.put(plate(2));
      memory.take(1)[0];
      expect(events).toEqual(['added 1', 'full', 'added 2']);
      memory.take(1)[0];
      expect(events).toEqual(['added 1', 'full', 'added 2', 'drained']);
    });

    it('does not hear drained when the table was never full', () => {
      const { events, observer } = recorder();
      const memory = table(3, observer);
      memory.tryPut(plate(1));
      memory.take(1)[0];
      expect(events).toEqual(['added 1']);
    });

    it('is called after the change, so the table already shows it', () => {
      const sizes: string[] = [];
      const memory: Broker<Plate> = table(2, {
        added: (entry) => sizes.push(`added ${entry.id} at ${memory.size}`),
        full: () => sizes.push(`full at ${memory.size}`),
        drained: () => sizes.push(`drained at ${memory.size}`),
      });
      memory.tryPut(plate(1));
      memory.tryPut(plate(2));
      memory.take(1)[0];
      expect(sizes).toEqual(['added 1 at 1', 'added 2 at 2', 'full at 2', 'drained at 1']);
    });
  });

  describe('lanes', () => {
    it('keeps first in, first out across thousands of entries taken and removed', () => {
      const memory = table(10_000);
      const model: number[] = [];
      const taken: number[] = [];
      const expected: number[] = [];
      let refused = 0;
      let nextId = 0;
      const pushMany = (count: number): void => {
        for (let i = 0; i < count; i++) {
          if (!memory.tryPut(plate(nextId))) refused++;
          model.push(nextId++);
        }
      };
      const shiftMany = (count: number): void => {
        for (let i = 0; i < count; i++) {
          taken.push(next(memory)!);
          expected.push(model.shift()!);
        }
      };

      pushMany(3500);
      shiftMany(1800); // past the compaction point
      pushMany(1200);
      const middle = plate(-1);
      memory.tryPut(middle);
      pushMany(300);
      expect(memory.remove(middle.id)).toBe(true);
      shiftMany(2500);
      pushMany(500);
      expect(refused).toBe(0);
      expect(taken).toEqual(expected);
      expect(memory.size).toBe(model.length);
      expect(drain(memory)).toEqual(model);
    });

    it('keeps first in, first out when entries pass one by one through a lane thousands of times', () => {
      const memory = table(2);
      memory.tryPut(plate(0));
      const taken: number[] = [];
      for (let id = 1; id <= 5000; id++) {
        memory.tryPut(plate(id));
        taken.push(next(memory)!);
      }
      expect(taken).toEqual(Array.from({ length: 5000 }, (_, id) => id));
      expect(drain(memory)).toEqual([5000]);
    });

    it('keeps each lane in order while several lanes compact', () => {
      const memory = table(10_000);
      for (let id = 0; id < 6000; id++) memory.tryPut(plate(id, id % 3));
      const taken = drain(memory);
      const lane = (priority: number): number[] => taken.filter((id) => id % 3 === priority);
      expect(taken.slice(0, 2000)).toEqual(lane(2));
      expect(taken.slice(2000, 4000)).toEqual(lane(1));
      expect(taken.slice(4000)).toEqual(lane(0));
      expect(lane(0)).toEqual([...lane(0)].sort((a, b) => a - b));
      expect(lane(1)).toEqual([...lane(1)].sort((a, b) => a - b));
      expect(lane(2)).toEqual([...lane(2)].sort((a, b) => a - b));
    });
  });
  describe('take() with a filter (plain data, no callbacks)', () => {
    function fill(memory: Broker<Plate>, entries: Plate[]): void {
      for (const entry of entries) expect(memory.tryPut(entry)).toBe(true);
    }
    const ids = (entries: Plate[]): number[] => entries.map((entry) => Number(entry.id));

    it('passes over the jobs of held tasks, which keep their places', () => {
      const memory = table(10);
      fill(memory, [plate(1, 0, 'limited'), plate(2, 0, 'free'), plate(3, 0, 'limited'), plate(4, 0, 'free')]);
      expect(ids(memory.take(3, { heldTasks: new Set(['limited']) }))).toEqual([2, 4]);
      expect(drain(memory)).toEqual([1, 3]);
    });

    it('takes only the tasks named, highest priority first', () => {
      const memory = table(10);
      fill(memory, [plate(1, 0, 'a'), plate(2, 5, 'b'), plate(3, 0, 'b'), plate(4, 9, 'a')]);
      expect(ids(memory.take(5, { tasks: new Set(['b']) }))).toEqual([2, 3]);
      expect(drain(memory)).toEqual([4, 1]);
    });

    it("with sharing 'any' takes only jobs that may share and wait; with 'batch' also those with a signal", () => {
      const memory = table(10);
      fill(memory, [plate(1, 0, 'eat', 'any'), plate(2, 0, 'eat', 'batch'), plate(3, 0, 'eat', 'alone'), plate(4, 0, 'eat', 'any')]);
      expect(ids(memory.take(5, { sharing: 'any' }))).toEqual([1, 4]);
      expect(ids(memory.take(5, { sharing: 'batch' }))).toEqual([2]);
      expect(drain(memory)).toEqual([3]);
    });

    it('inLine stops at the first job that does not match, so none overtakes another', () => {
      const memory = table(10);
      fill(memory, [plate(1, 0, 'a'), plate(2, 0, 'a'), plate(3, 0, 'b'), plate(4, 0, 'a')]);
      expect(ids(memory.take(5, { tasks: new Set(['a']), inLine: true }))).toEqual([1, 2]);
      expect(memory.take(5, { tasks: new Set(['a']), inLine: true })).toEqual([]);
      expect(drain(memory)).toEqual([3, 4]);
    });

    it('inLine follows the line across priorities', () => {
      const memory = table(10);
      fill(memory, [plate(1, 0, 'a'), plate(2, 3, 'a'), plate(3, 0, 'b')]);
      expect(ids(memory.take(5, { tasks: new Set(['a']), inLine: true }))).toEqual([2, 1]);
    });

    it('inLine passes over held jobs, which keep their places, and stops at any other mismatch', () => {
      const memory = table(10);
      fill(memory, [plate(1, 3, 'held'), plate(2, 0, 'a'), plate(3, 0, 'held'), plate(4, 0, 'a'), plate(5, 0, 'b'), plate(6, 0, 'a')]);
      expect(ids(memory.take(5, { heldTasks: new Set(['held']), tasks: new Set(['a']), inLine: true }))).toEqual([2, 4]);
      expect(drain(memory)).toEqual([1, 3, 5, 6]);
    });

    it('takes at most max, and frees that much room for waiting producers, in order', async () => {
      const memory = table(3);
      fill(memory, [plate(1), plate(2), plate(3)]);
      const waiting = [watch(memory.put(plate(4))), watch(memory.put(plate(5))), watch(memory.put(plate(6)))];
      expect(ids(memory.take(2))).toEqual([1, 2]);
      await flush();
      expect(waiting.map((waiter) => waiter.outcome.status)).toEqual(['fulfilled', 'fulfilled', 'pending']);
      expect(memory.size).toBe(3);
      expect(memory.blocked).toBe(1);
    });

    it('takes nothing from an empty table, and max 0 takes nothing', () => {
      const memory = table(2);
      expect(memory.take(3)).toEqual([]);
      memory.tryPut(plate(1));
      expect(memory.take(0)).toEqual([]);
      expect(memory.size).toBe(1);
    });
  });

  describe('settle()', () => {
    it('accepts the outcome of a taken job and leaves the table as it was', () => {
      const memory = table(2);
      memory.tryPut(plate(1));
      memory.tryPut(plate(2));
      const [taken] = memory.take(1);
      memory.settle(taken!.id, { state: 'succeeded', result: 42 });
      memory.settle('never-seen', { state: 'failed', error: new Error('x') });
      expect(memory.size).toBe(1);
      expect(drain(memory)).toEqual([2]);
    });
  });

  // Each removal costs O(1): a quadratic table took seconds here (issue 16, E).
  describe('at scale', () => {
    it('withdraws 50,000 waiting producers on one signal in one pass, keeping the rest in order', async () => {
      /** Half of `count` waiting producers share one signal; how long its abort takes, and the table. */
      const abortHalf = async (count: number) => {
        const memory = table(1);
        memory.tryPut(plate(-1));
        const controller = new AbortController();
        const cancelled: Promise<unknown>[] = [];
        for (let id = 0; id < count; id++) {
          if (id % 2 === 0) cancelled.push(memory.put(plate(id), controller.signal));
          else void memory.put(plate(id));
        }
        const startedAt = performance.now();
        controller.abort();
        const elapsed = performance.now() - startedAt;
        const outcomes = await Promise.allSettled(cancelled);
        expect(outcomes.every((outcome) => outcome.status === 'rejected' && outcome.reason instanceof CancelledError)).toBe(true);
        return { elapsed, memory };
      };
      // The faster of two small runs: the first also warms the code up, and a collection may land in either.
      const small = Math.min((await abortHalf(10_000)).elapsed, (await abortHalf(10_000)).elapsed);
      const { elapsed, memory } = await abortHalf(100_000);
      expect(memory.blocked).toBe(50_000);
      // Ten times the producers: linear takes ~10 times as long (~0.7 s here);
      // the old scan-and-splice took ~100 times (~5 s). A ratio, not a bound
      // in ms, holds on a loaded machine.
      expect(elapsed / Math.max(small, 1)).toBeLessThan(40);
      expect(next(memory)).toBe(-1);
      expect(next(memory)).toBe(1);
      expect(next(memory)).toBe(3);
    });

    it('removes 50,000 queued jobs by id, from the middle of their line', () => {
      const memory = table(100_000);
      for (let id = 0; id < 100_000; id++) memory.tryPut(plate(id));
      const startedAt = performance.now();
      let removed = 0;
      for (let id = 1; id < 100_000; id += 2) if (memory.remove(String(id))) removed++;
      expect(performance.now() - startedAt).toBeLessThan(2000); // linear is ~15 ms; the old scan-and-splice took ~5 s
      expect(removed).toBe(50_000);
      expect(memory.size).toBe(50_000);
      const rest = drain(memory);
      expect(rest.every((id) => id % 2 === 0)).toBe(true);
      expect(rest.slice(0, 3)).toEqual([0, 2, 4]);
    });
  });
});
}
