import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function shippedSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(c?js)$/.test(entry.name))
    .map((entry) => readFileSync(join(entry.parentPath, entry.name), 'utf8'));
}

describe('package.json', () => {
  // Issue 13: a dependency nothing imports is weight every user installs.
  it('lists as runtime dependencies only packages the shipped code imports', () => {
    const { dependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const sources = [...shippedSources(join(ROOT, 'dist/lib')), ...shippedSources(join(ROOT, 'dist/workers'))].join('\n');
    const unused = Object.keys(dependencies).filter((name) => !new RegExp(`(from |import\\(|require\\()['"]${name}(/[^'"]*)?['"]`).test(sources));
    expect(unused).toEqual([]);
  });
});
