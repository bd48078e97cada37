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
const VERSION = 1;

const SCHEMA = `
CREATE TABLE baozi_meta (key TEXT PRIMARY KEY, value);
CREATE TABLE baozi_jobs (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL, args, priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL, submitted_at REAL NOT NULL, run_at REAL, expires_at REAL,
  chunk_size INTEGER NOT NULL, options TEXT
);
CREATE INDEX baozi_jobs_id ON baozi_jobs (id);
CREATE TABLE baozi_outcomes (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL, attempt INTEGER NOT NULL,
  submitted_at REAL NOT NULL, finished_at REAL NOT NULL, state TEXT NOT NULL, value
);
CREATE INDEX baozi_outcomes_id ON baozi_outcomes (id);
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
}

interface OutcomeRow {
  id: string;
  name: string;
  attempt: number;
  submitted_at: number;
  finished_at: number;
  state: Outcome['state'];
  value: Column | null;
}

/** A transaction open for this turn's writes. */
interface Group {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

// Outcomes past resultTtl are looked for at most this often (a scan).
const TTL_PRUNE_EVERY_MS = 1000;

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
  readonly #keepOutcome: Statement;
  readonly #deleteJob: Statement;
  readonly #pruneCount: Statement;
  readonly #pruneAge: Statement;
  readonly #pageJobs: Statement;
  readonly #findOutcome: Statement;
  readonly #findJob: Statement;
  #group: Group | undefined;
  #lastGroup: Promise<void> = Promise.resolve();
  #commitTimer: NodeJS.Immediate | undefined;
  /** Rows up to this one were left by a dead process. */
  readonly #recoverUpTo: number;
  /** Rows up to this one were given back by `recover()`. */
  #cursor = 0;
  /** Rows past the cursor given back already by `find()`. */
  readonly #given = new Set<number>();
  #lastOutcomeSeq = 0;
  #prunedAgeAt = 0;
  #isClosed = false;

  /** @internal Use `openJournal()`. */
  constructor(db: Database, options: JournalStoreOptions) {
    this.#db = db;
    this.#options = options;
    this.path = options.path;
    this.#insertJob = db.prepare(
      'INSERT INTO baozi_jobs (id, name, args, priority, attempt, submitted_at, run_at, expires_at, chunk_size, options) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#holdJob = db.prepare('UPDATE baozi_jobs SET attempt = ?, run_at = ? WHERE seq = ?');
    this.#keepOutcome = db.prepare(
      'INSERT INTO baozi_outcomes (id, name, attempt, submitted_at, finished_at, state, value) SELECT id, name, attempt, submitted_at, ?, ?, ? FROM baozi_jobs WHERE seq = ?',
    );
    this.#deleteJob = db.prepare('DELETE FROM baozi_jobs WHERE seq = ?');
    this.#pruneCount = db.prepare('DELETE FROM baozi_outcomes WHERE seq <= ?');
    this.#pruneAge = db.prepare('DELETE FROM baozi_outcomes WHERE finished_at < ?');
    this.#pageJobs = db.prepare('SELECT * FROM baozi_jobs WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?');
    this.#findOutcome = db.prepare('SELECT id, name, attempt, submitted_at, finished_at, state, value FROM baozi_outcomes WHERE id = ? ORDER BY seq DESC LIMIT 1');
    this.#findJob = db.prepare('SELECT * FROM baozi_jobs WHERE id = ? AND seq > ? AND seq <= ? ORDER BY seq DESC LIMIT 1');
    const jobs = db.prepare('SELECT count(*) AS count, max(seq) AS last FROM baozi_jobs').get() as { count: number; last: number | null };
    this.recoverable = jobs.count;
    this.#recoverUpTo = jobs.last ?? 0;
    this.#lastOutcomeSeq = (db.prepare('SELECT max(seq) AS last FROM baozi_outcomes').get() as { last: number | null }).last ?? 0;
    this.#pruneOutcomes(Date.now());
  }

  /** Writes an accepted job. Returns its row, or `undefined` when the write failed (then `written()` rejects). */
  insert(job: StoredJob): number | undefined {
    return this.#write(() => {
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
      return Number(lastInsertRowid);
    });
  }

  /** The job waits off the table until `runAt`, at its `attempt`. */
  hold(seq: number, attempt: number, runAt: number): void {
    this.#write(() => this.#holdJob.run(attempt, runAt, seq));
  }

  /** The job settled: its row leaves, its outcome is kept (up to `maxResults`). */
  settle(seq: number, outcome: Outcome, finishedAt: number): void {
    this.#write(() => {
      if (this.#options.maxResults > 0) {
        const kept = this.#keepOutcome.run(finishedAt, outcome.state, outcomeColumn(outcome), seq);
        if (kept.changes > 0) this.#lastOutcomeSeq = Number(kept.lastInsertRowid);
      }
      this.#deleteJob.run(seq);
    });
  }

  /** Resolves once every write so far is committed; rejects with the `JournalError` of the group that held the latest. */
  written(): Promise<void> {
    return this.#group?.promise ?? this.#lastGroup;
  }

  /** The next `max` jobs a dead process left, oldest first, each once. */
  recover(max: number): { seq: number; job: StoredJob }[] {
    const found: { seq: number; job: StoredJob }[] = [];
    while (found.length < max && this.#cursor < this.#recoverUpTo) {
      const rows = this.#read(() => this.#pageJobs.all(this.#cursor, this.#recoverUpTo, max - found.length) as JobRow[]);
      if (rows.length === 0) {
        this.#cursor = this.#recoverUpTo;
        break;
      }
      for (const row of rows) {
        this.#cursor = row.seq;
        if (this.#given.delete(row.seq)) continue;
        found.push({ seq: row.seq, job: jobFromRow(row) });
      }
    }
    return found;
  }

  /**
   * A job by id: one a dead process left and not given back yet (it is
   * given now), or a settled one within `resultTtl`.
   */
  find(id: string): { seq: number; job: StoredJob } | StoredOutcome | undefined {
    if (this.#cursor < this.#recoverUpTo) {
      const row = this.#read(() => this.#findJob.get(id, this.#cursor, this.#recoverUpTo) as JobRow | undefined);
      if (row && !this.#given.has(row.seq)) {
        this.#given.add(row.seq);
        return { seq: row.seq, job: jobFromRow(row) };
      }
    }
    const row = this.#read(() => this.#findOutcome.get(id) as OutcomeRow | undefined);
    if (!row || row.finished_at < Date.now() - this.#options.resultTtl) return undefined;
    return {
      id: row.id,
      name: row.name,
      attempt: row.attempt,
      submittedAt: row.submitted_at,
      finishedAt: row.finished_at,
      outcome: outcomeFromColumn(row.state, row.value),
    };
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

  /** Runs one write inside this turn's group. A write that fails fails the whole group, which is rolled back. */
  #write<Value>(write: () => Value): Value | undefined {
    if (this.#isClosed) {
      this.#lastGroup = rejected(new JournalError(this.path, 'it is closed: the runner closed'));
      return undefined;
    }
    let group: Group | undefined;
    try {
      group = this.#open();
      return write();
    } catch (error) {
      if (group) this.#fail(group, error);
      else this.#lastGroup = rejected(new JournalError(this.path, 'cannot start a write', { cause: error }));
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
    if (this.#group) return this.#group;
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Nobody may be waiting on a group (only settles in it): that is no unhandled rejection.
    promise.catch(ignore);
    this.#db.exec('BEGIN');
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
      this.#pruneOutcomes(Date.now());
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
    try {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
    } catch {
      // SQLite rolls back on its own after some failures; nothing else to undo.
    }
    group.reject(new JournalError(this.path, 'cannot write to it (is the disk full, or the file read-only?); the jobs of this write were not accepted', { cause: error }));
  }

  #pruneOutcomes(at: number): void {
    const { maxResults, resultTtl } = this.#options;
    if (this.#lastOutcomeSeq > maxResults) this.#pruneCount.run(this.#lastOutcomeSeq - maxResults);
    if (at - this.#prunedAgeAt >= TTL_PRUNE_EVERY_MS) {
      this.#prunedAgeAt = at;
      this.#pruneAge.run(at - resultTtl);
    }
  }
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
  };
}

function rejected(error: unknown): Promise<void> {
  const promise = Promise.reject(error);
  promise.catch(ignore);
  return promise;
}
