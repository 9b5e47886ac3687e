// The state store: one SQLite database (better-sqlite3, WAL) under the data dir, plus a private directory per
// machine. Every write runs in an IMMEDIATE transaction, so a read-check-write sequence cannot interleave
// with another process's, and readers never see a half-made change.
//
// Layout of <home> (dirs 0700, files 0600):
//   state.db, state.db-wal, state.db-shm   the database (SQLite gives the WAL files the database's mode)
//   machines/<name>/                        writable disk, sockets and logs of one machine
//   machines/.trash-<random>/               a removed machine's directory on its way out
//
// Liveness: a record in starting/running/stopping names its supervisor by pid + start time. Every read checks
// that process and, when it is gone (or the pid now belongs to another process), flips the record to
// `stopped` with lastExitReason 'supervisor died' in a compare-and-set write, so a dead machine is never
// reported as running.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { ErrorCode, SmolvmError } from '../errors.js';
import { StateErrorCode } from './errors.js';
import {
  ACTIVE_STATES,
  STATE_TRANSITIONS,
  resolveMachineConfig,
  type MachineConfig,
  type MachineConfigPatch,
  type MachineHealthCheck,
  type MachineRecord,
  type MachineSpec,
  type MachineState,
  type RestartPolicy,
} from './machine-record.js';
import type { PortMapping } from '../ports.js';
import type { VolumeMount } from '../volumes.js';
import { migrate } from './migrations.js';
import { checkMachineName, smolvmHome } from './paths.js';
import { isProcessAlive, ownProcessStartTime, processStartTime } from './process-identity.js';

type Db = BetterSqlite3.Database;

export interface StateStoreOptions {
  /** The data directory; default `smolvmHome(env)`. */
  home?: string;
  /** Environment to resolve the data directory from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** How long a write waits for another process's write to finish; default 5000. */
  busyTimeoutMs?: number;
}

/** Supervisor bookkeeping that goes with a state change. Unset fields keep their value; null clears. */
export interface StateChange {
  /** Required (here or already recorded) for starting/running/stopping. */
  supervisorPid?: number | null;
  /** Default: read from the system for `supervisorPid`. */
  supervisorStartTime?: string | null;
  lastExitReason?: string | null;
  restartCount?: number;
}

export interface RemoveMachineOptions {
  /** Remove the record even though its supervisor is alive. Stopping that supervisor is the caller's job. */
  force?: boolean;
}

export interface MachineLockOptions {
  /** Give up with `SMOLVM_ERR_MACHINE_LOCKED` after this long; default 30000. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A held machine lock; `release()` is idempotent. */
export interface MachineLock {
  readonly name: string;
  release(): void;
  [Symbol.dispose](): void;
}

export const SUPERVISOR_DIED = 'supervisor died';

const DB_FILE = 'state.db';
const MACHINES_DIR = 'machines';

interface MachineRow {
  name: string;
  id: string;
  created_at: string;
  updated_at: string;
  image: string | null;
  cpus: number;
  memory_mib: number;
  storage_gib: number;
  env: string;
  workdir: string | null;
  init: string;
  restart_policy: string;
  restart_max_retries: number | null;
  restart_max_backoff_ms: number;
  health: string | null;
  ports: string;
  volumes: string;
  state: string;
  supervisor_pid: number | null;
  supervisor_start_time: string | null;
  last_exit_reason: string | null;
  restart_count: number;
}

interface LockRow {
  name: string;
  token: string;
  pid: number;
  start_time: string | null;
  acquired_at: string;
}

function toRecord(r: MachineRow): MachineRecord {
  return {
    name: r.name,
    id: r.id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    image: r.image,
    cpus: r.cpus,
    memoryMiB: r.memory_mib,
    storageGiB: r.storage_gib,
    env: JSON.parse(r.env) as string[],
    workdir: r.workdir,
    init: JSON.parse(r.init) as string[],
    restartPolicy: r.restart_policy as RestartPolicy,
    restartMaxRetries: r.restart_max_retries,
    restartMaxBackoffMs: r.restart_max_backoff_ms,
    health: r.health === null ? null : (JSON.parse(r.health) as MachineHealthCheck),
    ports: JSON.parse(r.ports) as PortMapping[],
    volumes: JSON.parse(r.volumes) as VolumeMount[],
    state: r.state as MachineState,
    supervisorPid: r.supervisor_pid,
    supervisorStartTime: r.supervisor_start_time,
    lastExitReason: r.last_exit_reason,
    restartCount: r.restart_count,
  };
}

function configColumns(c: MachineConfig): Record<string, unknown> {
  return {
    image: c.image,
    cpus: c.cpus,
    memory_mib: c.memoryMiB,
    storage_gib: c.storageGiB,
    env: JSON.stringify(c.env),
    workdir: c.workdir,
    init: JSON.stringify(c.init),
    restart_policy: c.restartPolicy,
    restart_max_retries: c.restartMaxRetries,
    restart_max_backoff_ms: c.restartMaxBackoffMs,
    health: c.health === null ? null : JSON.stringify(c.health),
    ports: JSON.stringify(c.ports),
    volumes: JSON.stringify(c.volumes),
  };
}

/** Does this row claim a supervisor that is not (or no longer) there? */
function isGhost(r: MachineRow): boolean {
  if (r.supervisor_pid !== null) return !isProcessAlive(r.supervisor_pid, r.supervisor_start_time);
  return ACTIVE_STATES.has(r.state as MachineState);
}

function loadDriver(): typeof BetterSqlite3 {
  // Loaded here, not at module top level: only commands that touch state pay for the native module.
  const require = createRequire(import.meta.url);
  try {
    return require('better-sqlite3') as typeof BetterSqlite3;
  } catch (e) {
    throw driverError(e);
  }
}

function driverError(e: unknown): SmolvmError {
  return new SmolvmError(StateErrorCode.STATE_DB, `cannot load the SQLite driver (better-sqlite3): ${(e as Error).message}`, {
    hint: 'Reinstall @smolvm/core so better-sqlite3 is built for this Node version (pnpm needs it in onlyBuiltDependencies).',
    cause: e,
  });
}

function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
}

const now = (): string => new Date().toISOString();
const token = (): string => randomBytes(8).toString('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens (creating and migrating as needed) the state database under `home`. Synchronous; the returned store
 * is for this process only. Throws `SMOLVM_ERR_STATE_SCHEMA_TOO_NEW` for a database from a newer smolvm and
 * `SMOLVM_ERR_STATE_DB` when the database cannot be opened.
 */
export function openStateStore(options: StateStoreOptions = {}): StateStore {
  const home = options.home ?? smolvmHome(options.env ?? process.env);
  const dbPath = join(home, DB_FILE);
  const Driver = loadDriver();
  let db: Db | undefined;
  try {
    if (!existsSync(home)) privateDir(home);
    privateDir(join(home, MACHINES_DIR));
    // Create the file ourselves so it is private from its first byte; SQLite copies this mode to -wal/-shm.
    closeSync(openSync(dbPath, 'a', 0o600));
    chmodSync(dbPath, 0o600);
    try {
      db = new Driver(dbPath);
    } catch (e) {
      if ((e as { code?: unknown }).code === undefined) throw driverError(e); // the native addon failed to load
      throw e;
    }
    const busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    useWal(db, busyTimeoutMs);
    db.pragma('foreign_keys = ON');
    migrate(db, dbPath);
  } catch (e) {
    db?.close();
    throw asStateError(e, dbPath, 'opening');
  }
  return new SqliteStateStore(db, home, dbPath);
}

/**
 * Switches the database to WAL (a no-op once it is: the mode is stored in the file). SQLite does not call the
 * busy handler for this switch, so when another process is opening the same new database at the same moment
 * it fails at once with SQLITE_BUSY: retry, up to the busy timeout.
 */
function useWal(db: Db, busyTimeoutMs: number): void {
  const deadline = Date.now() + busyTimeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let delayMs = 1; ; delayMs = Math.min(delayMs * 2, 50)) {
    try {
      if (db.pragma('journal_mode', { simple: true }) === 'wal') return;
      db.pragma('journal_mode = WAL');
      return;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() >= deadline) throw e;
      Atomics.wait(pause, 0, 0, delayMs); // opening is synchronous; so is this short wait
    }
  }
}

function asStateError(e: unknown, dbPath: string, doing: string): unknown {
  if (e instanceof SmolvmError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    const hint =
      code === 'SQLITE_BUSY'
        ? 'Another smolvm process held the database for too long; try again.'
        : code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB'
          ? `The file is damaged. Move ${dbPath} aside to start afresh (machine records are lost, their directories stay).`
          : code === 'SQLITE_FULL'
            ? 'The disk is full; free some space and try again.'
            : `Check that ${dbPath} and its directory are yours and writable.`;
    return new SmolvmError(StateErrorCode.STATE_DB, `${doing} the state database ${dbPath} failed (${code}): ${(e as Error).message}; nothing was changed`, {
      hint,
      cause: e,
    });
  }
  if (typeof code === 'string' && (e as Error).message) {
    // A file-system error (EACCES, ENOSPC, ...) around the database or a machine directory.
    return new SmolvmError(StateErrorCode.STATE_DB, `${doing} the state under ${dbPath.slice(0, -DB_FILE.length - 1)} failed: ${(e as Error).message}; nothing was changed`, {
      hint: 'Check that the smolvm data directory (SMOLVM_HOME) is yours and writable.',
      cause: e,
    });
  }
  return e;
}

/** Machine records and locks in the state database. Get one from `openStateStore`; `close()` it when done. */
export interface StateStore {
  /** The data directory. */
  readonly home: string;
  /** `<home>/state.db`. */
  readonly dbPath: string;

  /** The machine's private directory (`<home>/machines/<name>`, 0700): writable disk, sockets, logs. */
  machineDir(name: string): string;

  /**
   * Records a new machine (state `created`) and makes its directory. Exactly one of several concurrent
   * creates of a name succeeds, in this process or any other; the rest get `SMOLVM_ERR_MACHINE_EXISTS`.
   * Invalid names get `SMOLVM_ERR_INVALID_MACHINE_NAME`, invalid settings `SMOLVM_ERR_INVALID_OPTION`.
   */
  createMachine(spec: MachineSpec): MachineRecord;

  /** The machine's record (reconciled), or `SMOLVM_ERR_MACHINE_NOT_FOUND`. */
  getMachine(name: string): MachineRecord;

  /** The machine's record (reconciled), or undefined when there is none. */
  findMachine(name: string): MachineRecord | undefined;

  /** Every machine, by name, each reconciled. */
  listMachines(): MachineRecord[];

  /**
   * Changes a machine's configuration. Only while no supervisor owns it (created, stopped, or failed with no
   * live supervisor); otherwise `SMOLVM_ERR_MACHINE_RUNNING`. The writable disk can grow, not shrink.
   */
  updateMachine(name: string, patch: MachineConfigPatch): MachineRecord;

  /**
   * Moves a machine to `state`, checking the transition against `STATE_TRANSITIONS` (else
   * `SMOLVM_ERR_INVALID_STATE_TRANSITION`). starting/running/stopping need a live supervisor pid, given in
   * `change` or already recorded; its start time is read from the system unless given. The usual sequence,
   * run by the supervisor itself: `setState(name, 'starting', { supervisorPid: process.pid })`, boot,
   * `setState(name, 'running')`; on the way out `setState(name, 'stopped', { supervisorPid: null,
   * lastExitReason })`.
   */
  setState(name: string, state: MachineState, change?: StateChange): MachineRecord;

  /**
   * Deletes the machine's record and its directory. Refused with `SMOLVM_ERR_MACHINE_RUNNING` while its
   * supervisor is alive unless `force`. Returns the record as it was (with the supervisor pid, if any, for the
   * caller to stop).
   */
  removeMachine(name: string, options?: RemoveMachineOptions): MachineRecord;

  /** Reconciles every record that claims a dead supervisor; returns the records it changed, as they are now. */
  reconcile(): MachineRecord[];

  /**
   * Takes the machine's lock, waiting (up to `timeoutMs`) while a live process holds it. The lock is a row in
   * the database naming its holder by pid + start time: a holder that died leaves a lock anyone may take over.
   * It excludes other processes and other holders in this process alike. The machine need not exist yet.
   * Throws `SMOLVM_ERR_MACHINE_LOCKED` on timeout.
   */
  acquireMachineLock(name: string, options?: MachineLockOptions): Promise<MachineLock>;

  /** Runs `fn` holding the machine's lock (see `acquireMachineLock`), and releases it however `fn` ends. */
  withMachineLock<T>(name: string, fn: () => T | Promise<T>, options?: MachineLockOptions): Promise<T>;

  /** Releases the locks this store holds and closes the database (idempotent). Later use throws `SMOLVM_ERR_STATE_CLOSED`. */
  close(): void;
  [Symbol.dispose](): void;
}

class SqliteStateStore implements StateStore {
  readonly home: string;
  readonly dbPath: string;
  #db: Db | undefined;
  /** Locks this store holds, released by `close()`. */
  readonly #locks = new Set<() => void>();

  constructor(db: Db, home: string, dbPath: string) {
    this.#db = db;
    this.home = home;
    this.dbPath = dbPath;
    this.#sweepTrash();
  }

  get #open(): Db {
    if (!this.#db) {
      throw new SmolvmError(StateErrorCode.STATE_CLOSED, `the state store for ${this.home} is closed`, {
        hint: 'Open a new one with openStateStore().',
      });
    }
    return this.#db;
  }

  /** Runs `fn` in an IMMEDIATE transaction (nested calls become savepoints), turning SQLite errors into coded ones. */
  #write<T>(doing: string, fn: () => T): T {
    const db = this.#open;
    try {
      return db.transaction(fn).immediate();
    } catch (e) {
      throw asStateError(e, this.dbPath, doing);
    }
  }

  #read<T>(doing: string, fn: (db: Db) => T): T {
    const db = this.#open;
    try {
      return fn(db);
    } catch (e) {
      throw asStateError(e, this.dbPath, doing);
    }
  }

  #row(name: string): MachineRow | undefined {
    return this.#open.prepare('SELECT * FROM machines WHERE name = ?').get(name) as MachineRow | undefined;
  }

  /** Inside a write transaction: if `row` claims a dead supervisor, clear the claim (CAS on the claim). */
  #reconcileLocked(row: MachineRow): MachineRow {
    if (!isGhost(row)) return row;
    const active = ACTIVE_STATES.has(row.state as MachineState);
    this.#open
      .prepare(
        `UPDATE machines SET state = ?, supervisor_pid = NULL, supervisor_start_time = NULL,
           last_exit_reason = ?, updated_at = ?
         WHERE name = ? AND id = ? AND state = ? AND supervisor_pid IS ? AND supervisor_start_time IS ?`,
      )
      .run(
        active ? 'stopped' : row.state,
        active ? SUPERVISOR_DIED : row.last_exit_reason,
        now(),
        row.name,
        row.id,
        row.state,
        row.supervisor_pid,
        row.supervisor_start_time,
      );
    return this.#row(row.name)!;
  }

  /** A row read for reporting: reconciled first when it claims a dead supervisor. */
  #reconciled(row: MachineRow): MachineRow | undefined {
    if (!isGhost(row)) return row;
    return this.#write('reconciling', () => {
      const fresh = this.#row(row.name);
      return fresh && this.#reconcileLocked(fresh);
    });
  }

  #notFound(name: string): SmolvmError {
    return new SmolvmError(StateErrorCode.MACHINE_NOT_FOUND, `there is no machine named "${name}"`, {
      hint: 'List the machines with `smolvm machine ls` (SDK: listMachines()); create one with `smolvm machine create`.',
    });
  }

  #running(row: MachineRow, what: string, hint: string): SmolvmError {
    return new SmolvmError(
      StateErrorCode.MACHINE_RUNNING,
      `machine "${row.name}" is ${row.state} (supervisor pid ${row.supervisor_pid}); ${what}; nothing was changed`,
      { hint },
    );
  }

  machineDir(name: string): string {
    return join(this.home, MACHINES_DIR, checkMachineName(name));
  }

  createMachine(spec: MachineSpec): MachineRecord {
    const name = checkMachineName(spec.name);
    const config = resolveMachineConfig(spec);
    const dir = this.machineDir(name);
    const at = now();
    const columns = { name, id: token(), created_at: at, updated_at: at, state: 'created', ...configColumns(config) };
    const keys = Object.keys(columns);
    let trashed: string | undefined;
    const row = this.#write('creating a machine in', () => {
      const info = this.#open
        .prepare(`INSERT INTO machines (${keys.join(', ')}) VALUES (${keys.map((k) => `@${k}`).join(', ')}) ON CONFLICT (name) DO NOTHING`)
        .run(columns);
      if (info.changes === 0) {
        throw new SmolvmError(StateErrorCode.MACHINE_EXISTS, `a machine named "${name}" already exists; nothing was created`, {
          hint: `Pick another name, or remove the existing one first with \`smolvm machine rm ${name}\`.`,
        });
      }
      // Under the database's write lock no other create or remove of this name can run, so a directory
      // already there is a leftover with no record: set it aside rather than hand its disk to a new machine.
      if (existsSync(dir)) trashed = this.#trash(dir);
      privateDir(dir);
      return this.#row(name)!;
    });
    if (trashed) this.#empty(trashed);
    return toRecord(row);
  }

  getMachine(name: string): MachineRecord {
    const found = this.findMachine(name);
    if (!found) throw this.#notFound(name);
    return found;
  }

  findMachine(name: string): MachineRecord | undefined {
    checkMachineName(name);
    const row = this.#read('reading', () => this.#row(name));
    const fresh = row && this.#reconciled(row);
    return fresh && toRecord(fresh);
  }

  listMachines(): MachineRecord[] {
    const rows = this.#read('reading', (db) => db.prepare('SELECT * FROM machines ORDER BY name').all() as MachineRow[]);
    const out: MachineRecord[] = [];
    for (const row of rows) {
      const fresh = this.#reconciled(row);
      if (fresh) out.push(toRecord(fresh));
    }
    return out;
  }

  updateMachine(name: string, patch: MachineConfigPatch): MachineRecord {
    checkMachineName(name);
    const row = this.#write('updating a machine in', () => {
      const found = this.#row(name);
      if (!found) throw this.#notFound(name);
      const current = this.#reconcileLocked(found);
      if (current.supervisor_pid !== null || ACTIVE_STATES.has(current.state as MachineState)) {
        throw this.#running(current, 'its configuration can only change while it is stopped', `Stop it first: \`smolvm machine stop ${name}\`.`);
      }
      const config = resolveMachineConfig(patch, toRecord(current));
      if (config.storageGiB < current.storage_gib) {
        throw new SmolvmError(
          ErrorCode.INVALID_OPTION,
          `storage of machine "${name}" can grow but not shrink (${current.storage_gib} GiB now, ${config.storageGiB} GiB asked); nothing was changed`,
          { hint: 'Make a new machine with the smaller disk and copy what you need into it.' },
        );
      }
      const cols = configColumns(config);
      const sets = Object.keys(cols).map((k) => `${k} = @${k}`);
      this.#open.prepare(`UPDATE machines SET ${sets.join(', ')}, updated_at = @updated_at WHERE name = @name`).run({ ...cols, updated_at: now(), name });
      return this.#row(name)!;
    });
    return toRecord(row);
  }

  setState(name: string, state: MachineState, change: StateChange = {}): MachineRecord {
    checkMachineName(name);
    const row = this.#write('changing a machine state in', () => {
      const found = this.#row(name);
      if (!found) throw this.#notFound(name);
      const current = this.#reconcileLocked(found);
      const from = current.state as MachineState;
      const allowed = STATE_TRANSITIONS[from];
      if (!STATE_TRANSITIONS[state] || !allowed.includes(state)) {
        throw new SmolvmError(
          StateErrorCode.INVALID_STATE_TRANSITION,
          `machine "${name}" cannot go from ${from} to ${String(state)}; nothing was changed`,
          { hint: `From ${from} it can go to: ${allowed.join(', ')}.` },
        );
      }
      let pid = current.supervisor_pid;
      let startTime = current.supervisor_start_time;
      if (change.supervisorPid !== undefined) {
        pid = change.supervisorPid;
        if (pid !== null && (!Number.isSafeInteger(pid) || pid <= 0)) {
          throw new SmolvmError(ErrorCode.INVALID_OPTION, `supervisorPid must be a process id, got ${pid}`);
        }
        startTime = change.supervisorStartTime !== undefined ? change.supervisorStartTime : pid === null ? null : (processStartTime(pid) ?? null);
        if (pid !== null && !isProcessAlive(pid, startTime)) {
          throw new SmolvmError(ErrorCode.INVALID_OPTION, `supervisor pid ${pid} of machine "${name}" is not a running process; nothing was changed`);
        }
      } else if (change.supervisorStartTime !== undefined) {
        startTime = change.supervisorStartTime;
      }
      if (ACTIVE_STATES.has(state) && pid === null) {
        throw new SmolvmError(ErrorCode.INVALID_OPTION, `machine "${name}" can only be ${state} with a supervisor; pass supervisorPid`, {
          hint: 'The supervisor records itself: setState(name, "starting", { supervisorPid: process.pid }).',
        });
      }
      const restartCount = change.restartCount ?? current.restart_count;
      if (!Number.isSafeInteger(restartCount) || restartCount < 0) {
        throw new SmolvmError(ErrorCode.INVALID_OPTION, `restartCount must be a whole number of 0 or more, got ${restartCount}`);
      }
      const reason = change.lastExitReason !== undefined ? change.lastExitReason : current.last_exit_reason;
      this.#open
        .prepare(
          `UPDATE machines SET state = ?, supervisor_pid = ?, supervisor_start_time = ?, last_exit_reason = ?,
             restart_count = ?, updated_at = ? WHERE name = ?`,
        )
        .run(state, pid, startTime, reason, restartCount, now(), name);
      return this.#row(name)!;
    });
    return toRecord(row);
  }

  removeMachine(name: string, options: RemoveMachineOptions = {}): MachineRecord {
    checkMachineName(name);
    const dir = this.machineDir(name);
    let trashed: string | undefined;
    const row = this.#write('removing a machine from', () => {
      const found = this.#row(name);
      if (!found) throw this.#notFound(name);
      const current = this.#reconcileLocked(found);
      if (current.supervisor_pid !== null && !options.force) {
        throw this.#running(current, 'removing it needs force', `Stop it first with \`smolvm machine stop ${name}\`, or remove it anyway with \`smolvm machine rm --force ${name}\`.`);
      }
      this.#open.prepare('DELETE FROM machines WHERE name = ?').run(name);
      // Renamed inside the transaction (no create of the same name can interleave), deleted after it.
      if (existsSync(dir)) trashed = this.#trash(dir);
      return current;
    });
    if (trashed) this.#empty(trashed);
    return toRecord(row);
  }

  reconcile(): MachineRecord[] {
    const rows = this.#read('reading', (db) => db.prepare('SELECT * FROM machines WHERE supervisor_pid IS NOT NULL OR state IN (\'starting\', \'running\', \'stopping\') ORDER BY name').all() as MachineRow[]);
    const changed: MachineRecord[] = [];
    for (const row of rows) {
      if (!isGhost(row)) continue;
      const fresh = this.#reconciled(row);
      if (fresh) changed.push(toRecord(fresh));
    }
    return changed;
  }

  async acquireMachineLock(name: string, options: MachineLockOptions = {}): Promise<MachineLock> {
    checkMachineName(name);
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const mine = token();
    let delayMs = 5;
    for (;;) {
      options.signal?.throwIfAborted();
      const holder = this.#write('locking a machine in', (): LockRow | undefined => {
        const held = this.#open.prepare('SELECT * FROM machine_locks WHERE name = ?').get(name) as LockRow | undefined;
        if (held && isProcessAlive(held.pid, held.start_time)) return held;
        this.#open
          .prepare('INSERT OR REPLACE INTO machine_locks (name, token, pid, start_time, acquired_at) VALUES (?, ?, ?, ?, ?)')
          .run(name, mine, process.pid, ownProcessStartTime() ?? null, now());
        return undefined;
      });
      if (!holder) break;
      if (Date.now() >= deadline) {
        throw new SmolvmError(
          StateErrorCode.MACHINE_LOCKED,
          `machine "${name}" is locked by process ${holder.pid} (since ${holder.acquired_at}); gave up after ${timeoutMs} ms`,
          { hint: 'Another smolvm command is working on this machine; wait for it to finish, or stop that process.' },
        );
      }
      await sleep(Math.min(delayMs, Math.max(1, deadline - Date.now())));
      delayMs = Math.min(delayMs * 2, 100);
    }
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#locks.delete(release);
      this.#write('unlocking a machine in', () => {
        this.#open.prepare('DELETE FROM machine_locks WHERE name = ? AND token = ?').run(name, mine);
      });
    };
    this.#locks.add(release);
    return { name, release, [Symbol.dispose]: release };
  }

  async withMachineLock<T>(name: string, fn: () => T | Promise<T>, options: MachineLockOptions = {}): Promise<T> {
    const lock = await this.acquireMachineLock(name, options);
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }

  /** Best-effort removal of directories left in the trash by an interrupted remove. */
  #sweepTrash(): void {
    const root = join(this.home, MACHINES_DIR);
    try {
      for (const entry of readdirSync(root)) {
        if (entry.startsWith('.trash-')) rmSync(join(root, entry), { recursive: true, force: true });
      }
    } catch {
      // Only tidying; the next open tries again.
    }
  }

  #empty(trashed: string): void {
    try {
      rmSync(trashed, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // Only tidying: the records are right already; the next open sweeps it.
    }
  }

  #trash(dir: string): string {
    const to = join(this.home, MACHINES_DIR, `.trash-${token()}`);
    renameSync(dir, to);
    return to;
  }

  close(): void {
    for (const release of [...this.#locks]) {
      try {
        release();
      } catch {
        // A lock left behind names this process; it is taken over once the process is gone.
      }
    }
    const db = this.#db;
    this.#db = undefined;
    db?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
