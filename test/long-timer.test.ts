import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { clearLongTimeout, MAX_TIMER_DELAY, setLongTimeout } from '../workers/long-timer.js';

describe('setLongTimeout', () => {
  beforeEach(() => void jest.useFakeTimers());
  afterEach(() => void jest.useRealTimers());

  it('waits out a delay past 2^31-1 ms in steps, firing once at the end', () => {
    const fired = jest.fn();
    setLongTimeout(fired, 3 * MAX_TIMER_DELAY + 5);
    jest.advanceTimersByTime(3 * MAX_TIMER_DELAY);
    expect(fired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(5);
    expect(fired).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(10 * MAX_TIMER_DELAY);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('fires a short delay as setTimeout does', () => {
    const fired = jest.fn();
    setLongTimeout(fired, 10);
    jest.advanceTimersByTime(9);
    expect(fired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it.each([10, 2 * MAX_TIMER_DELAY])('is cleared by clearLongTimeout (delay %p), even between steps', (delay) => {
    const fired = jest.fn();
    const timer = setLongTimeout(fired, delay);
    jest.advanceTimersByTime(Math.min(delay - 1, MAX_TIMER_DELAY + 1));
    clearLongTimeout(timer);
    jest.advanceTimersByTime(3 * MAX_TIMER_DELAY);
    expect(fired).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(0);
  });
});
