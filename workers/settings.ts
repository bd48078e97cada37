/**
 * The pool's settings for this thread, read once as it starts (see
 * `ThreadSettings` in protocol.ts for why they travel as environment data).
 */
import { getEnvironmentData } from 'node:worker_threads';
import type { SettingsArgvFlag, SingleJobArgvFlag, ThreadSettings } from './protocol.js';

const SETTINGS_ARGV_FLAG: SettingsArgvFlag = '--baozi-settings';
const SINGLE_JOB_FLAG: SingleJobArgvFlag = '--baozi-single-job';
const NONE: ThreadSettings = { maxJobs: Infinity, maxHeapBytes: Infinity, preloadDelayMs: 0, loadTimeoutMs: Infinity };

/** The argv value after `flag` (lib/pool.ts sets them), if present. */
export function argvValue(flag: string): string | undefined {
  const index = process.argv.indexOf(flag);
  return index === -1 ? undefined : process.argv[index + 1];
}

function read(): ThreadSettings {
  const key = argvValue(SETTINGS_ARGV_FLAG);
  return (key === undefined ? undefined : (getEnvironmentData(key) as ThreadSettings | undefined)) ?? NONE;
}

export const settings: ThreadSettings = read();

/** The thread runs one job at a time (`concurrentTasksPerWorker: 1`); a prefetched one waits its turn. */
export const isSingleJob = process.argv.includes(SINGLE_JOB_FLAG);
