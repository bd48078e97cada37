import { expect, it } from '@jest/globals';
import { InvalidOptionError, TaskError, WorkflowStepError } from 'baozi';
import { rejectionOf, thrownBy, track } from '../helpers/e2e.js';
import { describeWithRedis, queueName, rawQueue, useBrokerRunners } from './helpers.js';

describeWithRedis('chord over BullMQ (a flow)', () => {
  const { producer, consumer } = useBrokerRunners();

  it("runs the callback with the members' results, in order, once all completed", async () => {
    const queue = queueName();
    const front = producer(queue);
    consumer(queue);
    const chord = front.chord([front.sig('add', 1, 2), front.sig('sleepOrThrow', 50), front.sig('double', 5)], front.sig('sum'));
    await expect(chord.result).resolves.toBe(3 + 50 + 10);
    expect(chord.state).toBe('succeeded');
    expect(chord.jobs.map((job) => job.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  });

  it('runs the callback even when the producer that added the chord is gone: Redis holds the flow', async () => {
    const queue = queueName();
    const first = producer(queue);
    const chord = first.chord([first.sig('add', 20, 1), first.sig('add', 20, 1)], first.sig('sum'));
    const callbackId = chord.jobs[2]!.id;
    // The add is not awaited by chord(): wait until Redis holds the flow.
    const raw = rawQueue(queue);
    while (!(await raw.getJob(callbackId))) await new Promise((resolve) => setTimeout(resolve, 20));
    await raw.close();
    await first.close({ drain: 'none' });
    consumer(queue);
    const restarted = producer(queue);
    const callback = await restarted.fetchJob(callbackId);
    await expect(callback!.result).resolves.toBe(42);
  });

  it('goes on the queue only once there is room for all its members, in line with the producers waiting for room', async () => {
    const queue = queueName();
    const front = producer(queue, { capacity: 3 });
    for (let i = 0; i < 2; i++) await front.submit('add', [i, 0]);
    const chord = front.chord([front.sig('add', 1, 1), front.sig('add', 2, 2)], front.sig('sum'));
    const behind = track(front.submit('add', [9, 0]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Room for one job: not for the chord's two members, and the job behind it waits its turn.
    expect(front.stats().blocked).toBe(2);
    expect(behind.isSettled).toBe(false);
    const raw = rawQueue(queue);
    const callbackBefore = await raw.getJob(chord.jobs[2]!.id);
    const waitingBefore = await raw.getJobCountByTypes('wait', 'prioritized');
    await raw.close();
    expect(callbackBefore).toBeFalsy();
    expect(waitingBefore).toBe(2);
    consumer(queue);
    await expect(chord.result).resolves.toBe(2 + 4);
    await expect((await behind.promise).result).resolves.toBe(9);
  });

  it('fails fast with WorkflowStepError naming the member, and never runs the callback', async () => {
    const queue = queueName();
    const front = producer(queue);
    const back = consumer(queue);
    const chord = front.chord([front.sig('add', 1, 1), front.sig('throwError', 'no', 'E_NO')], front.sig('sum'));
    const error = await rejectionOf(chord.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error).toMatchObject({ code: 'BAOZI_WORKFLOW_STEP_FAILED', step: 1, task: 'throwError' });
    expect(error.cause).toBeInstanceOf(TaskError);
    expect(chord.state).toBe('failed');
    // BullMQ failed the callback without running it. The add member may have
    // run or been cancelled by the fail-fast, so the consumer's count of
    // successes is not fixed; its one failure is the throwing member.
    const raw = rawQueue(queue);
    const callback = await raw.getJob(chord.jobs[2]!.id);
    const callbackState = await callback!.getState();
    await raw.close();
    expect(callbackState).toBe('failed');
    expect(callback!.failedReason).toMatch(/^child .+ failed$/);
    expect(back.stats().failed).toBe(1);
  });

  it('gives the callback step (the number of members) when the callback itself fails', async () => {
    const queue = queueName();
    const front = producer(queue);
    consumer(queue);
    const chord = front.chord([front.sig('add', 1, 1)], front.sig('throwValue'));
    const error = await rejectionOf(chord.result);
    expect(error).toBeInstanceOf(WorkflowStepError);
    expect(error).toMatchObject({ step: 1, task: 'throwValue' });
  });

  it("refuses a jobId or a signal on a chord step: the chord names its jobs, and its handle cancels them", () => {
    const front = producer(queueName());
    for (const options of [{ jobId: 'mine' }, { signal: new AbortController().signal }]) {
      const error = thrownBy(() => front.chord([front.sig('add', 1, 1)], { ...front.sig('sum'), options } as never));
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect(error.code).toBe('BAOZI_INVALID_OPTION');
    }
  });

  it('cancels its jobs with cancel(): the result rejects with CancelledError', async () => {
    const queue = queueName();
    const front = producer(queue);
    const chord = front.chord([front.sig('add', 1, 1)], front.sig('sum'));
    expect(chord.cancel('no')).toBe(true);
    const error = await rejectionOf(chord.result);
    expect(error).toMatchObject({ code: 'BAOZI_CANCELLED', cause: 'no' });
    expect(chord.state).toBe('cancelled');
    expect(chord.cancel()).toBe(false);
    // Cancelled before its flow reached Redis: the flow is taken off once it lands.
    const raw = rawQueue(queue);
    await front.onIdle();
    expect(await raw.getJobCountByTypes('waiting-children', 'wait', 'prioritized', 'active')).toBe(0);
    await raw.close();
  });
});
