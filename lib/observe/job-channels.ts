import type { RunnerEvents } from '../events.js';
import type { Runner } from '../runner.js';
import type { JobEventName } from './diagnostics.js';

/**
 * The job lifecycle on `node:diagnostics_channel`, the way undici and
 * fastify publish theirs: one channel per state a job enters, named
 * `baozi:job:<state>`. Each message is the job event's payload plus the
 * runner that emitted it (channels are process-wide):
 *
 * | channel | message |
 * | --- | --- |
 * | `baozi:job:scheduled` | `{ job, runner, runAt }` |
 * | `baozi:job:queued` | `{ job, runner }` |
 * | `baozi:job:running` | `{ job, runner }` |
 * | `baozi:job:retrying` | `{ job, runner, error, delay }` |
 * | `baozi:job:succeeded` | `{ job, runner, result }` |
 * | `baozi:job:failed` | `{ job, runner, error }` |
 * | `baozi:job:cancelled` | `{ job, runner, reason }` |
 * | `baozi:job:expired` | `{ job, runner }` |
 *
 * A message is built only while its channel has subscribers, so a process
 * that subscribes to none pays one property read per job event.
 *
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * import type { JobChannels } from 'baozi';
 * subscribe('baozi:job:failed', (message) => {
 *   const { job, error } = message as JobChannels['baozi:job:failed'];
 * });
 * ```
 */
export type JobChannels = {
  [State in JobEventName as `baozi:job:${State}`]: Parameters<RunnerEvents[State]>[0] & { runner: Runner };
};
