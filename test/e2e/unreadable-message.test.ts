/**
 * A job message its thread cannot read (issue 16 A). baozi refuses the
 * arguments that cause one at submit and again at dispatch
 * (e2e/transfer.test.ts), so this goes to the pool directly: whatever
 * makes a message unreadable, its run settles and the pool goes on.
 */
import { describe, expect, it } from '@jest/globals';
import { resolveRunnerOptions } from '../../lib/admission/validate.js';
import { classifyCrash, Pool, type Placement } from '../../lib/pool/pool.js';
import type { JobReply, RunMessage } from '../../workers/protocol.js';
import { rejectionOf } from '../helpers/e2e.js';
import { TASKS } from '../helpers/runner.js';

function newPool(): Pool {
  return new Pool(resolveRunnerOptions({ tasks: TASKS, minThreads: 1, maxThreads: 1 }), { workerError: () => {}, workerRecycled: () => {} });
}

function job(task: string, args: unknown[]): RunMessage {
  return { type: 'run', task, jobs: [{ id: task, attempt: 1, args, isEncoded: false }], collectsProgress: false };
}

/** The value of a run of one job. */
async function valueOf(reply: Promise<JobReply>): Promise<unknown> {
  const ran = await reply;
  return ran.type === 'run' ? ran.values[0] : ran;
}

const placement = (): Placement => ({ mayWait: false, thread: undefined });

/** A view whose buffer is detached, and that buffer: listed for transfer, they make a message its thread cannot read. */
function unreadable(): { args: unknown[]; transferList: ArrayBuffer[] } {
  const view = new Uint8Array(16);
  structuredClone(view.buffer, { transfer: [view.buffer] });
  return { args: [view], transferList: [view.buffer] };
}

describe('Pool', () => {
  describe('when a thread cannot read a job message', () => {
    it.each([
      ['still starting', false],
      ['started and idle', true],
    ])('rejects its run as a crash with reason unreadable-message on a thread %s, and runs the next one', async (_, isWarm) => {
      const pool = newPool();
      try {
        if (isWarm) expect(await valueOf(pool.run(job('add', [1, 1]), undefined, undefined, placement()))).toBe(2);
        const { args, transferList } = unreadable();
        const error = await rejectionOf(pool.run(job('echo', args), undefined, transferList, placement()));
        expect(classifyCrash(error).reason).toBe('unreadable-message');
        expect(await valueOf(pool.run(job('add', [2, 3]), undefined, undefined, placement()))).toBe(5);
      } finally {
        await pool.destroy();
      }
    });
  });
});
