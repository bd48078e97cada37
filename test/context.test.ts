import { describe, expect, it } from '@jest/globals';
import { BaoziError, OutsideTaskError } from 'baozi';
import { jobContext } from 'baozi/worker';

describe('jobContext()', () => {
  describe('outside a task', () => {
    it('throws OutsideTaskError (BAOZI_OUTSIDE_TASK), a BaoziError', () => {
      let thrown: unknown;
      try {
        jobContext();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(OutsideTaskError);
      expect(thrown).toBeInstanceOf(BaoziError);
      expect(thrown).toMatchObject({ code: 'BAOZI_OUTSIDE_TASK', name: 'OutsideTaskError', call: 'jobContext' });
    });
  });
});
