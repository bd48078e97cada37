import { getEventListeners } from 'node:events';
import { describe, expect, it } from '@jest/globals';
import { CancelledError, InvalidOptionError, RunnerClosedError, SerializationError, TaskError } from 'baozi';
import { chain, chord, group } from '../lib/workflows/canvas.js';
import { WorkflowStepError } from '../lib/errors.js';
import { sig } from '../lib/workflows/signature.js';
import { flush, gate, holdThread, idsOf, recordJobEvents, rejectionOf, thrownBy, track, useRunners } from './helpers/e2e.js';
import { nextEvent } from './helpers/events.js';
import { broadcastGate, runnerWithSubmitter } from './helpers/workflows.js';

const runners = useRunners();

describe('sig', () => {
  it('writes down a name, arguments and options without running anything, frozen', () => {
    const options = { priority: 3 };
    const signature = sig('add', [1, 2], options);
    expect(signature).toEqual({ name: 'add', args: [1, 2], options });
    expect(Object.isFrozen(signature)).toBe(true);
    expect(Object.isFrozen(signature.args)).toBe(true);
    expect(sig('double')).toEqual({ name: 'double', args: [], options: undefined });
  });

  it('throws InvalidOptionError for a name that is not a non-empty string or arguments that are not an array', () => {
    for (const make of [() => sig(''), () => sig(42 as unknown as string), () => sig('add', 1 as unknown as [])]) {
      const error = thrownBy(make);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
    }
  });
});

describe('chain', () => {
  it('passes each result as the first argument of the next step and resolves with the last result', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const records = recordJobEvents(runner);
    const workflow = chain(submitter, sig('add', [1, 2]), sig('double'), sig('add', [10]));
    expect(workflow.state).toBe('running');

    expect(await workflow.result).toBe(16);
    expect(workflow.state).toBe('succeeded');
    const jobs = workflow.jobs;
    expect(jobs.map((job) => job.name)).toEqual(['add', 'double', 'add']);
    expect(jobs.map((job) => job.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(new Set(jobs.map((job) => job.id)).size).toBe(3);
    expect(await Promise.all(jobs.map((job) => job.result))).toEqual([3, 6, 16]);
    // Each step is a real job, and is put on the table only once the step before it succeeded.
    const ids = jobs.map((job) => job.id);
    expect(records.filter((record) => ids.includes(record.jobId)).map((record) => `${record.event} ${ids.indexOf(record.jobId)}`)).toEqual([
      'queued 0', 'running 0', 'succeeded 0',
      'queued 1', 'running 1', 'succeeded 1',
      'queued 2', 'running 2', 'succeeded 2',
    ]);
    await runner.close();
  });

  it('stops at a failing step and rejects with WorkflowStepError carrying the step, its task and its error', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const workflow = chain(submitter, sig('add', [1, -5]), sig('sleepOrThrow'), sig('double'));

    const error = await rejectionOf(workflow.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error.code).toBe('BAOZI_WORKFLOW_STEP_FAILED');
    expect(error.workflow).toBe('chain');
    expect(error.step).toBe(1);
    expect(error.task).toBe('sleepOrThrow');
    expect(error.jobId).toBe(workflow.jobs[1]!.id);
    expect(error.cause).toBeInstanceOf(TaskError);
    expect(error.cause.code).toBe('BAOZI_TASK_FAILED');
    expect(error.cause.cause.code).toBe('NEGATIVE');
    expect(workflow.state).toBe('failed');
    // The third step was never submitted.
    await runner.onIdle();
    expect(workflow.jobs.map((job) => job.state)).toEqual(['succeeded', 'failed']);
    expect(runner.stats()).toMatchObject({ succeeded: 1, failed: 1, cancelled: 0 });
    await runner.close();
  });

  it('rejects with WorkflowStepError, without a job id, when a step cannot be submitted', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const workflow = chain(submitter, sig('add', [1, 2]), sig('add', [() => 1] as unknown as [number]));

    const error = await rejectionOf(workflow.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error.step).toBe(1);
    expect(error.task).toBe('add');
    expect(error.jobId).toBeUndefined();
    expect(error.cause).toBeInstanceOf(SerializationError);
    expect(error.cause.code).toBe('BAOZI_SERIALIZATION');
    expect(workflow.jobs).toHaveLength(1);
    await runner.close();
  });

  it('throws InvalidOptionError at once for no steps or a step that is not a signature', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    expect(thrownBy(() => chain(submitter))).toBeInstanceOf(InvalidOptionError);
    const error = thrownBy(() => chain(submitter, sig('add', [1, 2]), { name: 'double' } as never));
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect(error.option).toBe('steps[1]');
    expect(runner.stats()).toMatchObject({ queued: 0, running: 0, succeeded: 0 });
    await runner.close();
  });

  it("fails with WorkflowStepError when a step's own signal cancels it, and leaves no listener on that signal", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1 });
    const hold = await holdThread(runner);
    const controller = runners.abortController();
    const queued = nextEvent(runner, 'queued');
    const workflow = chain(submitter, sig('add', [1, 2], { signal: controller.signal }), sig('double'));
    await queued;

    controller.abort('changed my mind');
    const error = await rejectionOf(workflow.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error.step).toBe(0);
    expect(error.cause).toBeInstanceOf(CancelledError);
    expect(error.cause.cause).toBe('changed my mind');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    hold.open();
    await runner.onIdle();
    expect(workflow.jobs).toHaveLength(1);
    await runner.close();
  });

  describe('when cancelled', () => {
    it('stops the running step, never submits the next one, and rejects with CancelledError', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, cancelGraceMs: 0 });
      const { port } = gate();
      const running = nextEvent(runner, 'running');
      const workflow = chain(submitter, sig('waitForMessage', [port], { transferList: [port] }), sig('echo'));
      await running;

      const reason = { why: 'no longer needed' };
      expect(workflow.cancel(reason)).toBe(true);
      expect(workflow.cancel('again')).toBe(false);
      const error = await rejectionOf(workflow.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.code).toBe('BAOZI_CANCELLED');
      expect(error.cause).toBe(reason);
      expect(workflow.state).toBe('cancelled');
      const [step] = workflow.jobs;
      expect(step!.state).toBe('cancelled');
      expect((await rejectionOf(step!.result)).cause).toBe(reason);
      await runner.onIdle();
      expect(workflow.jobs).toHaveLength(1);
      expect(runner.stats()).toMatchObject({ cancelled: 1, succeeded: 0, failed: 0 });
      await runner.close();
    });

    it('takes a queued step off the table before it runs', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1 });
      const hold = await holdThread(runner);
      const queued = nextEvent(runner, 'queued');
      const workflow = chain(submitter, sig('add', [1, 2]), sig('double'));
      await queued;
      expect(runner.stats().queued).toBe(1);

      expect(workflow.cancel()).toBe(true);
      expect(await rejectionOf(workflow.result)).toBeInstanceOf(CancelledError);
      const [step] = workflow.jobs;
      expect(step!.state).toBe('cancelled');
      expect(step!.startedAt).toBeUndefined();
      expect(runner.stats().queued).toBe(0);
      hold.open();
      await runner.onIdle();
      expect(workflow.jobs).toHaveLength(1);
      expect(runner.stats()).toMatchObject({ succeeded: 1, cancelled: 1 });
      await runner.close();
    });

    it('withdraws a step still waiting for room on a full table', async () => {
      const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 1, maxThreads: 1 });
      const hold = await holdThread(runner);
      const filler = await runner.submit('add', [0, 0]);
      const workflow = chain(submitter, sig('add', [1, 2]), sig('double'));
      await flush();
      expect(runner.stats()).toMatchObject({ queued: 1, blocked: 1 });

      expect(workflow.cancel('stop')).toBe(true);
      const error = await rejectionOf(workflow.result);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.cause).toBe('stop');
      expect(runner.stats()).toMatchObject({ queued: 1, blocked: 0 });
      expect(workflow.jobs).toEqual([]);
      hold.open();
      expect(await filler.result).toBe(0);
      await runner.onIdle();
      expect(runner.stats()).toMatchObject({ succeeded: 2, cancelled: 0 });
      await runner.close();
    });
  });
});

describe('group', () => {
  it('runs members in parallel and resolves with their results in member order, whatever order they finish in', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2, minThreads: 2 });
    const first = broadcastGate();
    const second = broadcastGate();
    const workflow = group(submitter, [sig('waitForBroadcast', [first.name]), sig('waitForBroadcast', [second.name])]);
    await Promise.all([first.ready, second.ready]);
    // Both hold a thread at once: they run in parallel.
    expect(runner.stats().running).toBe(2);

    second.open('second');
    expect(await workflow.jobs[1]!.result).toBe('second');
    expect(track(workflow.result).isSettled).toBe(false);
    first.open('first');
    expect(await workflow.result).toEqual(['first', 'second']);
    expect(workflow.state).toBe('succeeded');
    first.close();
    second.close();
    await runner.close();
  });

  it('waits for room like any producer: a group larger than the table never overfills it', async () => {
    const capacity = 2;
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity, maxThreads: 1 });
    let mostQueued = 0;
    runner.on('queued', () => (mostQueued = Math.max(mostQueued, runner.stats().queued)));
    const hold = await holdThread(runner);
    const members = Array.from({ length: 8 }, (_, i) => sig('add', [i, 100]));
    const workflow = group(submitter, members);
    await flush();
    // Two members fill the table; the third waits for room; the rest are not submitted yet.
    expect(workflow.jobs).toHaveLength(capacity);
    expect(runner.stats()).toMatchObject({ queued: capacity, blocked: 1 });

    hold.open();
    expect(await workflow.result).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(new Set(workflow.jobs.map((job) => job.id)).size).toBe(8);
    expect(mostQueued).toBe(capacity);
    await runner.close();
  });

  it('rejects with WorkflowStepError at the first failure and cancels the other members', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2, cancelGraceMs: 0 });
    const workflow = group(submitter, [sig('sleepOrThrow', [60_000]), sig('sleepOrThrow', [-1]), sig('sleepOrThrow', [60_000])]);

    const error = await rejectionOf(workflow.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error.workflow).toBe('group');
    expect(error.step).toBe(1);
    expect(error.task).toBe('sleepOrThrow');
    expect(error.cause.cause.code).toBe('NEGATIVE');
    expect(workflow.state).toBe('failed');
    await runner.onIdle();
    const [first, failed, ...rest] = workflow.jobs;
    expect(failed!.state).toBe('failed');
    for (const job of [first!, ...rest]) {
      expect(job.state).toBe('cancelled');
      expect((await rejectionOf(job.result)).cause).toBe(error);
    }
    expect(runner.stats().succeeded).toBe(0);
    await runner.close();
  });

  it("with settle: 'all', runs every member and resolves with their settled results in order", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const workflow = group(submitter, [sig('add', [1, 2]), sig('sleepOrThrow', [-1]), sig('double', [4])], { settle: 'all' });

    const [first, second, third] = await workflow.result;
    expect(first).toEqual({ status: 'fulfilled', value: 3, index: 0 });
    expect(second).toMatchObject({ status: 'rejected', index: 1 });
    const reason = (second as { reason: TaskError }).reason;
    expect(reason).toBeInstanceOf(TaskError);
    expect((reason.cause as { code: string }).code).toBe('NEGATIVE');
    expect(third).toEqual({ status: 'fulfilled', value: 8, index: 2 });
    expect(workflow.state).toBe('succeeded');
    await runner.close();
  });

  it("with settle: 'all', reports a member that cannot be submitted as rejected with its own error", async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const workflow = group(submitter, [sig('echo', [() => 1]), sig('add', [1, 2])], { settle: 'all' });

    const [first, second] = await workflow.result;
    expect(first).toMatchObject({ status: 'rejected', index: 0 });
    expect((first as { reason: unknown }).reason).toBeInstanceOf(SerializationError);
    expect(second).toEqual({ status: 'fulfilled', value: 3, index: 1 });
    expect(workflow.jobs).toHaveLength(1);
    await runner.close();
  });

  it('resolves an empty group with an empty array', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    expect(await group(submitter, []).result).toEqual([]);
    await runner.close();
  });

  it('throws InvalidOptionError at once for an unknown option or settle mode', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    for (const options of [{ setle: 'all' }, { settle: 'some' }]) {
      const error = thrownBy(() => group(submitter, [sig('add', [1, 2])], options as never));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
    }
    await runner.close();
  });

  it('when cancelled, cancels its running and queued members and rejects with CancelledError', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 1, cancelGraceMs: 0 });
    const blocker = broadcastGate();
    const workflow = group(submitter, [sig('waitForBroadcast', [blocker.name]), sig('add', [1, 2]), sig('add', [3, 4])]);
    await blocker.ready;
    await flush();
    expect(workflow.jobs.map((job) => job.state)).toEqual(['running', 'queued', 'queued']);

    expect(workflow.cancel('enough')).toBe(true);
    const error = await rejectionOf(workflow.result);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error.cause).toBe('enough');
    expect(workflow.jobs.map((job) => job.state)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    await runner.onIdle();
    expect(runner.stats()).toMatchObject({ cancelled: 3, succeeded: 0 });
    blocker.close();
    await runner.close();
  });
});

describe('chord', () => {
  it('runs the callback with the list of the members results, once they all succeeded', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const records = recordJobEvents(runner);
    const workflow = chord(submitter, [sig('add', [1, 2]), sig('add', [3, 4]), sig('double', [5])], sig('sum'));

    expect(await workflow.result).toBe(20);
    expect(workflow.state).toBe('succeeded');
    const jobs = workflow.jobs;
    expect(jobs.map((job) => job.name)).toEqual(['add', 'add', 'double', 'sum']);
    const succeeded = idsOf(records, 'succeeded');
    const callbackQueued = records.findIndex((record) => record.event === 'queued' && record.jobId === jobs[3]!.id);
    for (const member of jobs.slice(0, 3)) {
      expect(records.findIndex((record) => record.event === 'succeeded' && record.jobId === member.id)).toBeLessThan(callbackQueued);
    }
    expect(succeeded).toContain(jobs[3]!.id);
    await runner.close();
  });

  it('fails at a failing member, cancels the others and never submits the callback', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, cancelGraceMs: 0 });
    const workflow = chord(submitter, [sig('sleepOrThrow', [60_000]), sig('sleepOrThrow', [-1])], sig('sum'));

    const error = await rejectionOf(workflow.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error.workflow).toBe('chord');
    expect(error.step).toBe(1);
    expect(error.task).toBe('sleepOrThrow');
    await runner.onIdle();
    expect(workflow.jobs.map((job) => job.state)).toEqual(['cancelled', 'failed']);
    expect(workflow.jobs.map((job) => job.name)).not.toContain('sum');
    await runner.close();
  });

  it('fails with the step index after the last member when the callback fails', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    const workflow = chord(submitter, [sig('add', [1, 2]), sig('add', [3, 4])], sig('throwValue'));

    const error = await rejectionOf(workflow.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error.step).toBe(2);
    expect(error.task).toBe('throwValue');
    expect(error.cause).toBeInstanceOf(TaskError);
    // The callback was given the members' results: it threw them back.
    expect(error.cause.cause).toEqual([3, 7]);
    await runner.close();
  });

  it('when cancelled during the group, cancels the members and never submits the callback', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4, maxThreads: 2, cancelGraceMs: 0 });
    const blocker = broadcastGate();
    const workflow = chord(submitter, [sig('add', [1, 2]), sig('waitForBroadcast', [blocker.name])], sig('echo'));
    await blocker.ready;
    expect(await workflow.jobs[0]!.result).toBe(3);

    expect(workflow.cancel()).toBe(true);
    expect(await rejectionOf(workflow.result)).toBeInstanceOf(CancelledError);
    await runner.onIdle();
    expect(workflow.jobs.map((job) => job.state)).toEqual(['succeeded', 'cancelled']);
    expect(runner.stats()).toMatchObject({ succeeded: 1, cancelled: 1 });
    blocker.close();
    await runner.close();
  });

  it('rejects with WorkflowStepError when the runner is closed', async () => {
    const { runner, submitter } = runnerWithSubmitter(runners.runner, { capacity: 4 });
    await runner.close();
    const error = await rejectionOf(chord(submitter, [sig('add', [1, 2])], sig('sum')).result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error.step).toBe(0);
    expect(error.cause).toBeInstanceOf(RunnerClosedError);
  });
});
