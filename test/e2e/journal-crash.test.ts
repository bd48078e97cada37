import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { journalDir } from '../helpers/journal.js';
import { seededRandom as random } from '../helpers/seeded-random.js';
import { testRunner } from '../helpers/runner.js';

/**
 * A child process with a journal accepts jobs and is killed with SIGKILL at
 * a random point (while submitting, while jobs run, while a group commits);
 * then a runner here opens the same journal and finishes what was left.
 * Over many seeds: every job whose submit() resolved settles, none is lost,
 * and none runs twice unless it was running at the kill.
 * BAOZI_CRASH_SEEDS=100 runs more seeds.
 */

const SEEDS = Number(process.env.BAOZI_CRASH_SEEDS ?? 10);
const JOBS = 150;
/** The kill lands this many ms after the child is ready, at most: the child submits for ~50 ms, its jobs run for ~300 ms. */
const KILL_WINDOW_MS = 400;
const CHILD = fileURLToPath(new URL('../fixtures/journal-child.js', import.meta.url));

const files = journalDir();
afterAll(() => files.remove());

interface ChildReport {
  accepted: Set<string>;
  durable: Set<string>;
  pid: number;
}

/** Runs the child until the kill; resolves with what it said. */
function runAndKill(journal: string, log: string, seed: number): Promise<ChildReport> {
  const killAfter = Math.floor(random(seed)() * KILL_WINDOW_MS);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, journal, log, String(JOBS), String(seed)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (!out.includes('ready') && (out + chunk).includes('ready')) setTimeout(() => child.kill('SIGKILL'), killAfter);
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`the child ended on its own (code ${code}): ${out.slice(-500)}`));
      const lines = out.split('\n');
      const ids = (word: string): Set<string> => new Set(lines.filter((line) => line.startsWith(`${word} `)).map((line) => line.slice(word.length + 1)));
      resolve({ accepted: ids('accepted'), durable: ids('durable'), pid: child.pid! });
    });
  });
}

/** Starts per job id and process id, from the run log. */
function starts(log: string): Map<string, string[]> {
  const runs = new Map<string, string[]>();
  if (!existsSync(log)) return runs;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const [word, id, pid] = line.split(' ');
    if (word !== 'start') continue;
    runs.set(id!, [...(runs.get(id!) ?? []), pid!]);
  }
  return runs;
}

describe('Journal crash recovery (SIGKILL at random points)', () => {
  it(`settles every accepted job once more at most, over ${SEEDS} seeds`, async () => {
    const seeds = Array.from({ length: SEEDS }, (_, i) => 1000 + i * 7919);
    let recoveredTotal = 0;
    let ranTwice = 0;
    let atNextAttempt = 0;
    for (const seed of seeds) {
      const journal = files.path(`crash-${seed}.db`);
      const log = files.path(`crash-${seed}.log`);
      const child = await runAndKill(journal, log, seed);

      const runner = testRunner({ journal, capacity: 32 });
      let recovered = 0;
      runner.on('recovered', ({ count }) => (recovered = count));
      // Recovery starts a tick after creation: idle is only meaningful after it.
      await new Promise((resolve) => setImmediate(resolve));
      await runner.onIdle();
      const context = `seed ${seed}`;
      for (const id of child.accepted) {
        const job = runner.getJob(id);
        expect({ context, id, state: job?.state }).toEqual({ context, id, state: 'succeeded' });
        expect(await job!.result).toBe(id);
      }
      const attempts = new Map([...starts(log).keys()].map((id) => [id, runner.getJob(id)?.attempt]));
      await runner.close();
      recoveredTotal += recovered;

      const here = String(process.pid);
      for (const [id, pids] of starts(log)) {
        const before = pids.filter((pid) => pid === String(child.pid)).length;
        const after = pids.filter((pid) => pid === here).length;
        // At most one run in each process; a second only for a job whose success was not yet written.
        expect({ context, id, before: before <= 1, after: after <= 1 }).toEqual({ context, id, before: true, after: true });
        if (before + after > 1) {
          ranTwice++;
          expect({ context, id, wasDurable: child.durable.has(id) }).toEqual({ context, id, wasDurable: false });
          // Run again at its next attempt (DU1), or at the same one when it died before its start mark was written.
          expect({ context, id, attempt: [1, 2].includes(attempts.get(id)!) }).toEqual({ context, id, attempt: true });
          if (attempts.get(id) === 2) atNextAttempt++;
        } else if (before === 1) {
          // Ran once, in the dead process: its outcome is kept, unless its submit never resolved (a job starts before its write commits).
          const expected = child.accepted.has(id) ? [1] : [1, undefined];
          expect({ context, id, attempt: expected.includes(attempts.get(id)) }).toEqual({ context, id, attempt: true });
        } else {
          // Sent to a thread in the dead process without having begun (waiting behind another job there): that counts as a delivery.
          expect({ context, id, attempt: [1, 2].includes(attempts.get(id)!) }).toEqual({ context, id, attempt: true });
        }
      }
      for (const id of child.accepted) expect({ context, id, ran: starts(log).has(id) }).toEqual({ context, id, ran: true });
    }
    // The kills landed where there was work left.
    expect(recoveredTotal).toBeGreaterThan(0);
    // Jobs run for milliseconds and start marks are written within the turn: most that ran again came back at their next attempt.
    if (ranTwice > 0) expect(atNextAttempt).toBeGreaterThan(0);
    process.stdout.write(`journal crash test: ${SEEDS} seeds, ${recoveredTotal} jobs recovered, ${ranTwice} ran again after the kill, ${atNextAttempt} of them at their next attempt\n`);
  }, 20_000 + SEEDS * 3_000);
});
