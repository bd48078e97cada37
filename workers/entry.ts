/**
 * What each pool thread runs for a run (see workers/run.ts): one run at a
 * time when threads run one job at a time, and a reply or a plain
 * `JobFailure`, never anything else. Thin on purpose; the main thread owns
 * time limits, retries and bookkeeping.
 */
import { markRetiring } from './codec.js';
import { asJobFailure } from './errors.js';
import { preloadTaskModule } from './loader.js';
import type { JobReply, RunMessage } from './protocol.js';
import { isRecycling, retireReason } from './recycle.js';
import { runRun } from './run.js';
import { isSingleJob } from './settings.js';
import { watchForUnreadableMessages } from './unreadable-messages.js';

preloadTaskModule();
watchForUnreadableMessages();

const runOne = isRecycling ? runCounted : runRun;
const run = isSingleJob ? runInTurn : runOne;
export default runGuarded;

/** Every failure leaves as a `JobFailure`: anything else would read as this thread's death. */
function runGuarded(message: RunMessage): JobReply | Promise<JobReply> {
  let reply: JobReply | Promise<JobReply>;
  try {
    reply = run(message);
  } catch (error) {
    throw asJobFailure(error);
  }
  return reply instanceof Promise ? reply.catch(rethrowAsFailure) : reply;
}

function rethrowAsFailure(error: unknown): never {
  throw asJobFailure(error);
}

// One job at a time: a message prefetched while another job runs (see
// lib/dispatch/dispatcher.ts) waits for it, so that an async task never interleaves
// with the next and the job context stays a plain variable. And it waits
// until a later turn of the event loop: Piscina posts a job's reply a few
// microtasks after the job returns, and a next job that killed the thread
// before that would take the finished job's result down with it.
let isBusy = false;
const turns: (() => void)[] = [];

function runInTurn(message: RunMessage): JobReply | Promise<JobReply> {
  if (!isBusy) return runNow(message);
  return new Promise<void>((resolve) => turns.push(resolve)).then(() => runNow(message));
}

function runNow(message: RunMessage): JobReply | Promise<JobReply> {
  isBusy = true;
  let reply: JobReply | Promise<JobReply>;
  try {
    reply = runOne(message);
  } catch (error) {
    endTurn();
    throw error;
  }
  if (!(reply instanceof Promise)) {
    endTurn();
    return reply;
  }
  return reply.finally(endTurn);
}

function endTurn(): void {
  setImmediate(passTurn);
}

function passTurn(): void {
  const next = turns.shift();
  if (next) next();
  else isBusy = false;
}

/** With `maxJobsPerWorker` or a heap limit: runs the message, then checks whether this thread should retire. */
async function runCounted(message: RunMessage): Promise<JobReply> {
  let reply: JobReply | undefined;
  let failure: unknown;
  let failed = false;
  try {
    reply = await runRun(message);
  } catch (error) {
    failure = error;
    failed = true;
  }
  const reason = retireReason(message.jobs.length);
  if (reason) return markRetiring(reply, failed ? asJobFailure(failure) : undefined, reason);
  if (failed) throw failure;
  return reply!;
}
