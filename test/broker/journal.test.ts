import { readFileSync, writeFileSync, statSync, truncateSync, copyFileSync } from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import type { BrokerObserver, StoredJob } from '../../lib/broker/contract.js';
import { JournalBroker, type JournalCodec } from '../../lib/broker/journal/broker.js';
import { openJournal, type JournalStoreOptions } from '../../lib/broker/journal/store.js';
import { JournalCorruptError, JournalError, JournalLockedError } from '../../lib/errors.js';
import { journalDir } from '../helpers/journal.js';
import { describeBrokerContract, plate, type Plate } from './contract.js';

const files = journalDir();
const open: JournalBroker<Plate>[] = [];

/** Plates as jobs: their id, task and priority, at attempt 1. */
const PLATES: JournalCodec<Plate> = {
  describe: (entry): StoredJob => ({
    id: entry.id,
    name: entry.name,
    args: [Number(entry.id)],
    isEncoded: false,
    priority: entry.priority,
    attempt: 1,
    submittedAt: 1000,
    runAt: undefined,
    expiresAt: undefined,
    chunkSize: 0,
    options: undefined,
  }),
  attemptOf: () => 1,
};

const quiet: BrokerObserver<Plate> = { added: () => {}, full: () => {}, drained: () => {} };

function broker(path: string, capacity = 10, options: Partial<JournalStoreOptions> = {}): JournalBroker<Plate> {
  const store = openJournal({ path, sync: 'normal', maxSizeMb: undefined, resultTtl: 60_000, maxResults: 100, ...options });
  const created = new JournalBroker<Plate>(capacity, quiet, store, PLATES);
  open.push(created);
  return created;
}

afterEach(() => {
  for (const created of open.splice(0)) created.close();
});
afterAll(() => files.remove());

describeBrokerContract('JournalBroker', (capacity, observer) => {
  const store = openJournal({ path: files.path(), sync: 'normal', maxSizeMb: undefined, resultTtl: 60_000, maxResults: 100 });
  const created = new JournalBroker<Plate>(capacity, observer, store, PLATES);
  open.push(created);
  return created;
});

describe('JournalBroker (durable)', () => {
  describe('recover()', () => {
    it('gives a new broker every job the old one accepted and never settled, oldest first, each once', async () => {
      const path = files.path();
      const old = broker(path);
      for (let id = 1; id <= 5; id++) old.tryPut(plate(id, id === 4 ? 9 : 0));
      const [first] = old.take(1);
      expect(first!.id).toBe('4');
      old.settle('4', { state: 'succeeded', result: 'done' });
      old.take(1); // 1 is taken (running) and never settled
      old.hold(plate(6), 5_000_000_000_000);
      await old.written();
      old.close();

      const next = broker(path);
      expect(next.recoverable).toBe(5);
      const pages = [next.recover(2), next.recover(2), next.recover(2), next.recover(2)];
      expect(pages.map((page) => page.map((job) => job.id))).toEqual([['1', '2'], ['3', '5'], ['6'], []]);
      // 1 was running when its process died: it comes back at its next attempt, one redelivery counted (DU1).
      expect(pages[0]![0]).toMatchObject({ name: 'eat', args: [1], isEncoded: false, attempt: 2, redeliveries: 1, runAt: undefined });
      expect(pages[0]![1]).toMatchObject({ id: '2', attempt: 1, redeliveries: 0 });
      expect(pages[2]![0]!.runAt).toBe(5_000_000_000_000);
    });

    it('keeps the attempt and due time a retrying job waits with', async () => {
      const path = files.path();
      const codec: JournalCodec<Plate> = { ...PLATES, attemptOf: () => 3 };
      const store = openJournal({ path, sync: 'full', maxSizeMb: undefined, resultTtl: 60_000, maxResults: 100 });
      const old = new JournalBroker<Plate>(4, quiet, store, codec);
      old.tryPut(plate(1));
      old.take(1);
      old.hold(plate(1), 123_456);
      await old.written();
      old.close();
      const next = broker(path);
      expect(next.recover(10)).toEqual([expect.objectContaining({ id: '1', attempt: 3, runAt: 123_456 })]);
    });

    it('does not give back jobs released by a closing runner twice, nor settled ones', async () => {
      const path = files.path();
      const old = broker(path);
      old.tryPut(plate(1));
      old.tryPut(plate(2));
      old.take(2);
      old.release('1');
      old.settle('2', { state: 'failed', error: new RangeError('no') });
      await old.written();
      old.close();
      const next = broker(path);
      expect(next.recover(10).map((job) => job.id)).toEqual(['1']);
    });
  });

  describe('find()', () => {
    it('reads a settled job back after a restart, with its result or its error code', async () => {
      const path = files.path();
      const old = broker(path);
      for (const id of [1, 2, 3]) old.tryPut(plate(id));
      old.take(3);
      old.settle('1', { state: 'succeeded', result: { deep: [1, 2n] } });
      old.settle('2', { state: 'succeeded', result: 7 });
      const error = Object.assign(new Error('outer', { cause: new TypeError('inner') }), { code: 'BAOZI_TASK_FAILED' });
      old.settle('3', { state: 'failed', error });
      await old.written();
      old.close();

      const next = broker(path);
      expect(next.find('1')).toMatchObject({ id: '1', name: 'eat', attempt: 1, outcome: { state: 'succeeded', result: { deep: [1, 2n] } } });
      expect(next.find('2')).toMatchObject({ outcome: { state: 'succeeded', result: 7 } });
      const failed = next.find('3') as { outcome: { state: string; error: Error & { code?: string } } };
      expect(failed.outcome.state).toBe('failed');
      expect(failed.outcome.error.code).toBe('BAOZI_TASK_FAILED');
      expect((failed.outcome.error.cause as Error).name).toBe('TypeError');
      expect(next.find('nope')).toBeUndefined();
    });

    it('gives an unsettled job of a dead process once, and recover() then passes it over', async () => {
      const path = files.path();
      const old = broker(path);
      for (const id of [1, 2, 3]) old.tryPut(plate(id));
      await old.written();
      old.close();
      const next = broker(path);
      expect(next.find('2')).toMatchObject({ id: '2', attempt: 1 });
      expect(next.find('2')).toBeUndefined();
      expect(next.recover(10).map((job) => job.id)).toEqual(['1', '3']);
    });

    it('keeps at most maxResults outcomes, and none past resultTtl', async () => {
      const path = files.path();
      const old = broker(path, 100, { maxResults: 3 });
      for (let id = 1; id <= 6; id++) old.tryPut(plate(id));
      old.take(6);
      for (let id = 1; id <= 6; id++) old.settle(String(id), { state: 'succeeded', result: id });
      await old.written();
      old.tryPut(plate(7)); // a later group prunes
      await old.written();
      old.close();
      const next = broker(path, 100, { maxResults: 3 });
      expect([1, 2, 3, 4, 5, 6].map((id) => next.find(String(id)) !== undefined)).toEqual([false, false, false, true, true, true]);
      next.close();
      const expired = broker(path, 100, { maxResults: 3, resultTtl: 0 });
      expect(expired.find('6')).toBeUndefined();
    });
  });

  describe('put() and written()', () => {
    it('resolves a waiting put only once its entry is written', async () => {
      const path = files.path();
      const journal = broker(path, 1);
      journal.tryPut(plate(1));
      const order: string[] = [];
      const pending = journal.put(plate(2)).then(() => order.push('put'));
      journal.take(1); // admits 2, whose write joins this turn's group
      void journal.written().then(() => order.push('written'));
      await pending;
      expect(order).toEqual(['written', 'put']);
      journal.close();
      const next = broker(path);
      expect(next.recover(5).map((job) => job.id)).toEqual(['1', '2']);
    });

    it('rejects with JournalError when the file is full, and keeps serving the table', async () => {
      const journal = broker(files.path(), 10_000, { maxSizeMb: 0.1 });
      let failed: unknown;
      for (let id = 0; id < 5000 && !failed; id++) {
        journal.tryPut({ ...plate(id), name: 'x'.repeat(500) });
        if (id % 50 === 49) failed = await journal.written().then(() => undefined, (error: unknown) => error);
      }
      expect(failed).toBeInstanceOf(JournalError);
      expect((failed as JournalError).code).toBe('BAOZI_JOURNAL');
      expect(((failed as JournalError).cause as { code?: string }).code).toBe('SQLITE_FULL');
      const size = journal.size;
      expect(journal.take(size)).toHaveLength(size);
      expect(journal.size).toBe(0);
    });
  });

  describe('opening', () => {
    it('refuses a second broker on the same file at once with JournalLockedError, and lets one open after close', () => {
      const path = files.path();
      const first = broker(path);
      expect(() => broker(path)).toThrow(JournalLockedError);
      first.close();
      expect(() => broker(path)).not.toThrow();
    });

    it('refuses a file that is not an SQLite database, and leaves it as it was', () => {
      const path = files.path();
      const text = 'my notes, not a journal\n'.repeat(100);
      writeFileSync(path, text);
      expect(() => broker(path)).toThrow(JournalCorruptError);
      expect(readFileSync(path, 'utf8')).toBe(text);
    });

    it('refuses a truncated journal, and leaves it as it was', async () => {
      const path = files.path();
      const old = broker(path, 2000);
      for (let id = 0; id < 1000; id++) old.tryPut({ ...plate(id), name: `task-${id}-${'y'.repeat(100)}` });
      await old.written();
      old.close();
      const cut = files.path();
      copyFileSync(path, cut);
      truncateSync(cut, Math.floor(statSync(cut).size / 2));
      const before = readFileSync(cut);
      expect(() => broker(cut)).toThrow(JournalCorruptError);
      expect(readFileSync(cut).equals(before)).toBe(true);
    });

    it('refuses an SQLite database of something else, and leaves it as it was', () => {
      const path = files.path();
      const other = openJournal({ path, sync: 'normal', maxSizeMb: undefined, resultTtl: 1, maxResults: 1 });
      other.close();
      // Made into another application's database: the marker is gone.
      const bytes = readFileSync(path);
      const renamed = Buffer.from(bytes.toString('latin1').replaceAll('baozi_meta', 'other_meta'), 'latin1');
      writeFileSync(path, renamed);
      expect(() => broker(path)).toThrow(JournalCorruptError);
      expect(readFileSync(path).equals(renamed)).toBe(true);
    });

    it('says so with JournalError when the directory does not exist', () => {
      expect(() => broker(`${files.dir}/missing/dir/jobs.db`)).toThrow(JournalError);
    });
  });
});
