import { writeFileSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from '@jest/globals';
import { CancelledError, InvalidOptionError, JournalCorruptError, JournalError, JournalLockedError, createRunner } from 'baozi';
import { useRunners } from '../helpers/e2e.js';
import { journalDir } from '../helpers/journal.js';
import { TASKS } from '../helpers/runner.js';

const runners = useRunners();
const files = journalDir();
afterAll(() => files.remove());

/** The next `queued` event of the runner: a tick's job is on the table, emitted within the tick. */
function nextQueued(runner: { once(event: 'queued', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => void runner.once('queued', () => resolve()));
}

describe('Runner with a journal: periodic schedules', () => {
  it('go on from their last tick in the next runner, and fire once for ticks missed while no runner was up', async () => {
    const journal = files.path();
    const every = 150;
    const first = runners.runner({ journal });
    const a = first.schedule('add', [1, 1], { every });
    const firstDue = a.nextRunAt!.getTime();
    await nextQueued(first);
    await first.close();
    // Every tick the first runner reached is remembered, however many came before the close.
    const lastDue = firstDue + every * (a.ticks - 1);
    expect(a.ticks).toBeGreaterThanOrEqual(1);

    const second = runners.runner({ journal });
    const b = second.schedule('add', [1, 1], { every });
    expect(b.nextRunAt!.getTime()).toBe(lastDue + every);
    b.stop();
    await second.close();

    // Three periods pass with no runner up (time passing is what is tested here).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lastDue + 4 * every - Date.now())));
    const third = runners.runner({ journal });
    const c = third.schedule('add', [1, 1], { every });
    // Due at once, for all the missed ticks...
    expect(c.nextRunAt!.getTime()).toBe(lastDue + every);
    await nextQueued(third);
    // ...and once: the next is the next whole period after now, the missed ones not replayed.
    expect(c.ticks).toBe(1);
    const next = c.nextRunAt!.getTime();
    expect(next).toBeGreaterThan(lastDue + 3 * every);
    expect((next - lastDue) % every).toBe(0);
  });

  it('refuses a second live schedule with the same key, which would share its memory', () => {
    const runner = runners.runner({ journal: files.path() });
    runner.schedule('add', [1, 1], { every: 60_000 });
    expect(() => runner.schedule('add', [1, 1], { every: 60_000 })).toThrow(InvalidOptionError);
    // Other arguments, or its own key, set it apart.
    expect(runner.schedule('add', [2, 2], { every: 60_000 }).nextRunAt).toBeInstanceOf(Date);
    expect(runner.schedule('add', [1, 1], { every: 60_000, key: 'add, again' }).nextRunAt).toBeInstanceOf(Date);
    expect(() => runner.schedule('add', [1, 1], { every: 60_000, key: 'add, again' })).toThrow(InvalidOptionError);
    expect(() => runner.schedule('add', [2, 2], { every: 60_000, key: '' })).toThrow(InvalidOptionError);
  });
});

describe('Runner with a journal', () => {
  it('runs jobs as usual, and finds settled ones with getJob(id) after a restart', async () => {
    const journal = files.path();
    const first = runners.runner({ journal });
    expect(await first.run('add', 2, 3)).toBe(5);
    const ok = await first.submit('echo', [{ nested: ['value'] }], { jobId: 'kept' });
    const bad = await first.submit('throwError', ['no', 'E_NO'], { jobId: 'failed' });
    await ok.result;
    await bad.result.catch(() => {});
    await first.close();

    const second = runners.runner({ journal });
    const found = second.getJob('kept')!;
    expect(found.state).toBe('succeeded');
    expect(await found.result).toEqual({ nested: ['value'] });
    const failed = second.getJob('failed')!;
    expect(failed.state).toBe('failed');
    const error = (await failed.result.catch((thrown: unknown) => thrown)) as { code?: string; cause?: { code?: string } };
    expect(error.code).toBe('BAOZI_TASK_FAILED');
    expect(error.cause?.code).toBe('E_NO');
    // The same jobId again returns the kept job and runs nothing.
    const again = await second.submit('echo', ['other'], { jobId: 'kept' });
    expect(await again.result).toEqual({ nested: ['value'] });
    expect(second.stats().succeeded).toBe(0);
  });

  it('keeps jobs a closing runner cancelled, and a new runner re-queues them with their attempt and remaining delay (DU5)', async () => {
    const journal = files.path();
    const first = runners.runner({ journal, maxThreads: 1 });
    const retrying = await first.submit('throwError', ['again'], { jobId: 'retrying', retries: { max: 3, delay: 60_000, jitter: 'none' } });
    await new Promise((resolve) => first.once('retrying', resolve));
    // Holds the one thread, so the jobs behind it stay queued until the close; it is stopped by it.
    const running = await first.submit('sleep', [10_000], { jobId: 'running' });
    const later = await first.submit('add', [1, 1], { jobId: 'later', delay: 60_000 });
    const queued = await Promise.all([1, 2, 3].map((n) => first.submit('add', [n, 10], { jobId: `queued-${n}`, priority: n })));
    await first.close({ drain: false });
    expect(retrying.state).toBe('cancelled');
    expect(running.state).toBe('cancelled');
    expect(later.state).toBe('cancelled');
    expect(queued.map((job) => job.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);

    const second = runners.runner({ journal, maxThreads: 2 });
    const recovered = await new Promise<{ count: number }>((resolve) => second.once('recovered', resolve));
    expect(recovered.count).toBe(6);
    const again = second.getJob('retrying')!;
    expect(again.attempt).toBe(2);
    expect(again.state).toBe('scheduled');
    expect(second.getJob('later')!.state).toBe('scheduled');
    expect(await Promise.all([1, 2, 3].map((n) => second.getJob(`queued-${n}`)!.result))).toEqual([11, 12, 13]);
    await second.close({ drain: false });
  });

  it('when the journal is full, rejects submit with JournalError, cancels that job, and finishes the jobs it holds', async () => {
    const runner = runners.runner({ journal: { path: files.path(), maxSizeMb: 0.1 }, maxThreads: 1, maxResults: 0 });
    const held = await Promise.all([1, 2, 3].map(() => runner.submit('sleep', [100])));
    const big = 'x'.repeat(8000);
    let refused: unknown;
    const submitted = [];
    for (let i = 0; i < 200 && refused === undefined; i++) {
      try {
        submitted.push(await runner.submit('echo', [big]));
      } catch (error) {
        refused = error;
      }
    }
    expect(refused).toBeInstanceOf(JournalError);
    expect((refused as JournalError).code).toBe('BAOZI_JOURNAL');
    expect(runner.stats().cancelled).toBeGreaterThanOrEqual(1);
    expect(await Promise.all(held.map((job) => job.result))).toEqual([100, 100, 100]);
    for (const job of submitted) expect(await job.result).toBe(big);
  });

  it('refuses a second runner on the same journal with JournalLockedError', async () => {
    const journal = files.path();
    runners.runner({ journal });
    expect(() => createRunner({ tasks: TASKS, journal })).toThrow(JournalLockedError);
  });

  it('refuses a file that is not a journal with JournalCorruptError and leaves it as it was', () => {
    const journal = files.path();
    writeFileSync(journal, 'not a journal');
    expect(() => createRunner({ tasks: TASKS, journal })).toThrow(JournalCorruptError);
    expect(readFileSync(journal, 'utf8')).toBe('not a journal');
  });

  it('rejects a bad journal option with InvalidOptionError', () => {
    for (const journal of ['', 5, { path: '' }, { path: 'x.db', sync: 'fast' }, { path: 'x.db', maxSizeMb: 0 }, { path: 'x.db', typo: 1 }]) {
      expect(() => createRunner({ tasks: TASKS, journal: journal as never })).toThrow(InvalidOptionError);
    }
  });

  it('refuses a MessagePort in transferList, which cannot be written down', async () => {
    const runner = runners.runner({ journal: files.path() });
    const { port1, port2 } = new MessageChannel();
    await expect(runner.submit('waitForMessage', [port2], { transferList: [port2] })).rejects.toBeInstanceOf(InvalidOptionError);
    port1.close();
    port2.close();
  });

  it('gives trySubmit a handle at once; a job whose write failed is cancelled with the JournalError as cause', async () => {
    const runner = runners.runner({ journal: { path: files.path(), maxSizeMb: 0.1 }, maxResults: 0, maxThreads: 1 });
    const big = 'y'.repeat(8000);
    const handles = [];
    for (let i = 0; i < 60; i++) handles.push(runner.trySubmit('echo', [big]));
    const outcomes = await Promise.allSettled(handles.map((job) => job.result));
    const cancelled = outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => (outcome as PromiseRejectedResult).reason as CancelledError);
    expect(cancelled.length).toBeGreaterThan(0);
    expect(cancelled.every((error) => error instanceof CancelledError && error.cause instanceof JournalError)).toBe(true);
  });
});
