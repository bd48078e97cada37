import { describe, expect, it } from '@jest/globals';
import type { JobState } from '../lib/job/job.js';
import { canMove, transition } from '../lib/job/states.js';

const STATES: JobState[] = ['scheduled', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'expired'];
const TERMINAL: JobState[] = ['succeeded', 'failed', 'cancelled', 'expired'];

describe('Job states', () => {
  it('allow no move out of a terminal state', () => {
    for (const from of TERMINAL) for (const to of STATES) expect(canMove(from, to)).toBe(false);
  });

  it('let every live state be cancelled', () => {
    for (const from of STATES.filter((state) => !TERMINAL.includes(state))) expect(canMove(from, 'cancelled')).toBe(true);
  });

  it('expire only jobs that have not started', () => {
    expect(STATES.filter((from) => canMove(from, 'expired'))).toEqual(['scheduled', 'queued', 'retrying']);
  });

  it('start only queued jobs, and settle a run as succeeded, failed or retrying', () => {
    expect(STATES.filter((from) => canMove(from, 'running'))).toEqual(['queued']);
    expect(STATES.filter((from) => canMove(from, 'succeeded'))).toEqual(['running']);
    expect(canMove('running', 'retrying')).toBe(true);
    expect(canMove('retrying', 'queued')).toBe(true);
  });

  it('throws on an illegal move under test, leaving the state as it was', () => {
    const job = { id: 'j-1', state: 'succeeded' as JobState };
    expect(() => transition(job, 'running')).toThrow();
    expect(job.state).toBe('succeeded');
    const live = { id: 'j-2', state: 'queued' as JobState };
    transition(live, 'running');
    expect(live.state).toBe('running');
  });
});
