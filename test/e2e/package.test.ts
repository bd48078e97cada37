/**
 * What a user does with the package: `npm pack`, install the tarball into a
 * fresh project, run a job from ES modules and from CommonJS, and compile
 * against its types under each module resolution TypeScript offers.
 *
 * The fresh project installs offline: its lockfile pins baozi's
 * dependencies to this repository's (package-lock.json), whose tarballs the
 * `npm ci` (or `npm install`) of this repository left in npm's cache. A
 * registry is never asked, so the test runs the same without a network.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CONSUMER = join(ROOT, 'test', 'fixtures', 'package-consumer');
const TSC = join(ROOT, 'node_modules', 'typescript', 'lib', 'tsc.js');
const TIMEOUT_MS = 120_000;

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [field: string]: unknown;
}

interface PackageJson {
  name: string;
  version: string;
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
  typesVersions: Record<string, Record<string, string[]>>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  [field: string]: unknown;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/**
 * Runs a command to its end. Never rejects: the outcome is asserted, so a
 * failure shows its output. NODE_OPTIONS is cleared: the test runner's own
 * must not hide a warning a user would see.
 */
function run(file: string, args: readonly string[], cwd: string): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...process.env, NODE_OPTIONS: '' }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Its lockfile entry and those of everything it needs, found as Node would from `from` (a lockfile path). */
function closure(lock: Record<string, LockEntry>, names: readonly string[]): Record<string, LockEntry> {
  const found: Record<string, LockEntry> = {};
  const visit = (from: string, name: string): void => {
    for (let dir = from; ; ) {
      const key = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      const entry = lock[key];
      if (entry) {
        if (found[key]) return;
        found[key] = entry;
        for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(key, dep);
        return;
      }
      if (!dir) throw new Error(`${name} is not in package-lock.json: run npm install`);
      const parent = dir.lastIndexOf('/node_modules/');
      dir = parent === -1 ? '' : dir.slice(0, parent);
    }
  };
  for (const name of names) visit('', name);
  return found;
}

/** A project that depends on the tarball (and on prom-client, for `baozi/prometheus`), with a lockfile npm ci can install offline. */
function writeProject(dir: string, tarball: string): void {
  cpSync(CONSUMER, dir, { recursive: true });
  const lock = (JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const spec = `file:${tarball}`;
  const dependencies = { baozi: spec, 'prom-client': pkg.devDependencies['prom-client']! };
  const { version, license, engines, peerDependencies, peerDependenciesMeta } = pkg;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2));
  const packages = {
    '': { name: 'consumer', dependencies },
    'node_modules/baozi': {
      version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
      license,
      dependencies: pkg.dependencies,
      peerDependencies,
      peerDependenciesMeta,
      engines,
    },
    ...closure(lock, [...Object.keys(pkg.dependencies), 'prom-client']),
  };
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }, null, 2));
}

function typeCheck(project: string, resolution: 'nodenext' | 'bundler' | 'node10'): Promise<Outcome> {
  // The user's @types/node is this repository's.
  return run(process.execPath, [TSC, '-p', `tsconfig.${resolution}.json`, '--typeRoots', join(ROOT, 'node_modules', '@types')], project);
}

describe('The package', () => {
  let temp: string;
  let packed: Promise<{ outcome: Outcome; files: string[]; size: number }>;
  let installed: Promise<Outcome & { project: string }>;
  const checks = new Map<string, Promise<Outcome>>();

  beforeAll(() => {
    temp = mkdtempSync(join(tmpdir(), 'baozi-package-'));
    // `npm test` has just built dist/; prepack would build it again under the running tests.
    packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', temp], ROOT).then((outcome) => {
      const [report] = outcome.code === 0 ? (JSON.parse(outcome.stdout) as { files: { path: string }[]; size: number }[]) : [];
      return { outcome, files: report?.files.map((file) => file.path) ?? [], size: report?.size ?? 0 };
    });
    installed = packed.then(async ({ outcome }) => {
      const project = join(temp, 'consumer');
      if (outcome.code !== 0) return { ...outcome, project };
      writeProject(project, join(temp, `${pkg.name}-${pkg.version}.tgz`));
      return { ...(await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project)), project };
    });
    // One after another, to leave the CPU to the other tests; NodeNext's
    // first: the runs need its output.
    let previous: Promise<unknown> = installed;
    for (const resolution of ['nodenext', 'bundler', 'node10'] as const) {
      const check = Promise.all([installed, previous]).then(([install]) => (install.code === 0 ? typeCheck(install.project, resolution) : install));
      checks.set(resolution, check);
      previous = check;
    }
  }, TIMEOUT_MS);

  afterAll(async () => {
    await Promise.allSettled([installed, ...checks.values()]);
    rmSync(temp, { recursive: true, force: true });
  });

  it('packs the built library with its types, README and LICENSE, and no tests, benchmarks, examples or CI files', async () => {
    const { outcome, files } = await packed;
    expect(outcome).toMatchObject({ code: 0 });
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/workers/index.d.ts', 'dist/workers/thread.cjs']));
    expect(files.filter((file) => /^(test|bench|examples|\.ci)\/|^dist\/(test|bench|examples)\/|tsconfig|\.map$|\.ts$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
    // Every path package.json points at is in the tarball.
    const pointedAt = [
      pkg.main,
      pkg.types,
      ...Object.values(pkg.exports).flatMap((target) => (typeof target === 'string' ? [target] : Object.values(target))),
      ...Object.values(pkg.typesVersions).flatMap((paths) => Object.values(paths).flat()),
    ].map((path) => path.replace(/^\.\//, ''));
    expect(pointedAt.filter((path) => !files.includes(path))).toEqual([]);
  }, TIMEOUT_MS);

  it('installs into a fresh project', async () => {
    expect(await installed).toMatchObject({ code: 0 });
  }, TIMEOUT_MS);

  it.each(['nodenext', 'bundler', 'node10'])('type-checks a project that uses it under moduleResolution %s', async (resolution) => {
    const { code, stdout, stderr } = await checks.get(resolution)!;
    expect({ code, output: stdout + stderr }).toEqual({ code: 0, output: '' });
  }, TIMEOUT_MS);

  it('runs a job from an ES module, through baozi, baozi/worker, baozi/prometheus and baozi/dashboard', async () => {
    const { project } = await installed;
    await checks.get('nodenext');
    const { code, stdout, stderr } = await run(process.execPath, ['out/main.js'], project);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual({ sum: 5, task: 'describeSum', attempt: 1, metrics: true, dashboard: 'function', journal: 'BAOZI_JOURNAL: says what to install' });
  }, TIMEOUT_MS);

  it('runs a job from CommonJS through require(\'baozi\'), with no warning', async () => {
    const { project } = await installed;
    await checks.get('nodenext');
    const { code, stdout, stderr } = await run(process.execPath, ['main.cjs'], project);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual({ sum: 5, task: 'describeSum', attempt: 1 });
  }, TIMEOUT_MS);
});
