/**
 * The base of every error baozi raises, on either side of the thread
 * boundary: `lib/errors.ts` builds its classes on it, and `baozi/worker`
 * throws its own, so it lives here, where both may import it (workers/
 * imports no runtime code from lib/).
 */

/** Which job an error belongs to, when it belongs to one. */
export interface JobInfo {
  jobId: string;
  task: string;
  attempt: number;
}

/** The base of every error baozi raises. */
export abstract class BaoziError extends Error {
  /** Stable, machine-readable identifier of the error's kind. */
  abstract readonly code: string;
  /** Id of the job this error settled, when it settled one. */
  jobId?: string;
  /** Task name of that job. */
  task?: string;
  /** Attempt number (1-based) of that job when it failed. */
  attempt?: number;

  constructor(message: string, options?: { cause?: unknown; job?: JobInfo }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options?.job) {
      this.jobId = options.job.jobId;
      this.task = options.job.task;
      this.attempt = options.job.attempt;
    }
  }
}
