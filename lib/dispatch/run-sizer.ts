/**
 * How many jobs (or `map` inputs) one run of a task takes, from the time its
 * runs take in their threads. Transparent batches and `map` chunks are
 * sized here, and a task measured quick may be prefetched.
 */

/** A run aims at this much thread time. */
export const RUN_TARGET_MS = 2;
// Weight of a slower sample (or any, while outliers come) in a task's estimate.
const WEIGHT = 0.5;
// A run takes at most this many times the inputs of the largest run measured:
// one lucky sample cannot send a huge run of a slow task.
const MAX_GROWTH = 4;
// A sample above OUTLIER_FACTOR × estimate + OUTLIER_SLACK_MS is an outlier.
const OUTLIER_FACTOR = 4;
const OUTLIER_SLACK_MS = 0.1;
// An outlier this many runs or fewer after another is believed.
const OUTLIER_MEMORY = 16;

interface TaskTimes {
  /** Estimated milliseconds per input. */
  msPerInput: number;
  /** Most inputs of a run measured so far. */
  largestRun: number;
  /** Runs measured since the last outlier (Infinity: none yet). */
  runsSinceOutlier: number;
}

/**
 * Per task, an estimate of the thread time one input takes, from each
 * run's time per input measured in the thread (the main thread being busy
 * does not make a task look slow): a faster run is believed at once, a
 * slower one halfway.
 *
 * One late sample (a garbage collection in the run, a cold thread) must
 * not make a tiny task look slow: a sample far above the estimate counts
 * only up to `4 × estimate + 0.1 ms`. But a task that is slow now and
 * then is not tiny: a second such sample within `OUTLIER_MEMORY` runs
 * counts in full, and so does each while they keep coming.
 */
export class RunSizer {
  readonly #tasks = new Map<string, TaskTimes>();

  /** A run of `inputs` jobs (or chunk inputs) of `task` took `ms` in its thread. */
  record(task: string, inputs: number, ms: number): void {
    if (!(ms >= 0) || !(inputs > 0)) return;
    const sample = ms / inputs;
    const times = this.#tasks.get(task);
    if (!times) {
      this.#tasks.set(task, { msPerInput: sample, largestRun: inputs, runsSinceOutlier: Infinity });
      return;
    }
    let counted = sample;
    const ceiling = OUTLIER_FACTOR * times.msPerInput + OUTLIER_SLACK_MS;
    if (sample > ceiling) {
      if (times.runsSinceOutlier >= OUTLIER_MEMORY) counted = ceiling;
      times.runsSinceOutlier = 0;
    } else {
      times.runsSinceOutlier++;
    }
    // A faster run is believed at once while no outlier came lately (a
    // fresh thread's first runs are slow); with outliers about, the task
    // is slow now and then, and its mean is what counts.
    if (counted < times.msPerInput && times.runsSinceOutlier >= OUTLIER_MEMORY) times.msPerInput = counted;
    else times.msPerInput += WEIGHT * (counted - times.msPerInput);
    if (inputs > times.largestRun) times.largestRun = inputs;
  }

  /** Estimated milliseconds per input of `task`, once measured. */
  estimate(task: string): number | undefined {
    return this.#tasks.get(task)?.msPerInput;
  }

  /** Whether `task` is measured to take well under a run's target: what waits behind one of its runs waits briefly. */
  isQuick(task: string): boolean {
    return this.quickEstimate(task) !== undefined;
  }

  /** `estimate(task)` when `task` is quick (see `isQuick`), otherwise undefined. */
  quickEstimate(task: string): number | undefined {
    const ms = this.estimate(task);
    return ms !== undefined && ms < RUN_TARGET_MS ? ms : undefined;
  }

  /** Whether `inputs` of `task`, as measured, take no longer than a run's target together. */
  fitsOneRun(task: string, inputs: number): boolean {
    const times = this.#tasks.get(task);
    return times !== undefined && inputs * times.msPerInput <= RUN_TARGET_MS;
  }

  /** Inputs for the next run of `task`, 1 to `max`: 1 until a run was measured. */
  size(task: string, max: number): number {
    const times = this.#tasks.get(task);
    if (!times) return 1;
    const byTime = Math.floor(RUN_TARGET_MS / Math.max(times.msPerInput, 0.0001));
    return Math.max(1, Math.min(max, byTime, MAX_GROWTH * times.largestRun));
  }
}
