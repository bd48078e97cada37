import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory for journal files, and a way to remove it. */
export function journalDir(): { dir: string; path: (name?: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'baozi-journal-'));
  let next = 0;
  return {
    dir,
    path: (name) => join(dir, name ?? `journal-${next++}.db`),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
