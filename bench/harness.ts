/**
 * Runs contenders interleaved: every repeat runs each contender once, the
 * starting contender rotating (A B C, B C A, C A B, …), so a slow spell on
 * this shared machine lands on all of them instead of on one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** One trial's numbers, by metric name. */
export type Measurement = Record<string, number>;

export interface Contender {
  name: string;
  /** Runs once and reports what it measured. */
  trial(): Promise<Measurement>;
}

/** Every metric's values per contender, in repeat order (so index i of two contenders ran in the same repeat). */
export type Samples = Record<string, Record<string, number[]>>;

// A full collection between trials, so one contender's garbage is not
// collected on another's clock. `--expose-gc` cannot be passed through the
// npm script, hence the flag set at run time.
setFlagsFromString('--expose-gc');
export const collectGarbage = runInNewContext('gc') as () => void;

export async function settle(): Promise<void> {
  collectGarbage();
  await sleep(10);
}

export async function interleave(contenders: readonly Contender[], repeats: number, warmups = 1): Promise<Samples> {
  const samples: Samples = {};
  const seconds = new Map<string, number>();
  const timed = async (contender: Contender): Promise<Measurement> => {
    await settle();
    const started = performance.now();
    const measured = await contender.trial();
    seconds.set(contender.name, (seconds.get(contender.name) ?? 0) + (performance.now() - started) / 1000);
    return measured;
  };
  for (const contender of contenders) samples[contender.name] = {};
  for (let round = 0; round < warmups; round++) {
    for (const contender of contenders) await timed(contender);
  }
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(repeat + k) % contenders.length]!;
      const measured = await timed(contender);
      const bucket = samples[contender.name]!;
      for (const [metric, value] of Object.entries(measured)) (bucket[metric] ??= []).push(value);
    }
  }
  log(`  seconds per contender, warm-ups included: ${[...seconds].map(([name, s]) => `${name} ${s.toFixed(1)}`).join(', ')}`);
  return samples;
}

const startedAt = performance.now();

/** Writes progress to stderr, with seconds since start, so stdout carries only the tables. */
export function log(message: string): void {
  process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(1).padStart(5)} s] ${message}\n`);
}
