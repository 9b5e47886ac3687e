import { existsSync, readdirSync, statSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  MACHINE_STATES,
  STATE_SCHEMA_VERSION,
  STATE_TRANSITIONS,
  openStateStore,
  processStartTime,
  type MachineState,
  type StateStore,
} from '../../src/state/index.js';
import { spawnSleeper, tempHome } from './helpers.js';
import { MIGRATIONS } from '../../src/state/schema.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
const mode = (path: string): number => statSync(path).mode & 0o777;
const me = { supervisorPid: process.pid };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/** A store in a fresh SMOLVM_HOME, closed and deleted at the end of the test. */
async function fresh(): Promise<{ store: StateStore; home: string } & AsyncDisposable> {
  const t = await tempHome();
  const store = openStateStore({ env: { SMOLVM_HOME: t.home } });
  return {
    store,
    home: t.home,
    async [Symbol.asyncDispose]() {
      store.close();
      await t[Symbol.asyncDispose]();
    },
  };
}

describe('opening and migrations', () => {
  it('creates the database from nothing, in WAL mode, at the current schema', async () => {
    await using t = await tempHome();
    const store = openStateStore({ home: t.home });
    expect(store.dbPath).toBe(join(t.home, 'state.db'));
    store.close();
    const db = new Database(join(t.home, 'state.db'), { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const versions = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      expect(versions).toEqual([
        { version: 1, name: 'machines and machine locks' },
        { version: 2, name: 'published ports' },
        { version: 3, name: 'volumes' },
      ]);
      expect(STATE_SCHEMA_VERSION).toBe(3);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(['machine_locks', 'machines', 'schema_migrations']);
    } finally {
      db.close();
    }
  });

  it('migrates a version 1 database in place: its machines keep everything and publish no ports', async () => {
    await using t = await tempHome();
    mkdirSync(t.home, { recursive: true, mode: 0o700 });
    const db = new Database(join(t.home, 'state.db'));
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT');
    db.exec(MIGRATIONS[0]!.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run(MIGRATIONS[0]!.name, 'then');
    db.prepare(
      `INSERT INTO machines (name, id, created_at, updated_at, cpus, memory_mib, storage_gib, env, restart_max_backoff_ms)
       VALUES ('old', '0123456789abcdef', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 2, 256, 3, '["A=1"]', 1000)`,
    ).run();
    db.close();
    const store = openStateStore({ home: t.home });
    try {
      expect(store.getMachine('old')).toMatchObject({ cpus: 2, memoryMiB: 256, env: ['A=1'], ports: [], volumes: [] });
      const updated = store.updateMachine('old', { ports: ['8080:80'] });
      expect(updated.ports).toEqual([{ hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80 }]);
    } finally {
      store.close();
    }
  });

  it('stores published ports in their checked form, and refuses bad ones without writing anything', async () => {
    await using t = await fresh();
    const m = t.store.createMachine({ name: 'web', ports: ['8080:80', '[::1]:8443:443', { hostPort: 5433, guestPort: 5432, hostAddress: '0.0.0.0' }] });
    expect(m.ports).toEqual([
      { hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80 },
      { hostAddress: '::1', hostPort: 8443, guestPort: 443 },
      { hostAddress: '0.0.0.0', hostPort: 5433, guestPort: 5432 },
    ]);
    expect(t.store.getMachine('web').ports).toEqual(m.ports);
    for (const [ports, message] of [
      [['8080'], /invalid port "8080"/],
      [['8080:80', '8080:81'], /host port 127\.0\.0\.1:8080->81 is published twice/],
      [[{ hostPort: 0, guestPort: 80 }], /fixed host ports; got host port 0/],
      [['70000:80'], /out of range/],
    ] as const) {
      expect(() => t.store.updateMachine('web', { ports: ports as never })).toThrow(message);
    }
    expect(t.store.getMachine('web').ports).toEqual(m.ports);
    expect(() => t.store.createMachine({ name: 'bad', ports: ['x:80'] })).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_INVALID_PORT' }));
    expect(t.store.listMachines().map((r) => r.name)).toEqual(['web']);
  });

  it('stores volumes with absolute host paths, and refuses bad ones without writing anything', async () => {
    await using t = await fresh();
    const m = t.store.createMachine({ name: 'v', volumes: ['/srv/data:/data', { hostPath: '/etc', guestPath: '/host-etc', readOnly: true }] });
    expect(m.volumes).toEqual([
      { hostPath: '/srv/data', guestPath: '/data', readOnly: false },
      { hostPath: '/etc', guestPath: '/host-etc', readOnly: true },
    ]);
    expect(t.store.getMachine('v').volumes).toEqual(m.volumes);
    expect(() => t.store.updateMachine('v', { volumes: ['/a:/x', '/b:/x'] })).toThrow(/two volumes are mounted on \/x/);
    expect(() => t.store.updateMachine('v', { volumes: ['/a:relative'] })).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_INVALID_VOLUME' }));
    expect(t.store.getMachine('v').volumes).toEqual(m.volumes);
    expect(t.store.updateMachine('v', { volumes: [] }).volumes).toEqual([]);
  });

  it('reopens without migrating again and keeps the data', async () => {
    await using t = await tempHome();
    const first = openStateStore({ home: t.home });
    first.createMachine({ name: 'keep' });
    first.close();
    const applied = (): unknown => {
      const db = new Database(join(t.home, 'state.db'), { readonly: true });
      try {
        return db.prepare('SELECT * FROM schema_migrations').all();
      } finally {
        db.close();
      }
    };
    const before = applied();
    for (let i = 0; i < 3; i++) {
      const again = openStateStore({ home: t.home });
      expect(again.listMachines().map((m) => m.name)).toEqual(['keep']);
      again.close();
    }
    expect(applied()).toEqual(before);
  });

  it('refuses a database from a newer smolvm and leaves it untouched', async () => {
    await using t = await tempHome();
    openStateStore({ home: t.home }).close();
    const path = join(t.home, 'state.db');
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(STATE_SCHEMA_VERSION + 1, 'from the future', 'x');
    db.close();
    const error = thrown(() => openStateStore({ home: t.home }));
    expect(error).toMatchObject({
      code: 'SMOLVM_ERR_STATE_SCHEMA_TOO_NEW',
      message: `the state database ${path} has schema version ${STATE_SCHEMA_VERSION + 1}, written by a newer smolvm; this smolvm knows versions up to ${STATE_SCHEMA_VERSION} and left the file untouched`,
      hint: expect.stringMatching(/^Upgrade smolvm/),
    });
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT COUNT(*) FROM schema_migrations').pluck().get()).toBe(STATE_SCHEMA_VERSION + 1);
    check.close();
  });

  it('keeps everything private: dirs 0700, database files 0600', async () => {
    await using t = await tempHome();
    // A database file someone made world-readable is tightened too.
    mkdirSync(t.home, { mode: 0o700 });
    writeFileSync(join(t.home, 'state.db'), '');
    chmodSync(join(t.home, 'state.db'), 0o644);
    const store = openStateStore({ home: t.home });
    try {
      store.createMachine({ name: 'private' });
      expect(mode(t.home)).toBe(0o700);
      expect(mode(join(t.home, 'machines'))).toBe(0o700);
      expect(mode(store.machineDir('private'))).toBe(0o700);
      for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) expect([f, mode(join(t.home, f))]).toEqual([f, 0o600]);
    } finally {
      store.close();
    }
  });

  it('makes a missing data dir (and its parents) private', async () => {
    await using t = await tempHome();
    const home = join(t.home, 'deep', 'er');
    openStateStore({ env: { SMOLVM_HOME: home } }).close();
    expect(mode(home)).toBe(0o700);
    expect(mode(join(t.home, 'deep'))).toBe(0o700);
  });

  it('says clearly that a file which is not a database cannot be opened', async () => {
    await using t = await tempHome();
    mkdirSync(t.home);
    writeFileSync(join(t.home, 'state.db'), 'this is not sqlite, this is just text that happens to be long enough'.repeat(20));
    expect(thrown(() => openStateStore({ home: t.home }))).toMatchObject({
      code: 'SMOLVM_ERR_STATE_DB',
      message: expect.stringContaining('SQLITE_NOTADB'),
      hint: expect.stringContaining('damaged'),
    });
  });

  it('throws a coded error when used after close', async () => {
    await using t = await fresh();
    t.store.close();
    t.store.close();
    expect(thrown(() => t.store.listMachines())).toMatchObject({ code: 'SMOLVM_ERR_STATE_CLOSED' });
  });
});

describe('machine records', () => {
  it('creates with defaults, gets, lists', async () => {
    await using t = await fresh();
    const m = t.store.createMachine({ name: 'dev' });
    expect(m).toMatchObject({
      name: 'dev',
      image: null,
      cpus: 1,
      memoryMiB: 512,
      storageGiB: 10,
      env: [],
      workdir: null,
      init: [],
      restartPolicy: 'never',
      restartMaxRetries: null,
      restartMaxBackoffMs: 60_000,
      health: null,
      ports: [],
      volumes: [],
      state: 'created',
      supervisorPid: null,
      supervisorStartTime: null,
      lastExitReason: null,
      restartCount: 0,
    });
    expect(m.id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Date(m.createdAt).toISOString()).toBe(m.createdAt);
    expect(m.updatedAt).toBe(m.createdAt);
    expect(t.store.getMachine('dev')).toEqual(m);
    expect(existsSync(t.store.machineDir('dev'))).toBe(true);
    expect(t.store.machineDir('dev')).toBe(join(t.home, 'machines', 'dev'));
  });

  it('keeps every field of a full spec', async () => {
    await using t = await fresh();
    const spec = {
      name: 'db',
      image: 'postgres:17',
      cpus: 2,
      memoryMiB: 1024,
      storageGiB: 20,
      env: ['PGDATA=/var/lib/postgresql/data', 'A=b=c'],
      workdir: '/srv',
      init: ['apk add curl', 'echo "hi there"'],
      restartPolicy: 'on-failure' as const,
      restartMaxRetries: 5,
      restartMaxBackoffMs: 10_000,
      health: { exec: ['pg_isready', '-q'], intervalMs: 1000, timeoutMs: 500, retries: 2, startupGraceMs: 3000 },
    };
    const m = t.store.createMachine(spec);
    expect(m).toMatchObject(spec);
    expect(t.store.getMachine('db')).toMatchObject(spec);
  });

  it('fills health check defaults', async () => {
    await using t = await fresh();
    expect(t.store.createMachine({ name: 'h', health: { exec: ['true'] } }).health).toEqual({
      exec: ['true'],
      intervalMs: 30_000,
      timeoutMs: 5_000,
      retries: 3,
      startupGraceMs: 0,
    });
  });

  it('refuses a second machine of the same name', async () => {
    await using t = await fresh();
    const first = t.store.createMachine({ name: 'twin', cpus: 2 });
    expect(thrown(() => t.store.createMachine({ name: 'twin' }))).toMatchObject({
      code: 'SMOLVM_ERR_MACHINE_EXISTS',
      message: 'a machine named "twin" already exists; nothing was created',
      hint: expect.stringContaining('smolvm machine rm twin'),
    });
    expect(t.store.getMachine('twin')).toEqual(first);
  });

  it('refuses invalid names before touching anything', async () => {
    await using t = await fresh();
    for (const name of ['Bad', '../escape', '']) {
      expect(thrown(() => t.store.createMachine({ name }))).toMatchObject({ code: 'SMOLVM_ERR_INVALID_MACHINE_NAME' });
      expect(thrown(() => t.store.getMachine(name))).toMatchObject({ code: 'SMOLVM_ERR_INVALID_MACHINE_NAME' });
    }
    expect(readdirSync(join(t.home, 'machines'))).toEqual([]);
  });

  it.each([
    [{ cpus: 0 }, /cpus must be a whole number from 1 to 64, got 0/],
    [{ cpus: 1.5 }, /cpus must be a whole number/],
    [{ memoryMiB: 32 }, /memoryMiB must be a whole number from 64 to 262144, got 32/],
    [{ storageGiB: 0 }, /storageGiB must be a whole number from 1 to 2048/],
    [{ env: ['NOEQUALS'] }, /not KEY=VALUE/],
    [{ workdir: 'relative' }, /workdir must be an absolute path/],
    [{ image: '' }, /image must be a non-empty image reference/],
    [{ restartPolicy: 'sometimes' }, /restartPolicy must be "never", "on-failure" or "always"/],
    [{ restartMaxRetries: -1 }, /restartMaxRetries must be a whole number/],
    [{ health: { exec: [] } }, /health.exec must name a command/],
    [{ init: ['ok', 3] }, /init must be a list of strings/],
  ])('refuses %j', async (bad, message) => {
    await using t = await fresh();
    expect(thrown(() => t.store.createMachine({ name: 'x', ...(bad as object) }))).toMatchObject({
      code: 'SMOLVM_ERR_INVALID_OPTION',
      message: expect.stringMatching(message),
    });
    expect(t.store.findMachine('x')).toBeUndefined();
  });

  it('says how to see the machines when one is not found', async () => {
    await using t = await fresh();
    expect(thrown(() => t.store.getMachine('nope'))).toMatchObject({
      code: 'SMOLVM_ERR_MACHINE_NOT_FOUND',
      message: 'there is no machine named "nope"',
      hint: expect.stringContaining('smolvm machine ls'),
    });
    expect(t.store.findMachine('nope')).toBeUndefined();
    for (const op of [() => t.store.updateMachine('nope', {}), () => t.store.setState('nope', 'failed'), () => t.store.removeMachine('nope')]) {
      expect(thrown(op)).toMatchObject({ code: 'SMOLVM_ERR_MACHINE_NOT_FOUND' });
    }
  });

  it('updates a stopped machine, keeping what the patch leaves out', async () => {
    await using t = await fresh();
    const before = t.store.createMachine({ name: 'u', cpus: 1, env: ['A=1'], workdir: '/w', health: { exec: ['true'] } });
    await new Promise((r) => setTimeout(r, 5));
    const after = t.store.updateMachine('u', { cpus: 4, memoryMiB: 2048, storageGiB: 40, workdir: null, health: null });
    expect(after).toMatchObject({ cpus: 4, memoryMiB: 2048, storageGiB: 40, env: ['A=1'], workdir: null, health: null, id: before.id });
    expect(after.updatedAt > before.updatedAt).toBe(true);
    expect(t.store.getMachine('u')).toEqual(after);
  });

  it('grows storage but refuses to shrink it', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 's', storageGiB: 20 });
    expect(thrown(() => t.store.updateMachine('s', { storageGiB: 10 }))).toMatchObject({
      code: 'SMOLVM_ERR_INVALID_OPTION',
      message: 'storage of machine "s" can grow but not shrink (20 GiB now, 10 GiB asked); nothing was changed',
    });
    expect(t.store.getMachine('s').storageGiB).toBe(20);
  });

  it('refuses to update a machine while its supervisor is alive', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 'r' });
    t.store.setState('r', 'starting', me);
    t.store.setState('r', 'running');
    expect(thrown(() => t.store.updateMachine('r', { cpus: 2 }))).toMatchObject({
      code: 'SMOLVM_ERR_MACHINE_RUNNING',
      message: `machine "r" is running (supervisor pid ${process.pid}); its configuration can only change while it is stopped; nothing was changed`,
      hint: 'Stop it first: `smolvm machine stop r`.',
    });
    // Failed, but the supervisor is still there (waiting to restart it): still refused.
    t.store.setState('r', 'failed', { lastExitReason: 'exit code 1' });
    expect(thrown(() => t.store.updateMachine('r', { cpus: 2 }))).toMatchObject({ code: 'SMOLVM_ERR_MACHINE_RUNNING' });
    t.store.setState('r', 'stopped', { supervisorPid: null });
    expect(t.store.updateMachine('r', { cpus: 2 }).cpus).toBe(2);
  });

  it('removes a stopped machine and its directory; the name is free again', async () => {
    await using t = await fresh();
    const m = t.store.createMachine({ name: 'gone' });
    writeFileSync(join(t.store.machineDir('gone'), 'disk.img'), 'data');
    expect(t.store.removeMachine('gone')).toEqual(m);
    expect(t.store.findMachine('gone')).toBeUndefined();
    expect(readdirSync(join(t.home, 'machines'))).toEqual([]);
    const again = t.store.createMachine({ name: 'gone' });
    expect(again.id).not.toBe(m.id);
    expect(readdirSync(t.store.machineDir('gone'))).toEqual([]);
  });

  it('refuses to remove a machine with a live supervisor unless forced', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 'busy' });
    t.store.setState('busy', 'starting', me);
    expect(thrown(() => t.store.removeMachine('busy'))).toMatchObject({
      code: 'SMOLVM_ERR_MACHINE_RUNNING',
      message: `machine "busy" is starting (supervisor pid ${process.pid}); removing it needs force; nothing was changed`,
      hint: expect.stringContaining('smolvm machine rm --force busy'),
    });
    expect(t.store.getMachine('busy').state).toBe('starting');
    const removed = t.store.removeMachine('busy', { force: true });
    expect(removed).toMatchObject({ state: 'starting', supervisorPid: process.pid });
    expect(t.store.findMachine('busy')).toBeUndefined();
    expect(existsSync(t.store.machineDir('busy'))).toBe(false);
  });

  it('does not hand a leftover directory (no record) to a new machine', async () => {
    await using t = await fresh();
    mkdirSync(t.store.machineDir('old'), { recursive: true });
    writeFileSync(join(t.store.machineDir('old'), 'disk.img'), 'someone else');
    t.store.createMachine({ name: 'old' });
    expect(readdirSync(t.store.machineDir('old'))).toEqual([]);
    expect(readdirSync(join(t.home, 'machines'))).toEqual(['old']);
  });

  it('lists 50 machines by name, each reconciled', async () => {
    await using t = await fresh();
    const sleeper = spawnSleeper();
    const names = Array.from({ length: 50 }, (_, i) => `m-${String(i).padStart(2, '0')}`);
    for (const name of [...names].reverse()) t.store.createMachine({ name, cpus: 1 + (names.indexOf(name) % 4) });
    for (const name of names.slice(0, 10)) t.store.setState(name, 'starting', me);
    for (const name of names.slice(10, 20)) t.store.setState(name, 'starting', { supervisorPid: sleeper.pid });
    await sleeper.killHard();
    const list = t.store.listMachines();
    expect(list.map((m) => m.name)).toEqual(names);
    expect(list.filter((m) => m.state === 'starting').map((m) => m.name)).toEqual(names.slice(0, 10));
    expect(list.filter((m) => m.state === 'stopped').map((m) => m.name)).toEqual(names.slice(10, 20));
    expect(list.filter((m) => m.state === 'created')).toHaveLength(30);
    expect(list[3]!.cpus).toBe(4);
  });
});

describe('state transitions', () => {
  /** How to bring a new machine into each state. */
  const paths: Record<MachineState, MachineState[]> = {
    created: [],
    starting: ['starting'],
    running: ['starting', 'running'],
    stopping: ['starting', 'running', 'stopping'],
    stopped: ['starting', 'stopped'],
    failed: ['failed'],
  };
  const cases = MACHINE_STATES.flatMap((from) => MACHINE_STATES.map((to) => [from, to, STATE_TRANSITIONS[from].includes(to)] as const));

  it.each(cases)('%s -> %s allowed: %s', async (from, to, allowed) => {
    await using t = await fresh();
    t.store.createMachine({ name: 'm' });
    for (const s of paths[from]) t.store.setState('m', s, me);
    expect(t.store.getMachine('m').state).toBe(from);
    if (allowed) {
      expect(t.store.setState('m', to, me).state).toBe(to);
    } else {
      expect(thrown(() => t.store.setState('m', to, me))).toMatchObject({
        code: 'SMOLVM_ERR_INVALID_STATE_TRANSITION',
        message: `machine "m" cannot go from ${from} to ${to}; nothing was changed`,
        hint: `From ${from} it can go to: ${STATE_TRANSITIONS[from].join(', ')}.`,
      });
      expect(t.store.getMachine('m').state).toBe(from);
    }
  });

  it('lets any state fail, and the lifecycle runs round', () => {
    for (const s of MACHINE_STATES) if (s !== 'failed') expect(STATE_TRANSITIONS[s]).toContain('failed');
    const cycle: MachineState[] = ['stopped', 'starting', 'running', 'stopping', 'stopped'];
    for (let i = 0; i + 1 < cycle.length; i++) expect(STATE_TRANSITIONS[cycle[i]!]).toContain(cycle[i + 1]);
  });

  it('records the supervisor with its start time, and the bookkeeping that goes with a change', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 'b' });
    const starting = t.store.setState('b', 'starting', me);
    expect(starting).toMatchObject({ supervisorPid: process.pid, supervisorStartTime: processStartTime(process.pid) });
    const failed = t.store.setState('b', 'failed', { lastExitReason: 'exit code 3' });
    expect(failed).toMatchObject({ supervisorPid: process.pid, lastExitReason: 'exit code 3' });
    expect(t.store.setState('b', 'starting', { restartCount: 1 })).toMatchObject({ restartCount: 1, lastExitReason: 'exit code 3' });
    expect(t.store.setState('b', 'stopped', { supervisorPid: null, lastExitReason: 'stopped by user' })).toMatchObject({
      state: 'stopped',
      supervisorPid: null,
      supervisorStartTime: null,
      lastExitReason: 'stopped by user',
      restartCount: 1,
    });
  });

  it('needs a live supervisor for starting, running and stopping', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 'n' });
    expect(thrown(() => t.store.setState('n', 'starting'))).toMatchObject({
      code: 'SMOLVM_ERR_INVALID_OPTION',
      message: 'machine "n" can only be starting with a supervisor; pass supervisorPid',
    });
    const sleeper = spawnSleeper();
    await sleeper.killHard();
    expect(thrown(() => t.store.setState('n', 'starting', { supervisorPid: sleeper.pid }))).toMatchObject({
      code: 'SMOLVM_ERR_INVALID_OPTION',
      message: `supervisor pid ${sleeper.pid} of machine "n" is not a running process; nothing was changed`,
    });
    expect(thrown(() => t.store.setState('n', 'bogus' as MachineState, me))).toMatchObject({ code: 'SMOLVM_ERR_INVALID_STATE_TRANSITION' });
    expect(t.store.getMachine('n').state).toBe('created');
  });
});

describe('reconciliation', () => {
  it('reports a machine whose supervisor was killed -9 as stopped, never running', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 'ghost' });
    const sleeper = spawnSleeper();
    t.store.setState('ghost', 'starting', { supervisorPid: sleeper.pid });
    t.store.setState('ghost', 'running');
    expect(t.store.getMachine('ghost')).toMatchObject({ state: 'running', supervisorPid: sleeper.pid });
    await sleeper.killHard();
    const seen = t.store.getMachine('ghost');
    expect(seen).toMatchObject({ state: 'stopped', supervisorPid: null, supervisorStartTime: null, lastExitReason: 'supervisor died' });
    // The reconciled state was written, not just reported.
    const db = new Database(t.store.dbPath, { readonly: true });
    expect(db.prepare("SELECT state, supervisor_pid FROM machines WHERE name = 'ghost'").get()).toEqual({ state: 'stopped', supervisor_pid: null });
    db.close();
    // And it can be started again.
    expect(t.store.setState('ghost', 'starting', me).state).toBe('starting');
  });

  it('does not take a reused pid (live, different start time) for the supervisor', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 'reused' });
    t.store.setState('reused', 'starting', me);
    t.store.setState('reused', 'running');
    // The recorded supervisor started at another time: this process merely has its pid now.
    const db = new Database(t.store.dbPath);
    db.prepare("UPDATE machines SET supervisor_start_time = '1' WHERE name = 'reused'").run();
    db.close();
    expect(t.store.getMachine('reused')).toMatchObject({ state: 'stopped', supervisorPid: null, lastExitReason: 'supervisor died' });
    // Now nothing stops an update or a plain remove.
    expect(t.store.updateMachine('reused', { cpus: 3 }).cpus).toBe(3);
    t.store.removeMachine('reused');
  });

  it('clears a dead claim on a stopped or failed machine without changing its state', async () => {
    await using t = await fresh();
    t.store.createMachine({ name: 'f' });
    const sleeper = spawnSleeper();
    t.store.setState('f', 'starting', { supervisorPid: sleeper.pid });
    t.store.setState('f', 'failed', { lastExitReason: 'exit code 1' });
    await sleeper.killHard();
    expect(t.store.getMachine('f')).toMatchObject({ state: 'failed', supervisorPid: null, lastExitReason: 'exit code 1' });
  });

  it('reconcile() fixes every ghost at once and returns them', async () => {
    await using t = await fresh();
    const sleeper = spawnSleeper();
    for (const name of ['a', 'b', 'c']) t.store.createMachine({ name });
    t.store.setState('a', 'starting', { supervisorPid: sleeper.pid });
    t.store.setState('b', 'starting', me);
    t.store.setState('c', 'starting', { supervisorPid: sleeper.pid });
    t.store.setState('c', 'running');
    t.store.setState('c', 'stopping');
    await sleeper.killHard();
    const changed = t.store.reconcile();
    expect(changed.map((m) => [m.name, m.state, m.lastExitReason])).toEqual([
      ['a', 'stopped', 'supervisor died'],
      ['c', 'stopped', 'supervisor died'],
    ]);
    expect(t.store.reconcile()).toEqual([]);
    expect(t.store.getMachine('b').state).toBe('starting');
  });
});

describe('machine locks (in one process)', () => {
  it('excludes a second holder until the first releases', async () => {
    await using t = await fresh();
    const order: string[] = [];
    const first = await t.store.acquireMachineLock('l');
    const second = t.store.withMachineLock('l', () => {
      order.push('second');
    });
    await new Promise((r) => setTimeout(r, 50));
    order.push('first releases');
    first.release();
    first.release();
    await second;
    expect(order).toEqual(['first releases', 'second']);
  });

  it('gives up after timeoutMs with a coded error naming the holder', async () => {
    await using t = await fresh();
    using _held = await t.store.acquireMachineLock('l');
    const started = Date.now();
    await expect(t.store.withMachineLock('l', () => 1, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'SMOLVM_ERR_MACHINE_LOCKED',
      message: expect.stringMatching(new RegExp(`^machine "l" is locked by process ${process.pid} \\(since .*\\); gave up after 100 ms$`)),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
  });

  it('releases when the function throws, and returns what it returns', async () => {
    await using t = await fresh();
    await expect(t.store.withMachineLock('l', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await t.store.withMachineLock('l', async () => 7, { timeoutMs: 100 })).toBe(7);
  });

  it('releases locks still held when the store closes', async () => {
    await using t = await tempHome();
    const a = openStateStore({ home: t.home });
    await a.acquireMachineLock('l');
    a.close();
    const b = openStateStore({ home: t.home });
    try {
      expect(await b.withMachineLock('l', () => 'got it', { timeoutMs: 100 })).toBe('got it');
    } finally {
      b.close();
    }
  });

  it('honours an abort signal', async () => {
    await using t = await fresh();
    using _held = await t.store.acquireMachineLock('l');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('cancelled')), 30);
    await expect(t.store.acquireMachineLock('l', { signal: ac.signal })).rejects.toThrow('cancelled');
  });
});
