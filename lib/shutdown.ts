import { isDurable, type Broker } from './broker/contract.js';
import type { Dispatcher } from './dispatch/dispatcher.js';
import { RunnerClosedError } from './errors.js';
import type { Job } from './job/job.js';
import type { Lifecycle } from './job/lifecycle.js';
import type { DrainMode } from './options.js';
import { clearLongTimeout, setLongTimeout } from '../workers/long-timer.js';

/** What a close stops: the runner's parts, handed over when it is built. */
export interface ShutdownParts {
  readonly lifecycle: Lifecycle;
  readonly broker: Broker<Job>;
  readonly dispatcher: Dispatcher;
  readonly pool: { destroy(): Promise<void> };
  /** Stops every periodic schedule. */
  stopSchedules(): void;
}

/**
 * A runner's close, in one place: the runner and the model test both run
 * this one. Refuses new work, rejects waiting producers, cancels what waits
 * for a delay or retry, drains what `drain` says, cancels what is still
 * live at the deadline, then stops the pool.
 */
export class Shutdown {
  #isStopped = false;
  readonly #parts: ShutdownParts;

  constructor(parts: ShutdownParts) {
    this.#parts = parts;
  }

  /** Cancels every live job and terminates every run's thread, once: a close without drain, or one that escalates. */
  stopNow(): void {
    if (this.#isStopped) return;
    this.#isStopped = true;
    this.#parts.lifecycle.cancelForClose('all', false, 'the runner closed without draining');
    this.#parts.dispatcher.stopAll(new RunnerClosedError());
  }

  /** Resolves once every thread has stopped. */
  async close(drain: DrainMode, deadlineMs: number | undefined): Promise<void> {
    const { lifecycle, broker, dispatcher, pool } = this.#parts;
    lifecycle.isClosing = true;
    this.#parts.stopSchedules();
    broker.rejectBlocked(new RunnerClosedError());
    lifecycle.cancelForClose('waiting', false, 'its delay or retry had not come');
    if (drain === 'none') this.stopNow();
    else if (drain === 'running') lifecycle.cancelForClose('queued', false, 'the runner closed, draining only running jobs');
    // Past the deadline, what still runs is told to stop, then terminated after cancelGraceMs.
    const deadline =
      drain !== 'none' && deadlineMs !== undefined
        ? setLongTimeout(() => {
            lifecycle.cancelForClose('all', true, `the close deadline of ${deadlineMs} ms passed`);
            dispatcher.stopAbandoned();
          }, deadlineMs)
        : undefined;
    lifecycle.checkIdle();
    await lifecycle.onIdle();
    clearLongTimeout(deadline);
    dispatcher.dispose();
    await pool.destroy();
    // The last outcomes are written, and the file let go of, before anyone hears it closed.
    if (isDurable(broker)) broker.close();
  }
}
