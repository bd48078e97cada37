/**
 * Publishes the job lifecycle on `node:diagnostics_channel`: the channels
 * and their messages are documented with their types in job-channels.ts.
 */
import { channel, type Channel } from 'node:diagnostics_channel';

/** The job events published on `baozi:job:<state>` channels (see job-channels.ts). */
export type JobEventName = 'scheduled' | 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled' | 'expired';

const STATES: readonly JobEventName[] = ['scheduled', 'queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled', 'expired'];

// Node keeps channels by name (weakly while nobody subscribes): holding them
// here keeps `hasSubscribers` a property read.
const CHANNELS = new Map<string, Channel>(STATES.map((state) => [state, channel(`baozi:job:${state}`)]));

/** Publishes a runner event on its `baozi:job:*` channel when that channel has subscribers. */
export function publishJobEvent(runner: unknown, name: string, payload: unknown): void {
  const target = CHANNELS.get(name);
  if (target?.hasSubscribers) target.publish({ ...(payload as object), runner });
}
