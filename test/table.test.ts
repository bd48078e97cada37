import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { CancelledError } from '../lib/errors.js';
import { MemoryTable, type TableObserver } from '../lib/broker/memory.js';

interface Plate {
  id: number;
  priority: number;
}

function plate(id: number, priority = 0): Plate {
  return { id, priority };
}

/** An observer that writes down what it hears, in order. */
function recorder(): { events: string[]; observer: TableObserver<Plate> } {
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

function table(capacity: number, observer: TableObserver<Plate> = recorder().observer): MemoryTable<Plate> {
  return new MemoryTable<Plate>(capacity, observer);
}

/** Lets every pending promise reaction run. */
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

type Outcome = { status: 'pending' } | { status: 'fulfilled' } | { status: 'rejected'; error: unknown };

/** Watches a promise so a test can look at where it stands without awaiting it. */
function watch(promise: Promise<void>): { readonly outcome: Outcome } {
  const watched = { outcome: { status: 'pending' } as Outcome };
  promise.then(
    () => (watched.outcome = { status: 'fulfilled' }),
    (error: unknown) => (watched.outcome = { status: 'rejected', error }),
  );
  return watched;
}

function drain(memory: MemoryTable<Plate>): number[] {
  const ids: number[] = [];
  for (let entry = memory.shift(); entry; entry = memory.shift()) ids.push(entry.id);
  return ids;
}

function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

describe('MemoryTable', () => {
  describe('with room', () => {
    it('puts entries on the table at once', async () => {
      const memory = table(3);
      expect(memory.tryPush(plate(1))).toBe(true);
      await memory.push(plate(2));
      expect(memory.size).toBe(2);
      expect(memory.blocked).toBe(0);
      expect(drain(memory)).toEqual([1, 2]);
    });

    it('gives back undefined when nothing is on it', () => {
      const memory = table(1);
      expect(memory.shift()).toBeUndefined();
      expect(memory.size).toBe(0);
    });
  });

  describe('when full', () => {
    it('makes push wait until an entry leaves', async () => {
      const memory = table(1);
      memory.tryPush(plate(1));
      const second = watch(memory.push(plate(2)));
      await flush();
      expect(second.outcome.status).toBe('pending');
      expect(memory.blocked).toBe(1);

      expect(memory.shift()?.id).toBe(1);
      await flush();
      expect(second.outcome.status).toBe('fulfilled');
      expect(memory.size).toBe(1);
      expect(memory.blocked).toBe(0);
      expect(memory.shift()?.id).toBe(2);
    });

    it('makes tryPush return false and leaves the entry off', () => {
      const memory = table(2);
      memory.tryPush(plate(1));
      memory.tryPush(plate(2));
      expect(memory.tryPush(plate(3))).toBe(false);
      expect(memory.size).toBe(2);
      expect(memory.blocked).toBe(0);
      expect(drain(memory)).toEqual([1, 2]);
    });

    it('gives freed room straight to the longest waiter, so a tryPush right after still returns false', () => {
      const memory = table(2);
      memory.tryPush(plate(1));
      memory.tryPush(plate(2));
      void memory.push(plate(3));
      void memory.push(plate(4));

      memory.shift();
      expect(memory.size).toBe(2);
      expect(memory.tryPush(plate(5))).toBe(false);

      memory.remove(plate(0)); // not on the table: frees nothing
      expect(memory.tryPush(plate(5))).toBe(false);

      const two = memory.shift()!;
      expect(two.id).toBe(2);
      expect(memory.tryPush(plate(5))).toBe(false);
      expect(memory.blocked).toBe(0);
      expect(drain(memory)).toEqual([3, 4]);
    });

    it('makes tryPush return false while producers wait, even from inside the hook that admits one', () => {
      const seen: boolean[] = [];
      const memory: MemoryTable<Plate> = table(1, {
        added: (entry) => {
          if (entry.id === 2) seen.push(memory.tryPush(plate(99)));
        },
        full: () => {},
        drained: () => {},
      });
      memory.tryPush(plate(1));
      void memory.push(plate(2));
      void memory.push(plate(3));
      memory.shift();
      expect(seen).toEqual([false]);
      expect(memory.blocked).toBe(1);
    });

    it('never holds more than its capacity with 50 producers against capacity 4, and admits them in arrival order', async () => {
      const capacity = 4;
      const admitted: number[] = [];
      const resolved: number[] = [];
      const memory: MemoryTable<Plate> = table(capacity, {
        added: (entry) => {
          expect(memory.size).toBeLessThanOrEqual(capacity);
          admitted.push(entry.id);
        },
        full: () => {},
        drained: () => {},
      });
      const pushes = Array.from({ length: 50 }, (_, id) => memory.push(plate(id)).then(() => void resolved.push(id)));
      expect(memory.size).toBe(capacity);
      expect(memory.blocked).toBe(50 - capacity);

      const taken: number[] = [];
      for (let entry = memory.shift(); entry; entry = memory.shift()) {
        taken.push(entry.id);
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
      memory.tryPush(plate(1));
      void memory.push(plate(2, 0));
      void memory.push(plate(3, 10));
      expect(drain(memory)).toEqual([1, 2, 3]);
    });
  });

  describe('priority', () => {
    it('takes higher priorities first and keeps first in, first out within one', () => {
      const memory = table(10);
      for (const [id, priority] of [[1, 0], [2, 5], [3, 0], [4, 5], [5, 1], [6, 0]] as const) {
        memory.tryPush(plate(id, priority));
      }
      expect(drain(memory)).toEqual([2, 4, 5, 1, 3, 6]);
    });

    it('takes negative priorities after zero, lowest last', () => {
      const memory = table(10);
      for (const [id, priority] of [[1, -1], [2, -1000], [3, 0], [4, -5], [5, 1000], [6, -1]] as const) {
        memory.tryPush(plate(id, priority));
      }
      expect(drain(memory)).toEqual([5, 3, 1, 6, 4, 2]);
    });

    it('serves a lane by its priority, not by when it first appeared', () => {
      const memory = table(10);
      memory.tryPush(plate(1, 0));
      expect(memory.shift()?.id).toBe(1);
      memory.tryPush(plate(2, 0));
      memory.tryPush(plate(3, 7));
      memory.tryPush(plate(4, 3));
      expect(drain(memory)).toEqual([3, 4, 2]);
    });
  });

  describe('remove()', () => {
    it('takes a queued entry off and keeps the others in order', () => {
      const memory = table(10);
      const entries = [plate(1), plate(2, 5), plate(3), plate(4, 5), plate(5)];
      for (const entry of entries) memory.tryPush(entry);
      expect(memory.remove(entries[2]!)).toBe(true);
      expect(memory.remove(entries[1]!)).toBe(true);
      expect(memory.size).toBe(3);
      expect(drain(memory)).toEqual([4, 1, 5]);
    });

    it('admits exactly one waiter for the room it frees', async () => {
      const memory = table(2);
      const first = plate(1);
      memory.tryPush(first);
      memory.tryPush(plate(2));
      const waiters = [watch(memory.push(plate(3))), watch(memory.push(plate(4))), watch(memory.push(plate(5)))];

      expect(memory.remove(first)).toBe(true);
      await flush();
      expect(waiters.map((waiter) => waiter.outcome.status)).toEqual(['fulfilled', 'pending', 'pending']);
      expect(memory.size).toBe(2);
      expect(memory.blocked).toBe(2);
      expect(drain(memory)).toEqual([2, 3, 4, 5]);
    });

    it('returns false for an entry that is neither on the table nor waiting, and frees nothing', () => {
      const memory = table(1);
      const entry = plate(1);
      memory.tryPush(entry);
      void memory.push(plate(2));

      expect(memory.remove(plate(3))).toBe(false);
      expect(memory.remove(plate(4, 9))).toBe(false);
      expect(memory.size).toBe(1);
      expect(memory.blocked).toBe(1);

      expect(memory.shift()).toBe(entry);
      expect(memory.remove(entry)).toBe(false);
      expect(memory.size).toBe(1);
      expect(drain(memory)).toEqual([2]);
    });

    it('takes an entry out of the line of waiters, rejecting its push with CancelledError', async () => {
      const memory = table(1);
      memory.tryPush(plate(1));
      const waiting = plate(2);
      const pushed = memory.push(waiting);
      const behind = plate(3);
      void memory.push(behind);

      expect(memory.remove(waiting)).toBe(true);
      await expect(pushed).rejects.toMatchObject({ code: 'BAOZI_CANCELLED' });
      expect(memory.blocked).toBe(1);
      expect(memory.shift()).toEqual(plate(1));
      // The room went to the waiter behind the removed one.
      expect(drain(memory)).toEqual([3]);
    });
  });

  describe('when a waiting producer’s signal aborts', () => {
    it('rejects the push with CancelledError carrying the abort reason', async () => {
      const memory = table(1);
      memory.tryPush(plate(1));
      const controller = new AbortController();
      const pending = memory.push(plate(2), controller.signal);
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
      memory.tryPush(plate(1));
      const controller = new AbortController();
      const pending = memory.push(plate(2), controller.signal);
      controller.abort();
      const error = (await pending.catch((thrown: unknown) => thrown)) as CancelledError;
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe(controller.signal.reason);
      expect((error.cause as Error).name).toBe('AbortError');
    });

    it('leaves no reservation behind: the next waiter gets the room', async () => {
      const { events, observer } = recorder();
      const memory = table(1, observer);
      memory.tryPush(plate(1));
      const controller = new AbortController();
      const aborted = watch(memory.push(plate(2), controller.signal));
      const next = watch(memory.push(plate(3)));
      controller.abort();
      expect(memory.blocked).toBe(1);

      expect(memory.shift()?.id).toBe(1);
      await flush();
      expect(aborted.outcome.status).toBe('rejected');
      expect(next.outcome.status).toBe('fulfilled');
      expect(memory.size).toBe(1);
      expect(drain(memory)).toEqual([3]);
      expect(events.filter((event) => event.startsWith('added'))).toEqual(['added 1', 'added 3']);
    });

    it('keeps the other waiters in their order', () => {
      const memory = table(1);
      memory.tryPush(plate(1));
      const controller = new AbortController();
      void memory.push(plate(2));
      memory.push(plate(3), controller.signal).catch(() => {});
      void memory.push(plate(4));
      void memory.push(plate(5));
      controller.abort();
      expect(memory.blocked).toBe(3);
      expect(drain(memory)).toEqual([1, 2, 4, 5]);
    });

    it('removes its abort listener once the entry is admitted, so a later abort changes nothing', async () => {
      const memory = table(1);
      memory.tryPush(plate(1));
      const controller = new AbortController();
      const admitted = watch(memory.push(plate(2), controller.signal));
      void memory.push(plate(3));
      expect(abortListeners(controller.signal)).toBe(1);

      memory.shift();
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
      await memory.push(plate(1), controller.signal);
      expect(abortListeners(controller.signal)).toBe(0);
    });

    it('rejects at once when the signal had already aborted, instead of waiting for room', async () => {
      const memory = table(1);
      memory.tryPush(plate(1));
      const reason = new Error('too late');
      const pending = watch(memory.push(plate(2), AbortSignal.abort(reason)));
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
      memory.tryPush(plate(1));
      const controller = new AbortController();
      controller.signal.addEventListener('abort', () => memory.shift());
      const aborted = watch(memory.push(plate(2), controller.signal));
      const next = watch(memory.push(plate(3)));
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
      memory.tryPush(plate(1));
      memory.tryPush(plate(2));
      const controller = new AbortController();
      const waiters = [memory.push(plate(3)), memory.push(plate(4), controller.signal), memory.push(plate(5, 9))];
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
      memory.tryPush(plate(1));
      memory.push(plate(2)).catch(() => {});
      memory.rejectBlocked(new Error('closing'));
      const later = watch(memory.push(plate(3)));
      memory.shift();
      await flush();
      expect(later.outcome.status).toBe('fulfilled');
      expect(drain(memory)).toEqual([3]);
    });

    it('does nothing when nobody waits', () => {
      const memory = table(2);
      memory.tryPush(plate(1));
      memory.rejectBlocked(new Error('closing'));
      expect(memory.size).toBe(1);
      expect(memory.blocked).toBe(0);
    });
  });

  describe('observer', () => {
    it('hears added once per entry, whether it went on at once or after waiting', async () => {
      const { events, observer } = recorder();
      const memory = table(1, observer);
      memory.tryPush(plate(1));
      const second = memory.push(plate(2));
      memory.tryPush(plate(3)); // refused: not added
      memory.shift();
      await second;
      memory.shift();
      expect(events.filter((event) => event.startsWith('added'))).toEqual(['added 1', 'added 2']);
    });

    it('hears full once per transition to full', () => {
      const { events, observer } = recorder();
      const memory = table(2, observer);
      memory.tryPush(plate(1));
      expect(events).not.toContain('full');
      memory.tryPush(plate(2));
      memory.tryPush(plate(3));
      memory.tryPush(plate(4));
      expect(events.filter((event) => event === 'full')).toHaveLength(1);

      memory.shift();
      memory.tryPush(plate(5));
      expect(events.filter((event) => event === 'full')).toHaveLength(2);
    });

    it('hears drained once when room reappears', () => {
      const { events, observer } = recorder();
      const memory = table(2, observer);
      memory.tryPush(plate(1));
      memory.tryPush(plate(2));
      memory.shift();
      memory.shift();
      expect(events).toEqual(['added 1', 'added 2', 'full', 'drained']);
    });

    it('does not hear drained when a waiter takes the freed room at once', () => {
      const { events, observer } = recorder();
      const memory = table(1, observer);
      memory.tryPush(plate(1));
      void memory.push(plate(2));
      memory.shift();
      expect(events).toEqual(['added 1', 'full', 'added 2']);
      memory.shift();
      expect(events).toEqual(['added 1', 'full', 'added 2', 'drained']);
    });

    it('does not hear drained when the table was never full', () => {
      const { events, observer } = recorder();
      const memory = table(3, observer);
      memory.tryPush(plate(1));
      memory.shift();
      expect(events).toEqual(['added 1']);
    });

    it('is called after the change, so the table already shows it', () => {
      const sizes: string[] = [];
      const memory: MemoryTable<Plate> = table(2, {
        added: (entry) => sizes.push(`added ${entry.id} at ${memory.size}`),
        full: () => sizes.push(`full at ${memory.size}`),
        drained: () => sizes.push(`drained at ${memory.size}`),
      });
      memory.tryPush(plate(1));
      memory.tryPush(plate(2));
      memory.shift();
      expect(sizes).toEqual(['added 1 at 1', 'added 2 at 2', 'full at 2', 'drained at 1']);
    });
  });

  describe('lanes', () => {
    it('keeps first in, first out across thousands of entries while a lane compacts', () => {
      const memory = table(10_000);
      const model: number[] = [];
      const taken: number[] = [];
      const expected: number[] = [];
      let refused = 0;
      let nextId = 0;
      const pushMany = (count: number): void => {
        for (let i = 0; i < count; i++) {
          if (!memory.tryPush(plate(nextId))) refused++;
          model.push(nextId++);
        }
      };
      const shiftMany = (count: number): void => {
        for (let i = 0; i < count; i++) {
          taken.push(memory.shift()!.id);
          expected.push(model.shift()!);
        }
      };

      pushMany(3500);
      shiftMany(1800); // past the compaction point
      pushMany(1200);
      const middle = plate(-1);
      memory.tryPush(middle);
      pushMany(300);
      expect(memory.remove(middle)).toBe(true);
      shiftMany(2500);
      pushMany(500);
      expect(refused).toBe(0);
      expect(taken).toEqual(expected);
      expect(memory.size).toBe(model.length);
      expect(drain(memory)).toEqual(model);
    });

    it('keeps first in, first out when entries pass one by one through a lane thousands of times', () => {
      const memory = table(2);
      memory.tryPush(plate(0));
      const taken: number[] = [];
      for (let id = 1; id <= 5000; id++) {
        memory.tryPush(plate(id));
        taken.push(memory.shift()!.id);
      }
      expect(taken).toEqual(Array.from({ length: 5000 }, (_, id) => id));
      expect(drain(memory)).toEqual([5000]);
    });

    it('keeps each lane in order while several lanes compact', () => {
      const memory = table(10_000);
      for (let id = 0; id < 6000; id++) memory.tryPush(plate(id, id % 3));
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
});
