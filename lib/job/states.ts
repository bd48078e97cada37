/**
 * Where a job is in its life. The first four are live; the last four are
 * terminal: a job reaches exactly one of them, once, and never leaves it.
 *
 * ```
 * scheduled ─▶ queued ─▶ running ─▶ succeeded | failed
 *                 ▲          │
 *                 └─ retrying ◀┘   (a failure the retry policy allows)
 * any live state ─▶ cancelled;  scheduled | queued | retrying ─▶ expired
 * ```
 */
export type JobState = 'scheduled' | 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'cancelled' | 'expired';

const TERMINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled', 'expired']);

export function isTerminal(state: JobState): boolean {
  return TERMINAL.has(state);
}

/**
 * The one table of a job's legal moves. A job starts `queued` (a producer
 * waiting for room holds a queued job), and every later change of state
 * goes through `transition()`.
 */
const MOVES: Readonly<Record<JobState, ReadonlySet<JobState>>> = {
  // queued → queued: the job reaches the table. queued → scheduled: it was
  // submitted with a delay. queued → failed | retrying: it failed without
  // running (its module cannot load; a map input that failed in its chunk).
  queued: new Set(['queued', 'scheduled', 'running', 'retrying', 'failed', 'cancelled', 'expired']),
  scheduled: new Set(['queued', 'cancelled', 'expired']),
  running: new Set(['retrying', 'succeeded', 'failed', 'cancelled']),
  retrying: new Set(['queued', 'cancelled', 'expired']),
  succeeded: new Set(),
  failed: new Set(),
  cancelled: new Set(),
  expired: new Set(),
};

// Checked where a wrong move must fail loudly (jest sets NODE_ENV=test);
// elsewhere a move costs one assignment.
const isChecked = process.env.NODE_ENV === 'test' || process.env.BAOZI_CHECK_STATES === '1';

/** Whether a job may move from one state to the other. */
export function canMove(from: JobState, to: JobState): boolean {
  return MOVES[from].has(to);
}

/** Moves the job to `to`. Under test, an illegal move throws. */
export function transition(job: { state: JobState; readonly id: string }, to: JobState): void {
  if (isChecked && !canMove(job.state, to)) throw new Error(`Illegal job state move for ${job.id}: ${job.state} → ${to}`);
  job.state = to;
}
