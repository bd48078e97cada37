/** (e) Start-up to first result: from creating a pool to the first job's result. */
import { setTimeout as sleep } from 'node:timers/promises';
import { createBaozi, createPiscina, runOnPiscina } from '../contenders.js';
import { interleave, log, type Contender } from '../harness.js';
import { makeRow, type Row } from '../report.js';

/** What bare piscina's threads get to finish loading before its pool is destroyed. */
const LOAD_SETTLE_MS = 300;

export interface StartUpConfig {
  repeats: number;
}

export async function startUp(config: StartUpConfig): Promise<Row[]> {
  log(`(e) start-up to first result: ${config.repeats} repeats`);
  const contenders: Contender[] = [
    {
      name: 'piscina',
      trial: async () => {
        const started = performance.now();
        const pool = createPiscina();
        await runOnPiscina(pool, 'add', [1, 2]);
        const firstResultMs = performance.now() - started;
        // Its other thread may still be loading the task file with require(esm):
        // terminated then, the whole process aborts (see require-esm-abort.ts).
        // Untimed, it gets time to finish first.
        await sleep(LOAD_SETTLE_MS);
        await pool.destroy();
        return { firstResultMs };
      },
    },
    {
      name: 'baozi',
      trial: async () => {
        const started = performance.now();
        const runner = createBaozi();
        await runner.run('add', 1, 2);
        const firstResultMs = performance.now() - started;
        await runner.close();
        return { firstResultMs };
      },
    },
  ];
  const samples = await interleave(contenders, config.repeats);
  return [
    makeRow(
      { id: 'startup.firstResult', section: '(e) start-up: new pool → first result', metric: 'time to first result', unit: 'ms', better: 'lower' },
      { piscina: samples.piscina!.firstResultMs!, baozi: samples.baozi!.firstResultMs! },
    ),
  ];
}
