import { describe, expect, it } from '@jest/globals';
import { ResultStore } from '../lib/job/results.js';

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
});
