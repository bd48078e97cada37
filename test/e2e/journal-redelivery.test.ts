import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { journalDir } from '../helpers/journal.js';

/**
 * A job that kills its whole process on every run (RELIABILITY DU1, DU3):
 * each new process on the journal runs it again at its next attempt, until
 * it has been given back `maxRedeliveries` times; the next process fails it
 * with `WorkerCrashedError` (`reason: 'host'`) instead of running it.
 */

const CHILD = fileURLToPath(new URL('../fixtures/journal-poison-child.js', import.meta.url));

const files = journalDir();
afterAll(() => files.remove());

interface ChildEnd {
  signal: NodeJS.Signals | null;
  lines: string[];
}

function child(journal: string, log: string, maxRedeliveries: number, mode?: 'submit'): Promise<ChildEnd> {
  return new Promise((resolve, reject) => {
    const process_ = spawn(process.execPath, [CHILD, journal, log, String(maxRedeliveries), ...(mode ? [mode] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    process_.stdout.setEncoding('utf8');
    process_.stdout.on('data', (chunk: string) => void (out += chunk));
    process_.on('error', reject);
    process_.on('close', (_code, signal) => resolve({ signal, lines: out.split('\n').filter(Boolean) }));
  });
}

describe('journal: a job whose process dies while it runs', () => {
  it('runs again at its next attempt, and after maxRedeliveries fails with reason host instead of killing the next process', async () => {
    const journal = files.path();
    const log = join(files.dir, 'poison.log');
    const first = await child(journal, log, 1, 'submit');
    expect(first).toEqual({ signal: 'SIGKILL', lines: ['accepted'] });
    // Given back once (DU1: the same jobId, the next attempt): it runs, and kills again.
    const second = await child(journal, log, 1);
    expect(second).toEqual({ signal: 'SIGKILL', lines: [] });
    // Given back a second time, past maxRedeliveries 1 (DU3): failed, not run.
    const third = await child(journal, log, 1);
    expect(third.signal).toBeNull();
    expect(third.lines.map((line) => line.split(' ')[0])).toEqual(['failed']);
    expect(JSON.parse(third.lines[0]!.slice('failed '.length))).toEqual({ id: 'poison', code: 'BAOZI_WORKER_CRASHED', reason: 'host', attempt: 2 });
    expect(readFileSync(log, 'utf8')).toBe('run 1\nrun 2\n');
    // Its failure is in the journal: the next process neither runs it nor fails it again.
    const fourth = await child(journal, log, 1);
    expect(fourth).toEqual({ signal: null, lines: ['nothing recovered, poison failed'] });
  });
});
