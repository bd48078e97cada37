/**
 * How many jobs a BullMQ consumer holds per slot past its slots after a
 * job (lib/broker/bullmq/consumer.ts): `HELD_MS_PER_SLOT` of work by the
 * task's measured time, at most `MAX_HELD_PER_SLOT`, none after a slow one.
 */
import { describe, expect, it } from '@jest/globals';
import { HELD_MS_PER_SLOT, MAX_HELD_PER_SLOT, heldPerSlot } from '../../lib/broker/bullmq/consumer.js';

describe('a BullMQ consumer holding quick jobs', () => {
  it('holds none after a task not measured quick', () => {
    expect(heldPerSlot(undefined)).toBe(0);
  });

  it('holds what fits in its time budget per slot', () => {
    expect(HELD_MS_PER_SLOT).toBe(16);
    expect(heldPerSlot(1.9)).toBe(8);
    expect(heldPerSlot(1)).toBe(16);
    expect(heldPerSlot(0.6)).toBe(26);
  });

  it('holds at most MAX_HELD_PER_SLOT of the tiniest jobs, also of ones measured at 0 ms', () => {
    expect(MAX_HELD_PER_SLOT).toBe(32);
    expect(heldPerSlot(0.5)).toBe(32);
    expect(heldPerSlot(0.001)).toBe(32);
    expect(heldPerSlot(0)).toBe(32);
  });
});
