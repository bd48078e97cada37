import type { ResolvedBullmqOptions } from './options.js';

/**
 * How a producer's `cancel()` reaches the consumer that runs the job:
 * a message on a Redis pub/sub channel of the queue's own, heard by every
 * consumer. BullMQ's `Worker.cancelJob` reaches only the Worker's own
 * process. The one running the job stops it; the others remember the id
 * for `CANCEL_MEMORY_MS`, so that a job taken just after the message (or
 * run again after a stall) is not started. The producer also leaves the
 * reason under `cancelKey(jobId)` for as long: a consumer whose listening
 * connection was down when the message went out looks its running jobs up
 * there once it listens again.
 */
export interface CancelRequest {
  jobId: string;
  /** The cancel's reason, as text. */
  reason: string | undefined;
  /** When BullMQ added the cancelled job: a later job given the same id is another job, not cancelled. */
  addedAt?: number;
}

/** How long a consumer remembers a cancel for a job it does not run. */
export const CANCEL_MEMORY_MS = 60_000;

export function cancelChannel(options: ResolvedBullmqOptions): string {
  return `${options.prefix}:${options.queue}:baozi:cancel`;
}

/** Where a cancel's reason stays for `CANCEL_MEMORY_MS`, for consumers that missed its message. */
export function cancelKey(options: ResolvedBullmqOptions, jobId: string): string {
  return `${cancelChannel(options)}:${jobId}`;
}

export function encodeCancel(jobId: string, reason: unknown, addedAt?: number): string {
  return JSON.stringify({ jobId, reason: reason === undefined ? undefined : describe(reason), addedAt } satisfies CancelRequest);
}

/** The request in a message, or undefined for a message that is not one. */
export function decodeCancel(text: string): CancelRequest | undefined {
  try {
    const parsed = JSON.parse(text) as Partial<CancelRequest>;
    if (typeof parsed?.jobId !== 'string') return undefined;
    return {
      jobId: parsed.jobId,
      reason: typeof parsed.reason === 'string' ? parsed.reason : undefined,
      ...(typeof parsed.addedAt === 'number' && { addedAt: parsed.addedAt }),
    };
  } catch {
    return undefined;
  }
}

function describe(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  try {
    return typeof reason === 'string' ? reason : JSON.stringify(reason) ?? String(reason);
  } catch {
    return String(reason);
  }
}
