/**
 * The settle ledger of RELIABILITY.md (invariants 3 and 10): every job a
 * runner accepts is written down when it enters (`scheduled` or `queued`),
 * with how many terminal events it had and how its promise settled, so a
 * test file can check, once its runners are closed, that each accepted job
 * settled exactly once and consistently. A job is checked when its promise
 * settles and then only remembered weakly, so that long runs keep no job
 * alive (the map tests measure the heap).
 *
 * Observing a promise handles its rejection: a test of unhandled
 * rejections must use a runner the ledger does not watch.
 */
import { BaoziError, type JobHandle, type Runner } from 'baozi';

const TERMINAL = ['succeeded', 'failed', 'cancelled', 'expired'] as const;

interface Entry {
  job: JobHandle;
  terminalEvents: string[];
  settleCount: number;
  outcome: { isOk: true } | { isOk: false; error: unknown } | undefined;
}

export class SettleLedger {
  /** Accepted jobs whose promise has not settled yet. */
  private readonly entries = new Map<JobHandle, Entry>();
  /** Jobs already checked: any event for them now is one too many. */
  private readonly checked = new WeakSet<JobHandle>();
  private readonly problems: string[] = [];

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  watch(runner: Runner<any>): void {
    runner.on('scheduled', ({ job }) => this.accepted(job));
    runner.on('queued', ({ job }) => this.accepted(job));
    for (const event of TERMINAL) {
      runner.on(event, ({ job }: { job: JobHandle }) => {
        const entry = this.entries.get(job);
        if (entry) {
          entry.terminalEvents.push(event);
          // The promise settled just before the event: its reaction runs next.
          if (entry.terminalEvents.length === 1) this.observe(entry);
        } else if (this.checked.has(job)) this.problems.push(`${job.id} (${job.name}): ${event} after it had settled`);
        else this.problems.push(`${job.id} (${job.name}) was ${event} without being accepted first`);
      });
    }
  }

  /**
   * What went wrong so far: call it once the runners are closed and
   * pending promise reactions have run, so every accepted job must have
   * settled by now. Forgets what it reported.
   */
  async takeProblems(): Promise<string[]> {
    const unsettled = [...this.entries.values()].filter((entry) => entry.terminalEvents.length === 0);
    for (const entry of unsettled) this.observe(entry);
    // Reactions of promises that did settle run within this turn.
    await new Promise((resolve) => setImmediate(resolve));
    for (const entry of this.entries.values()) this.check(entry);
    this.entries.clear();
    return this.problems.splice(0);
  }

  private check({ job, terminalEvents, settleCount, outcome }: Entry): void {
    const name = `${job.id} (${job.name})`;
    const problems = this.problems;
    if (settleCount !== 1) problems.push(`${name}: its result settled ${settleCount} times (state ${job.state})`);
    if (terminalEvents.length !== 1) problems.push(`${name}: ${terminalEvents.length} terminal events [${terminalEvents.join(', ')}]`);
    else if (terminalEvents[0] !== job.state) problems.push(`${name}: its terminal event was ${terminalEvents[0]}, its state is ${job.state}`);
    if (!outcome) return;
    if (outcome.isOk !== (job.state === 'succeeded')) problems.push(`${name}: its result ${outcome.isOk ? 'resolved' : 'rejected'} but its state is ${job.state}`);
    if (!outcome.isOk) {
      const { error } = outcome;
      if (!(error instanceof BaoziError)) problems.push(`${name}: rejected with ${String(error)}, not a BaoziError`);
      else if (error.jobId !== job.id) problems.push(`${name}: rejected with ${error.name} for job ${String(error.jobId)}`);
    }
  }

  private observe(entry: Entry): void {
    entry.job.result.then(
      () => this.settled(entry, { isOk: true }),
      (error: unknown) => this.settled(entry, { isOk: false, error }),
    );
  }

  private settled(entry: Entry, outcome: Entry['outcome']): void {
    entry.settleCount++;
    entry.outcome = outcome;
    this.check(entry);
    this.entries.delete(entry.job);
    this.checked.add(entry.job);
  }

  private accepted(job: JobHandle): void {
    // A retried job enters the table again; a jobId submitted again is the same handle.
    if (this.entries.has(job)) return;
    if (this.checked.has(job)) return void this.problems.push(`${job.id} (${job.name}): entered again after it had settled`);
    this.entries.set(job, { job, terminalEvents: [], settleCount: 0, outcome: undefined });
  }
}
