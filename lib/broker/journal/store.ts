import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { JournalCorruptError, JournalError, JournalLockedError } from '../../errors.js';
import type { Outcome, StoredJob, StoredOptions, StoredOutcome } from '../contract.js';
import { argsColumn, argsFromColumn, outcomeColumn, outcomeFromColumn, type Column } from './values.js';

/**
 * The journal file: an SQLite database (better-sqlite3, loaded only when a
 * journal is asked for) in WAL mode, held with an exclusive lock for as long
 * as it is open, so a second runner on the same file fails at once. Writes
 * are grouped: the first write of a turn of the event loop opens a
 * transaction, the turn's end commits it, and `written()` settles then.
 */

/** What `openJournal` needs. */
export interface JournalStoreOptions {
  path: string;
  /** `full`: each group is fsynced (survives power loss); `normal`: written to the OS (survives a process crash). */
  sync: 'full' | 'normal';
  /** Most megabytes the file may take; past it, writes fail as on a full disk. */
  maxSizeMb: number | undefined;
  /** Milliseconds a settled job stays readable by id. */
  resultTtl: number;
  /** Most settled jobs kept. */
  maxResults: number;
}

// The little of better-sqlite3 this file uses, typed here so that its types
// are not needed by users who never open a journal.
interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
interface Database {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  close(): void;
  readonly inTransaction: boolean;
}
type DatabaseClass = new (path: string, options?: { timeout?: number }) => Database;

const FORMAT = 'baozi-journal';
const VERSION = 2;

// A tiny job costs the journal one row write when accepted and a share of
// bulk writes when it settles:
// - baozi_jobs: one row per unsettled job, deleted (in bulk) when it
//   settles. Only rows an earlier process wrote (`past`) are indexed by id:
//   only those are looked up by id (this process finds its own jobs in
//   memory), and an index kept up on every hot row would double the cost.
// - baozi_outcomes: the outcomes of one turn's settled jobs in one row, as
//   JSON, for `getJob(id)` after a restart; read back once, when an id is
//   first looked up, and pruned a row at a time.
const SCHEMA = `
CREATE TABLE baozi_meta (key TEXT PRIMARY KEY, value);
CREATE TABLE baozi_jobs (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL, args, priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL, submitted_at REAL NOT NULL, run_at REAL, expires_at REAL,
  chunk_size INTEGER NOT NULL, options TEXT,
  started INTEGER NOT NULL DEFAULT 0, redeliveries INTEGER NOT NULL DEFAULT 0, past INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX baozi_jobs_past_id ON baozi_jobs (id) WHERE past = 1;
CREATE TABLE baozi_outcomes (seq INTEGER PRIMARY KEY, count INTEGER NOT NULL, last_finished REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE baozi_schedules (key TEXT PRIMARY KEY, last_due REAL NOT NULL);
`;

interface JobRow {
  seq: number;
  id: string;
  name: string;
  args: Column;
  priority: number;
  attempt: number;
  submitted_at: number;
  run_at: number | null;
  expires_at: number | null;
  chunk_size: number;
  options: string | null;
  started: number;
  redeliveries: number;
}

/** An unsettled job of this process: its row, and what its outcome is written with. */
interface LiveRow {
  readonly seq: number;
  readonly name: string;
  readonly submittedAt: number;
  attempt: number;
}

/** One settled job in a `baozi_outcomes` row: id, name, attempt, submitted at, finished at, state, value. */
type OutcomeEntry = [string, string, number, number, number, Outcome['state'], OutcomeValue];
/** The value column as JSON: JSON text as it is, v8 bytes in base64, or none. */
type OutcomeValue = string | { readonly bytes: string } | null;

/** A `baozi_outcomes` row, as pruning sees it. */
interface OutcomeGroup {
  readonly seq: number;
  readonly count: number;
  readonly lastFinished: number;
}

/** A transaction open for this turn's writes. */
interface Group {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

const JOB_COLUMNS = 'seq, id, name, args, priority, attempt, submitted_at, run_at, expires_at, chunk_size, options, started, redeliveries';

// Most writes in one group: past it, the group commits at once instead of at the turn's end.
const MAX_GROUP_WRITES = 4096;

// Seqs per bulk statement (SQLite allows 32,766 parameters).
const BULK = 256;

const ignore = (): void => {};

let Sqlite: DatabaseClass | undefined;

function loadSqlite(path: string): DatabaseClass {
  if (Sqlite) return Sqlite;
  try {
    Sqlite = createRequire(import.meta.url)('better-sqlite3') as DatabaseClass;
    return Sqlite;
  } catch (error) {
    throw new JournalError(path, 'cannot load better-sqlite3, which a journal needs. Install it next to baozi: npm install better-sqlite3@12', { cause: error });
  }
}

/** Opens (or creates) the journal at `options.path`. Throws `JournalError`, `JournalCorruptError` or `JournalLockedError`; writes nothing to a file it refuses. */
export function openJournal(options: JournalStoreOptions): JournalStore {
  const { path } = options;
  const Database = loadSqlite(path);
  let isNew = false;
  try {
    isNew = statSync(path).size === 0;
  } catch {
    isNew = true;
  }
  let db: Database;
  try {
    // No busy wait: a journal another runner holds fails at once.
    db = new Database(path, { timeout: 0 });
  } catch (error) {
    throw new JournalError(path, 'cannot open the file (does its directory exist, and may this process write there?)', { cause: error });
  }
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((row) => row.name);
    if (tables.length > 0 || !isNew) checkJournal(db, path, tables);
    // The first write takes the exclusive lock, held until close.
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new JournalError(path, 'SQLite could not switch it to WAL mode');
    db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    if (options.maxSizeMb !== undefined) {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`max_page_count = ${Math.max(1, Math.floor((options.maxSizeMb * 1024 * 1024) / pageSize))}`);
    }
    if (tables.length === 0) {
      db.exec('BEGIN IMMEDIATE');
      db.exec(SCHEMA);
      db.prepare('INSERT INTO baozi_meta (key, value) VALUES (?, ?), (?, ?)').run('format', FORMAT, 'version', VERSION);
      db.exec('COMMIT');
    }
  } catch (error) {
    try {
      db.close();
    } catch {
      // Closing a refused file must not hide why it was refused.
    }
    throw classify(path, error);
  }
  return new JournalStore(db, options);
}

/** Refuses a file that is not a whole baozi journal of a version this code reads. */
function checkJournal(db: Database, path: string, tables: string[]): void {
  if (!tables.includes('baozi_meta')) throw new JournalCorruptError(path, tables.length > 0 ? `an SQLite database of something else (tables: ${tables.slice(0, 5).join(', ')})` : 'an empty SQLite database that is not a journal');
  const meta = new Map((db.prepare('SELECT key, value FROM baozi_meta').all() as { key: string; value: unknown }[]).map((row) => [row.key, row.value]));
  if (meta.get('format') !== FORMAT) throw new JournalCorruptError(path, 'its format marker is missing');
  if (meta.get('version') !== VERSION) throw new JournalCorruptError(path, `it is version ${String(meta.get('version'))}, and this baozi reads version ${VERSION}`);
  const check = db.pragma('quick_check', { simple: true });
  if (check !== 'ok') throw new JournalCorruptError(path, `SQLite finds it damaged (${String(check)})`);
}

/** Turns what SQLite threw at open into the error a user can act on. */
function classify(path: string, error: unknown): Error {
  if (error instanceof JournalError || error instanceof JournalCorruptError || error instanceof JournalLockedError) return error;
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return new JournalLockedError(path, { cause: error });
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return new JournalCorruptError(path, 'it is not an SQLite database, or it is damaged (truncated or overwritten)', { cause: error });
  return new JournalError(path, 'cannot set it up', { cause: error });
}

export class JournalStore {
  readonly path: string;
  /** Unsettled jobs found at open: what a dead process left. */
  readonly recoverable: number;
  readonly #db: Database;
  readonly #options: JournalStoreOptions;
  readonly #insertJob: Statement;
  readonly #holdJob: Statement;
  readonly #redeliver: Statement;
  readonly #pageJobs: Statement;
  readonly #findPast: Statement;
  readonly #deleteOne: Statement;
  readonly #deleteBulk: Statement;
  readonly #startOne: Statement;
  readonly #startBulk: Statement;
  readonly #insertOutcomes: Statement;
  readonly #deleteOutcomes: Statement;
  readonly #lastTick: Statement;
  readonly #tick: Statement;
  #group: Group | undefined;
  #lastGroup: Promise<void> = Promise.resolve();
  #commitTimer: NodeJS.Immediate | undefined;
  /** Rows up to this one were left by a dead process. */
  readonly #recoverUpTo: number;
  /** Rows up to this one were given back by `recover()`. */
  #cursor = 0;
  /** Rows past the cursor given back already by `find()`. */
  readonly #given = new Set<number>();
  /** Unsettled jobs this process wrote or was given back, by row. */
  readonly #live = new Map<string, LiveRow>();
  /** Rows that were sent to a thread this turn: marked at commit, in bulk. */
  #starting = new Set<number>();
  /** Rows of jobs that settled or were released this turn: deleted at commit, in bulk. */
  #deleting: number[] = [];
  /** Outcomes of this turn: one `baozi_outcomes` row at commit. */
  #settled: OutcomeEntry[] = [];
  /** Kept outcome rows, oldest first, pruned past `maxResults` or `resultTtl`; and how many outcomes they hold. */
  readonly #kept: OutcomeGroup[] = [];
  #keptHead = 0;
  #keptCount = 0;
  /** Outcome rows up to this one were written by earlier processes. */
  readonly #pastOutcomesUpTo: number;
  /** Their outcomes by id, read on the first lookup. */
  #pastOutcomes: Map<string, OutcomeEntry> | undefined;
  /** Writes in the open group. */
  #groupWrites = 0;
  #isPastIndexed = false;
  #isClosed = false;

  /** @internal Use `openJournal()`. */
  constructor(db: Database, options: JournalStoreOptions) {
    this.#db = db;
    this.#options = options;
    this.path = options.path;
    this.#insertJob = db.prepare(
      'INSERT INTO baozi_jobs (id, name, args, priority, attempt, submitted_at, run_at, expires_at, chunk_size, options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#holdJob = db.prepare('UPDATE baozi_jobs SET attempt = ?, run_at = ?, started = 0 WHERE seq = ?');
    this.#redeliver = db.prepare('UPDATE baozi_jobs SET attempt = attempt + 1, redeliveries = redeliveries + 1, started = 0 WHERE seq = ?');
    // Only what a job needs to run again: reading fewer columns is most of the cost of a page.
    this.#pageJobs = db.prepare(`SELECT ${JOB_COLUMNS} FROM baozi_jobs WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`);
    this.#findPast = db.prepare(`SELECT ${JOB_COLUMNS} FROM baozi_jobs WHERE id = ? AND past = 1 ORDER BY seq DESC LIMIT 1`);
    this.#deleteOne = db.prepare('DELETE FROM baozi_jobs WHERE seq = ?');
    this.#deleteBulk = db.prepare(`DELETE FROM baozi_jobs WHERE seq IN (${Array(BULK).fill('?').join(', ')})`);
    this.#startOne = db.prepare('UPDATE baozi_jobs SET started = 1 WHERE seq = ?');
    this.#startBulk = db.prepare(`UPDATE baozi_jobs SET started = 1 WHERE seq IN (${Array(BULK).fill('?').join(', ')})`);
    this.#insertOutcomes = db.prepare('INSERT INTO baozi_outcomes (count, last_finished, body) VALUES (?, ?, ?)');
    this.#deleteOutcomes = db.prepare('DELETE FROM baozi_outcomes WHERE seq = ?');
    this.#lastTick = db.prepare('SELECT last_due FROM baozi_schedules WHERE key = ?');
    this.#tick = db.prepare('INSERT INTO baozi_schedules (key, last_due) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET last_due = excluded.last_due');
    db.exec('BEGIN');
    try {
      const groups = db.prepare('SELECT seq, count, last_finished AS lastFinished FROM baozi_outcomes ORDER BY seq').all() as OutcomeGroup[];
      for (const group of groups) this.#keep(group);
      this.#pruneKept(Date.now());
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
    const jobs = db.prepare('SELECT count(*) AS count, max(seq) AS last FROM baozi_jobs').get() as { count: number; last: number | null };
    this.recoverable = jobs.count;
    this.#recoverUpTo = jobs.last ?? 0;
    this.#pastOutcomesUpTo = this.#kept.length > 0 ? this.#kept[this.#kept.length - 1]!.seq : 0;
  }

  /** Whether the job is an unsettled one of this process: written, or given back by `recover()` or `find()`. */
  holds(id: string): boolean {
    return this.#live.has(id);
  }

  /** Writes an accepted job. When the write fails, `written()` rejects. */
  insert(job: StoredJob): void {
    const group = this.#begin();
    if (!group) return;
    try {
      const { lastInsertRowid } = this.#insertJob.run(
        job.id,
        job.name,
        argsColumn(job.args, job.isEncoded),
        job.priority,
        job.attempt,
        job.submittedAt,
        job.runAt ?? null,
        job.expiresAt ?? null,
        job.chunkSize,
        job.options ? JSON.stringify(job.options) : null,
      );
      this.#live.set(job.id, { seq: Number(lastInsertRowid), name: job.name, submittedAt: job.submittedAt, attempt: job.attempt });
    } catch (error) {
      this.#fail(group, error);
    }
  }

  /** The job waits off the table until `runAt`, at its `attempt`. */
  hold(id: string, attempt: number, runAt: number): void {
    const live = this.#live.get(id);
    if (!live) return;
    this.#starting.delete(live.seq);
    live.attempt = attempt;
    this.#run(this.#holdJob, attempt, runAt, live.seq);
  }

  /**
   * The job was sent to a thread: marked at this turn's commit, so that a
   * process dying while it runs makes the next one count a redelivery.
   */
  started(id: string): void {
    const live = this.#live.get(id);
    if (live && this.#begin()) this.#starting.add(live.seq);
  }

  /** The job settled: its row leaves, and its outcome joins this turn's (kept up to `maxResults`, for `resultTtl`). */
  settle(id: string, outcome: Outcome, finishedAt: number): void {
    const live = this.#live.get(id);
    if (!live) return;
    this.#live.delete(id);
    this.#starting.delete(live.seq);
    if (!this.#begin()) return;
    this.#deleting.push(live.seq);
    if (this.#options.maxResults > 0 && this.#options.resultTtl > 0) {
      this.#settled.push([id, live.name, live.attempt, live.submittedAt, finishedAt, outcome.state, outcomeValue(outcome)]);
    }
  }

  /** The job leaves this process unsettled (its runner closes): its row stays for the next process. */
  release(id: string): void {
    const live = this.#live.get(id);
    if (!live) return;
    this.#live.delete(id);
    this.#starting.delete(live.seq);
  }

  /** The due time of the last tick of the schedule named `key` (epoch ms), if one was kept. */
  lastTick(key: string): number | undefined {
    const row = this.#read(() => this.#lastTick.get(key) as { last_due: number } | undefined);
    return row?.last_due;
  }

  /** The schedule named `key` reached the tick due at `dueAt`. */
  tick(key: string, dueAt: number): void {
    this.#run(this.#tick, key, dueAt);
  }

  /** Resolves once every write so far is committed; rejects with the `JournalError` of the group that held the latest. */
  written(): Promise<void> {
    return this.#group?.promise ?? this.#lastGroup;
  }

  /**
   * The next `max` jobs a dead process left, oldest first, each once. A job
   * it had started comes back at its next attempt, with one more redelivery.
   */
  recover(max: number): StoredJob[] {
    const found: StoredJob[] = [];
    while (found.length < max && this.#cursor < this.#recoverUpTo) {
      const rows = this.#read(() => this.#pageJobs.all(this.#cursor, this.#recoverUpTo, max - found.length) as JobRow[]);
      if (rows.length === 0) {
        this.#cursor = this.#recoverUpTo;
        break;
      }
      for (const row of rows) {
        this.#cursor = row.seq;
        if (this.#given.delete(row.seq)) continue;
        found.push(this.#give(row));
      }
    }
    return found;
  }

  /**
   * A job by id from an earlier process: one unsettled and not given back
   * yet (it is given now), or a settled one within `resultTtl`.
   */
  find(id: string): StoredJob | StoredOutcome | undefined {
    this.#indexPast();
    const row = this.#read(() => this.#findPast.get(id) as JobRow | undefined);
    if (row && row.seq > this.#cursor && row.seq <= this.#recoverUpTo && !this.#given.has(row.seq)) {
      this.#given.add(row.seq);
      return this.#give(row);
    }
    const entry = this.#readPastOutcomes().get(id);
    if (!entry || entry[4] < Date.now() - this.#options.resultTtl) return undefined;
    const [, name, attempt, submittedAt, finishedAt, state, value] = entry;
    return { id, name, attempt, submittedAt, finishedAt, outcome: outcomeFromColumn(state, fromOutcomeValue(value)) };
  }

  /** Commits what is pending and closes the file, which lets another runner open it. */
  close(): void {
    if (this.#isClosed) return;
    this.#commit();
    this.#isClosed = true;
    try {
      this.#db.close();
    } catch {
      // Already closed by its own finalizer: nothing left to let go of.
    }
  }

  /**
   * Indexes by id the rows earlier processes left, on the first lookup by
   * id: a recovery that never looks one up does not pay for it.
   */
  #indexPast(): void {
    if (this.#isPastIndexed) return;
    this.#isPastIndexed = true;
    if (this.#recoverUpTo > this.#cursor) this.#run(this.#db.prepare('UPDATE baozi_jobs SET past = 1 WHERE past = 0 AND seq <= ?'), this.#recoverUpTo);
  }

  /** A row given back to run, an unsettled job of this process from now on: one that had started counts a redelivery, written now. */
  #give(row: JobRow): StoredJob {
    const job = jobFromRow(row);
    const redelivered = row.started !== 0;
    if (redelivered) this.#run(this.#redeliver, row.seq);
    const attempt = redelivered ? row.attempt + 1 : row.attempt;
    this.#live.set(row.id, { seq: row.seq, name: row.name, submittedAt: row.submitted_at, attempt });
    return redelivered ? { ...job, attempt, redeliveries: row.redeliveries + 1 } : job;
  }

  /**
   * The outcomes earlier processes kept, by id (the newest `maxResults`),
   * read once: what this process settles it finds in memory.
   */
  #readPastOutcomes(): Map<string, OutcomeEntry> {
    if (this.#pastOutcomes) return this.#pastOutcomes;
    const rows = this.#read(() => this.#db.prepare('SELECT body FROM baozi_outcomes WHERE seq <= ? ORDER BY seq').all(this.#pastOutcomesUpTo) as { body: string }[]);
    const entries = rows.flatMap((row) => JSON.parse(row.body) as OutcomeEntry[]);
    this.#pastOutcomes = new Map(entries.slice(Math.max(0, entries.length - this.#options.maxResults)).map((entry) => [entry[0], entry]));
    return this.#pastOutcomes;
  }

  /** Runs one statement inside this turn's group; false when it failed. A write that fails fails the whole group, which is rolled back. */
  #run(statement: Statement, ...params: unknown[]): boolean {
    const group = this.#begin();
    if (!group) return false;
    try {
      statement.run(...params);
      return true;
    } catch (error) {
      this.#fail(group, error);
      return false;
    }
  }

  /** This turn's group, opened on its first write; `undefined` when none can be (then `written()` rejects). */
  #begin(): Group | undefined {
    if (this.#group) {
      if (++this.#groupWrites < MAX_GROUP_WRITES) return this.#group;
      // A turn that does not end (replies and admissions chained in
      // microtasks, as in a recovery) must not hold one group, its memory
      // and its producers, until it does: commit it, and start the next.
      this.#commit();
    }
    if (this.#isClosed) {
      this.#lastGroup = rejected(new JournalError(this.path, 'it is closed: the runner closed'));
      return undefined;
    }
    try {
      return this.#open();
    } catch (error) {
      this.#lastGroup = rejected(new JournalError(this.path, 'cannot start a write', { cause: error }));
      return undefined;
    }
  }

  #read<Value>(read: () => Value): Value {
    try {
      return read();
    } catch (error) {
      throw new JournalError(this.path, 'cannot read it', { cause: error });
    }
  }

  #open(): Group {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be waiting on a group (only settles in it): that is no unhandled rejection.
    promise.catch(ignore);
    this.#db.exec('BEGIN');
    this.#groupWrites = 1;
    const group: Group = { promise, resolve, reject };
    this.#group = group;
    this.#lastGroup = promise;
    this.#commitTimer = setImmediate(() => this.#commit());
    return group;
  }

  #commit(): void {
    clearImmediate(this.#commitTimer);
    this.#commitTimer = undefined;
    const group = this.#group;
    if (!group) return;
    try {
      this.#flushStarts();
      this.#flushOutcomes();
      this.#pruneKept(Date.now());
      this.#flushDeletes();
      this.#db.exec('COMMIT');
      this.#group = undefined;
      group.resolve();
    } catch (error) {
      this.#fail(group, error);
    }
  }

  #fail(group: Group, error: unknown): void {
    if (this.#group === group) this.#group = undefined;
    clearImmediate(this.#commitTimer);
    this.#commitTimer = undefined;
    this.#starting.clear();
    this.#deleting = [];
    this.#settled = [];
    try {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
    } catch {
      // SQLite rolls back on its own after some failures; nothing else to undo.
    }
    group.reject(new JournalError(this.path, 'cannot write to it (is the disk full, or the file read-only?); the jobs of this write were not accepted', { cause: error }));
  }

  #flushStarts(): void {
    if (this.#starting.size === 0) return;
    const seqs = [...this.#starting];
    this.#starting = new Set();
    bulk(seqs, this.#startBulk, this.#startOne);
  }

  /** This turn's outcomes, as one row. */
  #flushOutcomes(): void {
    const settled = this.#settled;
    if (settled.length === 0) return;
    this.#settled = [];
    const lastFinished = settled[settled.length - 1]![4];
    const { lastInsertRowid } = this.#insertOutcomes.run(settled.length, lastFinished, JSON.stringify(settled));
    this.#keep({ seq: Number(lastInsertRowid), count: settled.length, lastFinished });
  }

  #keep(group: OutcomeGroup): void {
    this.#kept.push(group);
    this.#keptCount += group.count;
  }

  /** Drops outcome rows whose outcomes are all past `maxResults` newer ones, or past `resultTtl`. */
  #pruneKept(at: number): void {
    const { maxResults, resultTtl } = this.#options;
    const kept = this.#kept;
    while (this.#keptHead < kept.length) {
      const oldest = kept[this.#keptHead]!;
      if (this.#keptCount - oldest.count < maxResults && oldest.lastFinished >= at - resultTtl) break;
      this.#deleteOutcomes.run(oldest.seq);
      this.#keptCount -= oldest.count;
      this.#keptHead++;
    }
    // Drop the pruned head now and then, not on every prune.
    if (this.#keptHead > 1024 && this.#keptHead * 2 > kept.length) {
      kept.splice(0, this.#keptHead);
      this.#keptHead = 0;
    }
  }

  #flushDeletes(): void {
    if (this.#deleting.length === 0) return;
    const seqs = this.#deleting;
    this.#deleting = [];
    bulk(seqs, this.#deleteBulk, this.#deleteOne);
  }
}

/** Runs `many` over the seqs `BULK` at a time, and `one` over the rest. */
function bulk(seqs: number[], many: Statement, one: Statement): void {
  let i = 0;
  for (; i + BULK <= seqs.length; i += BULK) many.run(seqs.slice(i, i + BULK));
  for (; i < seqs.length; i++) one.run(seqs[i]);
}

/** An outcome's value as it goes into the JSON of its row. */
function outcomeValue(outcome: Outcome): OutcomeValue {
  const column = outcomeColumn(outcome);
  return column instanceof Uint8Array ? { bytes: Buffer.from(column).toString('base64') } : column;
}

function fromOutcomeValue(value: OutcomeValue): Column | null {
  return value !== null && typeof value === 'object' ? new Uint8Array(Buffer.from(value.bytes, 'base64')) : value;
}

function jobFromRow(row: JobRow): StoredJob {
  const { args, isEncoded } = argsFromColumn(row.args);
  return {
    id: row.id,
    name: row.name,
    args,
    isEncoded,
    priority: row.priority,
    attempt: row.attempt,
    submittedAt: row.submitted_at,
    runAt: row.run_at ?? undefined,
    expiresAt: row.expires_at ?? undefined,
    chunkSize: row.chunk_size,
    options: row.options === null ? undefined : (JSON.parse(row.options) as StoredOptions),
    redeliveries: row.redeliveries,
  };
}

function rejected(error: unknown): Promise<void> {
  const promise = Promise.reject(error);
  promise.catch(ignore);
  return promise;
}
