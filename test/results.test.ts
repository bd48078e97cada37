import { describe, expect, it } from '@jest/globals';
import { ResultStore } from '../lib/job/results.js';
import { collectGarbage } from './helpers/workflows.js';

const record = (finishedAt: number) => ({ finishedAt });

describe('ResultStore', () => {
  it('returns a finished record by id until it is older than resultTtl', () => {
    const store = new ResultStore(10, 1000);
    store.add('a', record(0), 0);
    expect(store.get('a', 1000)).toEqual(record(0));
    expect(store.get('a', 1001)).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('keeps at most maxResults records, dropping the oldest first', () => {
    const store = new ResultStore(3, 60_000);
    for (const [index, id] of ['a', 'b', 'c', 'd', 'e'].entries()) store.add(id, record(index), index);
    expect(store.size).toBe(3);
    expect(['a', 'b', 'c', 'd', 'e'].map((id) => store.get(id, 5) !== undefined)).toEqual([false, false, true, true, true]);
  });

  it('keeps nothing when maxResults is 0', () => {
    const store = new ResultStore(0, 60_000);
    store.add('a', record(0), 0);
    expect(store.get('a', 0)).toBeUndefined();
  });

  it.each([
    ['evicted past maxResults', 2, 60_000, 10],
    ['expired past resultTtl', 1000, 100, 1000],
  ])('lets go of a record %s at once, not when it next compacts (issue 16 D)', async (_, maxResults, resultTtl, laterAt) => {
    const store = new ResultStore<{ finishedAt: number; payload?: Uint8Array }>(maxResults, resultTtl);
    const ref = ((): WeakRef<object> => {
      const first = { finishedAt: 0, payload: new Uint8Array(1024) };
      store.add('first', first, 0);
      return new WeakRef(first);
    })();
    for (const id of ['b', 'c', 'd']) store.add(id, record(laterAt), laterAt);
    expect(store.get('first', laterAt)).toBeUndefined();
    // A WeakRef keeps its target through the turn that made it.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });
});
