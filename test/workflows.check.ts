/**
 * Type-level tests of workflows, `map` and streams: compiled by `tsc` as
 * part of `npm test`, never run. Each `@ts-expect-error` line must fail to
 * compile; if one compiles, tsc reports the directive as unused and the
 * build (so the suite) fails.
 */
import type { Duplex } from 'node:stream';
import type { Runner } from 'baozi';
import { chain, chord, group } from '../lib/workflows/canvas.js';
import { mapJobs } from '../lib/workflows/map.js';
import { sig, type Signature, type TypedSig } from '../lib/workflows/signature.js';
import { jobStream } from '../lib/workflows/stream.js';
import type { JobSubmitter, SettledResult, WorkflowHandle } from '../lib/workflows/workflow-types.js';
import type { TestTasks } from './helpers/runner.js';

declare const submitter: JobSubmitter<TestTasks>;
declare const runner: Runner<TestTasks>;
declare const runnerSig: TypedSig<TestTasks>;

export async function workflowTypeChecks(): Promise<void> {
  // chain: the result is the last step's; each step takes the previous result first.
  const total: WorkflowHandle<number> = chain(submitter, sig('add', [1, 2]), sig('double'), sig('add', [10]));
  const viaRunnerSig: number = await chain(submitter, runnerSig('add', 1, 2), runnerSig('double')).result;
  // A Runner is a JobSubmitter; its task module is not inferred through it, so say it.
  const fromRunner: JobSubmitter<TestTasks> = runner;
  const viaRunner: number = await chain<TestTasks, [Signature<'add', [number, number]>, Signature<'double', []>]>(runner, sig('add', [1, 2]), sig('double')).result;
  // @ts-expect-error the chain resolves with a number, not a string
  const wrongChain: string = await chain(submitter, sig('add', [1, 2]), sig('double')).result;
  // @ts-expect-error an unknown task name does not compile
  chain(submitter, sig('nope', [1]));
  // @ts-expect-error the first step needs all of its arguments
  chain(submitter, sig('add', [1]), sig('double'));
  // @ts-expect-error a later step is given all but its first argument
  chain(submitter, sig('add', [1, 2]), sig('double', [3]));
  // @ts-expect-error the previous result (a number) does not fit readEnv's first parameter (a string)
  chain(submitter, sig('add', [1, 2]), sig('readEnv'));
  // @ts-expect-error a wrong argument type does not compile
  chain(submitter, sig('add', [1, '2']));

  // runner.sig checks where the signature is written.
  const written: Signature<'add', [number, number]> = runnerSig('add', 1, 2);
  // @ts-expect-error a wrong argument type does not compile
  runnerSig('add', 1, '2');
  // @ts-expect-error an unknown task name does not compile
  runnerSig('nope');

  // group: the members' results in order, or settled results.
  const pair: [number, number] = await group(submitter, [sig('add', [1, 2]), sig('fib', [10])]).result;
  const settled: [SettledResult<number>, SettledResult<string | undefined>] = await group(submitter, [sig('add', [1, 2]), sig('readEnv', ['HOME'])], { settle: 'all' }).result;
  // @ts-expect-error a member needs all of its arguments
  group(submitter, [sig('add', [1, 2]), sig('add', [1])]);
  // @ts-expect-error an unknown settle mode does not compile
  group(submitter, [sig('add', [1, 2])], { settle: 'some' });

  // chord: the callback takes the list of results first.
  const summed: number = await chord(submitter, [sig('add', [1, 2]), sig('double', [3])], sig('sum')).result;
  // @ts-expect-error the callback's first parameter (a number) does not take the list of results
  chord(submitter, [sig('add', [1, 2])], sig('double'));

  // map: each input is the one argument, or `args` builds the arguments.
  for await (const n of mapJobs(submitter, 'fib', [30, 31])) {
    const result: number = n;
    void result;
  }
  for await (const outcome of mapJobs(submitter, 'fib', [30], { settle: 'all', ordered: false })) {
    const result: SettledResult<number> = outcome;
    void result;
  }
  mapJobs(submitter, 'add', [[1, 2] as const], { args: ([a, b], index) => [a + index, b] });
  // @ts-expect-error an input of the wrong type does not compile
  mapJobs(submitter, 'fib', ['30']);
  // @ts-expect-error a task that needs two arguments needs `args`
  mapJobs(submitter, 'add', [1, 2]);
  // @ts-expect-error `args` must build the task's arguments
  mapJobs(submitter, 'add', [1, 2], { args: (n) => [n, 'x'] });
  mapJobs(submitter, 'fib', [30], { batchSize: 10 });
  mapJobs(submitter, 'fib', [30], { batchSize: 'auto' });
  // @ts-expect-error batchSize is a number or 'auto'
  mapJobs(submitter, 'fib', [30], { batchSize: 'big' });

  // stream: a Duplex.
  const duplex: Duplex = jobStream(submitter, 'fib', { highWaterMark: 4 });
  jobStream(submitter, 'add', { args: (pair: [number, number]) => pair });
  // @ts-expect-error a task that needs two arguments needs `args`
  jobStream(submitter, 'add');
  // @ts-expect-error an unknown option does not compile
  jobStream(submitter, 'fib', { highWatermark: 4 });

  void [total, viaRunnerSig, fromRunner, viaRunner, wrongChain, written, pair, settled, summed, duplex];
}
