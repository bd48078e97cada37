import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from '@jest/globals';
import type { JobChannels } from 'baozi';
import { holdThread, rejectionOf, useRunners } from './helpers/e2e.js';

const runners = useRunners();

const NAMES = [
  'baozi:job:scheduled',
  'baozi:job:queued',
  'baozi:job:running',
  'baozi:job:retrying',
  'baozi:job:succeeded',
  'baozi:job:failed',
  'baozi:job:cancelled',
  'baozi:job:expired',
] as const satisfies readonly (keyof JobChannels)[];

interface Message {
  channel: string;
  jobId: string;
  /** The job's state as the subscriber saw it. */
  state: string;
  message: JobChannels[keyof JobChannels];
}

let unsubscribeAll: (() => void) | undefined;

afterEach(() => {
  unsubscribeAll?.();
  unsubscribeAll = undefined;
});

/** Subscribes to every `baozi:job:*` channel and records the messages of `runner`'s jobs, in order. */
function recordMessages(runner: object): Message[] {
  const messages: Message[] = [];
  const listeners = NAMES.map((name) => {
    const listener = (raw: unknown): void => {
      const message = raw as JobChannels[keyof JobChannels];
      if (message.runner === runner) messages.push({ channel: name, jobId: message.job.id, state: message.job.state, message });
    };
    subscribe(name, listener);
    return [name, listener] as const;
  });
  unsubscribeAll = () => {
    for (const [name, listener] of listeners) unsubscribe(name, listener);
  };
  return messages;
}

const channelsOf = (messages: readonly Message[], jobId: string): string[] =>
  messages.filter((message) => message.jobId === jobId).map((message) => message.channel);

describe('diagnostics channels', () => {
  it('publish queued, running and succeeded for a job that succeeds, with its result', async () => {
    const runner = runners.runner();
    const messages = recordMessages(runner);
    const job = await runner.submit('add', [2, 3]);
    await job.result;
    expect(channelsOf(messages, job.id)).toEqual(['baozi:job:queued', 'baozi:job:running', 'baozi:job:succeeded']);
    expect(messages.map((message) => message.state)).toEqual(['queued', 'running', 'succeeded']);
    expect(messages[2]!.message).toMatchObject({ job, runner, result: 5 });
    await runner.close();
  });

  it('publish failed with the error of a job whose task throws', async () => {
    const runner = runners.runner();
    const messages = recordMessages(runner);
    const job = await runner.submit('throwError', ['no', 'E_NO']);
    const error = await rejectionOf(job.result);
    expect(channelsOf(messages, job.id)).toEqual(['baozi:job:queued', 'baozi:job:running', 'baozi:job:failed']);
    expect((messages[2]!.message as JobChannels['baozi:job:failed']).error).toBe(error);
    await runner.close();
  });

  it('publish retrying with its delay, then the job queued and running again', async () => {
    const runner = runners.runner();
    const messages = recordMessages(runner);
    const job = await runner.submit('askRetry', [0, 2]);
    expect(await job.result).toBe(2);
    expect(channelsOf(messages, job.id)).toEqual([
      'baozi:job:queued',
      'baozi:job:running',
      'baozi:job:retrying',
      'baozi:job:queued',
      'baozi:job:running',
      'baozi:job:succeeded',
    ]);
    expect(messages[2]!.message).toMatchObject({ delay: 0 });
    await runner.close();
  });

  it('publish scheduled with runAt, then cancelled with the reason', async () => {
    const runner = runners.runner();
    const messages = recordMessages(runner);
    const job = await runner.submit('add', [1, 1], { delay: 60_000 });
    job.cancel('changed my mind');
    await rejectionOf(job.result);
    expect(channelsOf(messages, job.id)).toEqual(['baozi:job:scheduled', 'baozi:job:cancelled']);
    expect((messages[0]!.message as JobChannels['baozi:job:scheduled']).runAt).toBeInstanceOf(Date);
    expect(messages[1]!.message).toMatchObject({ reason: 'changed my mind' });
    await runner.close();
  });

  it('publish expired for a job whose time ran out on the table', async () => {
    const runner = runners.runner({ maxThreads: 1, minThreads: 1 });
    const hold = await holdThread(runner);
    const messages = recordMessages(runner);
    const job = await runner.submit('add', [1, 1], { expiresIn: 1 });
    await rejectionOf(job.result);
    expect(channelsOf(messages, job.id)).toEqual(['baozi:job:queued', 'baozi:job:expired']);
    hold.open();
    await hold.job.result;
    await runner.close();
  });

  it('publish the jobs of every runner, each message naming its runner', async () => {
    const first = runners.runner();
    const second = runners.runner();
    const messages = recordMessages(first);
    await Promise.all([first.run('add', 1, 1), second.run('add', 2, 2)]);
    expect(messages).toHaveLength(3);
    expect(messages.every((message) => message.message.runner === first)).toBe(true);
    await Promise.all([first.close(), second.close()]);
  });

  it('deliver nothing once unsubscribed, and leave the channels without subscribers', async () => {
    const runner = runners.runner();
    const messages = recordMessages(runner);
    expect(channel('baozi:job:queued').hasSubscribers).toBe(true);
    unsubscribeAll!();
    unsubscribeAll = undefined;
    expect(NAMES.some((name) => channel(name).hasSubscribers)).toBe(false);
    expect(await runner.run('add', 1, 1)).toBe(2);
    expect(messages).toEqual([]);
    await runner.close();
  });
});
