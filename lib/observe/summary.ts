/** Count, mean, extremes and percentiles of a duration, in milliseconds. */
export interface DurationSummary {
  count: number;
  mean: number;
  min: number;
  max: number;
  /** Over the most recent samples (see `DurationRecorder`). */
  p50: number;
  p99: number;
}

const WINDOW = 1024;
// The window grows to WINDOW as samples arrive, so a recorder that sees few
// (one per task name in the metrics) stays small.
const FIRST_WINDOW = 64;

/**
 * Records durations in constant memory: exact count, mean, min and max over
 * all samples; percentiles over the last 1024.
 */
export class DurationRecorder {
  private window = new Float64Array(FIRST_WINDOW);
  private count = 0;
  private total = 0;
  private min = Infinity;
  private max = 0;

  /** Sum of every sample. */
  get totalMs(): number {
    return this.total;
  }

  record(ms: number): void {
    if (this.count === this.window.length && this.count < WINDOW) {
      const grown = new Float64Array(Math.min(WINDOW, this.count * 2));
      grown.set(this.window);
      this.window = grown;
    }
    this.window[this.count % WINDOW] = ms;
    this.count++;
    this.total += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  summary(): DurationSummary {
    if (this.count === 0) return { count: 0, mean: 0, min: 0, max: 0, p50: 0, p99: 0 };
    const recent = this.window.slice(0, Math.min(this.count, WINDOW)).sort();
    const at = (q: number): number => recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]!;
    return { count: this.count, mean: this.total / this.count, min: this.min, max: this.max, p50: at(0.5), p99: at(0.99) };
  }
}
