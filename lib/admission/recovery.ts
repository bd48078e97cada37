import type { DurableBroker, StoredJob } from '../broker/contract.js';
import type { Job } from '../job/job.js';
import type { Admission } from './admission.js';

/**
 * Re-queues the jobs a dead process left in the journal. It reads a
 * table's worth at a time, and each job waits for room like a producer, so
 * memory stays bounded by `capacity` however many there are. A close stops
 * it; the rest stay in the journal for the next runner.
 */
export async function recoverJournal(durable: DurableBroker<Job>, admission: Admission, capacity: number): Promise<void> {
  for (;;) {
    let page: StoredJob[];
    try {
      page = durable.recover(capacity);
    } catch {
      // The journal cannot be read any more: what was not recovered stays in it for the next runner.
      return;
    }
    if (page.length === 0) return;
    for (const stored of page) {
      if (admission.isClosed) return;
      const { admitted } = admission.readmit(stored);
      if (admitted) {
        try {
          await admitted;
        } catch {
          return;
        }
      }
    }
  }
}
