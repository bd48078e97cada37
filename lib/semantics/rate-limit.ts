import { InvalidOptionError } from '../errors.js';

/** At most `max` starts in any window of `per` milliseconds. */
export interface RateLimit {
  max: number;
  per: number;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** Reads `{ max, per }` or a string like `'100/s'`, `'10/m'`, `'5/h'`. Throws `InvalidOptionError`. */
export function parseRateLimit(option: string, value: unknown): RateLimit {
  if (typeof value === 'string') {
    const match = /^(\d+)\/(s|m|h)$/.exec(value.trim());
    if (match) return parseRateLimit(option, { max: Number(match[1]), per: UNITS[match[2]!] });
    throw new InvalidOptionError(option, value, "'N/s', 'N/m', 'N/h' or { max, per }");
  }
  const limit = value as Partial<RateLimit> | null;
  if (typeof limit !== 'object' || limit === null || Object.keys(limit).some((key) => key !== 'max' && key !== 'per')) {
    throw new InvalidOptionError(option, value, "'N/s', 'N/m', 'N/h' or { max, per }");
  }
  if (!Number.isInteger(limit.max) || limit.max! < 1) throw new InvalidOptionError(`${option}.max`, limit.max, 'an integer, at least 1');
  if (!Number.isInteger(limit.per) || limit.per! < 1) throw new InvalidOptionError(`${option}.per`, limit.per, 'an integer number of milliseconds, at least 1');
  return { max: limit.max!, per: limit.per! };
}

/**
 * A sliding window of start times: no more than `max` starts in any
 * `per` milliseconds. Constant memory: a ring of the last `max` starts.
 */
export class StartWindow {
  private readonly starts: Float64Array;
  private next = 0;
  private count = 0;

  constructor(private readonly limit: RateLimit) {
    this.starts = new Float64Array(limit.max);
  }

  /** Milliseconds until a start is allowed: 0 when one is allowed now. */
  waitTime(at: number): number {
    if (this.count < this.limit.max) return 0;
    // The oldest of the last `max` starts leaves the window at oldest + per.
    const oldest = this.starts[this.next]!;
    return Math.max(0, oldest + this.limit.per - at);
  }

  record(at: number): void {
    this.starts[this.next] = at;
    this.next = (this.next + 1) % this.limit.max;
    if (this.count < this.limit.max) this.count++;
  }
}
