/** Medians and extremes of repeated measurements. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Every repeat, in the order it ran. */
  samples: number[];
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) return { median: NaN, min: NaN, max: NaN, samples: [] };
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples: [...samples] };
}

/** Per-repeat ratios `a[i] / b[i]` of two contenders measured in the same repeat. */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) ratios.push(a[i]! / b[i]!);
  return ratios;
}
