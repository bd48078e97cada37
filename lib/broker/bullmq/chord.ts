import { CancelledError, WorkflowStepError } from '../../errors.js';
import type { JobHandle } from '../../job/job.js';
import type { WorkflowHandle, WorkflowState } from '../../workflows/workflow-types.js';
import type { RemoteJob } from './remote-job.js';

const ignoreRejection = (): void => {};

/**
 * A chord over BullMQ: one BullMQ flow whose children are the members and
 * whose parent is the callback, so Redis runs the callback once every
 * member completed, whichever process is alive then. This handle follows
 * the flow's jobs from the producer that added it.
 *
 * Fail-fast as in-process: the first member to fail rejects the chord with
 * `WorkflowStepError` (`step` its index) and the others are cancelled;
 * BullMQ fails the callback with it (`failParentOnFailure`), so the
 * callback's own failure counts only once every member succeeded.
 */
export class RemoteChord<Result = unknown> implements WorkflowHandle<Result> {
  readonly kind = 'chord';
  state: WorkflowState = 'running';
  readonly result: Promise<Result>;
  readonly #members: readonly RemoteJob[];
  readonly #callback: RemoteJob;
  #resolve!: (value: Result) => void;
  #reject!: (error: unknown) => void;
  #membersLeft: number;
  #callbackFailure: { error: unknown } | undefined;

  constructor(members: readonly RemoteJob[], callback: RemoteJob) {
    this.#members = members;
    this.#callback = callback;
    this.#membersLeft = members.length;
    this.result = new Promise<Result>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result.catch(ignoreRejection);
    members.forEach((member, index) =>
      member.result.then(
        () => {
          this.#membersLeft--;
          this.#decideCallbackFailure();
        },
        (error: unknown) => this.#fail(new WorkflowStepError('chord', index, member.name, { cause: error, job: member.info })),
      ),
    );
    callback.result.then(
      (value) => this.#settle('succeeded', () => this.#resolve(value as Result)),
      (error: unknown) => {
        this.#callbackFailure = { error };
        this.#decideCallbackFailure();
      },
    );
  }

  get jobs(): readonly JobHandle[] {
    return [...this.#members, this.#callback];
  }

  get isLive(): boolean {
    return this.state === 'running';
  }

  cancel(reason?: unknown): boolean {
    if (!this.isLive) return false;
    this.#settle('cancelled', () => this.#reject(new CancelledError('The chord was cancelled.', { cause: reason })));
    this.#cancelJobs(reason);
    return true;
  }

  /** The callback failed: its own failure once every member succeeded; else a member's failure is on its way. */
  #decideCallbackFailure(): void {
    if (!this.#callbackFailure || this.#membersLeft > 0) return;
    const { error } = this.#callbackFailure;
    this.#fail(new WorkflowStepError('chord', this.#members.length, this.#callback.name, { cause: error, job: this.#callback.info }));
  }

  #fail(error: WorkflowStepError): void {
    if (!this.isLive) return;
    this.#settle('failed', () => this.#reject(error));
    this.#cancelJobs(error);
  }

  #settle(state: WorkflowState, settle: () => void): void {
    if (!this.isLive) return;
    this.state = state;
    settle();
  }

  #cancelJobs(reason: unknown): void {
    for (const job of this.jobs) job.cancel(reason);
  }
}
