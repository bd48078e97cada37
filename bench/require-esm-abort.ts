/**
 * Why baozi's threads do not load ES modules with `require()`: a thread
 * terminated while Node's `require(esm)` instantiates a module graph
 * aborts the whole process (Node 20.19+: `FATAL ERROR:
 * v8::Module::IsGraphAsync … must be used on an instantiated module`).
 * Bare piscina loads its task file that way, which is what makes its
 * start-up faster (see "Start-up" in bench/README.md).
 *
 *   node dist/bench/require-esm-abort.js [tries]
 *
 * Writes a chain of 200 small ES modules to a temporary directory, then,
 * in a child process, starts threads that `require()` the chain and
 * terminates each at a random moment while it loads. Exits 0 when the
 * child aborted as described, 1 when it survived every try.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODULES = 200;
const tries = Number(process.argv[2] ?? 600);
const dir = mkdtempSync(join(tmpdir(), 'baozi-require-esm-'));

for (let i = 0; i < MODULES; i++) {
  const body = i < MODULES - 1 ? `import { v as next } from './m${i + 1}.mjs';\nexport const v = next + 1;\n` : 'export const v = 0;\n';
  writeFileSync(join(dir, `m${i}.mjs`), `${body}export function f${i}(a) { return a + ${i}; }\n`);
}
// Tells its parent, when asked, when it finished loading (the crash hits at the end: instantiation).
writeFileSync(
  join(dir, 'thread.cjs'),
  "require('./m0.mjs');\nconst { parentPort, workerData } = require('node:worker_threads');\nif (workerData === 'probe') parentPort.postMessage(performance.timeOrigin + performance.now());\n",
);
// The child: learns how long a thread takes to boot and load the chain, then terminates threads inside that window.
writeFileSync(
  join(dir, 'child.mjs'),
  `import { Worker } from 'node:worker_threads';
const file = new URL('./thread.cjs', import.meta.url);
const loadedAfter = [];
for (let i = 0; i < 5; i++) {
  const started = performance.timeOrigin + performance.now();
  const probe = new Worker(file, { workerData: 'probe' });
  loadedAfter.push(await new Promise((resolve) => probe.once('message', (at) => resolve(at - started))));
  await new Promise((resolve) => probe.once('exit', resolve));
}
const loaded = loadedAfter.sort((a, b) => a - b)[2];
for (let i = 0; i < ${tries}; i++) {
  const thread = new Worker(file);
  thread.on('error', () => {});
  // Around the end of loading, where the graph is instantiated.
  const until = performance.now() + loaded * (0.8 + 0.25 * Math.random());
  while (performance.now() < until);
  await thread.terminate();
}
console.log('survived ${tries} terminations');
`,
);

const child = spawnSync(process.execPath, [join(dir, 'child.mjs')], { encoding: 'utf8' });
rmSync(dir, { recursive: true, force: true });
const fatal = /FATAL ERROR: [^\n]*|Assertion failed: [^\n]*/.exec(child.stderr)?.[0];
console.log(`node ${process.version}, ${tries} tries: child ${child.signal ? `killed by ${child.signal}` : `exited with ${child.status}`}${fatal ? `: ${fatal}` : ''}`);
if (child.stdout.trim()) console.log(child.stdout.trim());
process.exitCode = fatal ? 0 : 1;
