// Persistent machines seen from a client (CLI or SDK process): records in the state store, a detached
// supervisor per running machine, and connections to it.
import { spawn } from 'node:child_process';
import { openSync, closeSync, rmSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildExt4Empty } from './disk.js';
import { AgentConnection } from '@smolvm/protocol';
import { ErrorCode, SmolvmError } from './errors.js';
import { checkMachineName, openStateStore, smolvmHome, type MachineRecord, type MachineSpec, type StateStore } from './state/index.js';
import { controlRequest, lineReader, type SupervisorStats, type SupervisorStatus } from './supervisor/control.js';
import { FILE_NAMES, SOCKET_NAMES, runtimeDir } from './supervisor/paths.js';

// The supervisor runs as its own Node process from the built output. (When this module itself runs from
// source, as under the test runner, the built copy next to src/ is used: `pnpm build` makes it.)
const here = fileURLToPath(import.meta.url);
const supervisorMain = here.endsWith('.ts')
  ? join(dirname(here), '..', 'dist', 'supervisor', 'main.js')
  : join(dirname(here), 'supervisor', 'main.js');

/** `<home>/machines/<name>`: derived from the data dir, so finding a file there needs no database. */
export function machineDirOf(name: string, env: NodeJS.ProcessEnv): string {
  return join(smolvmHome(env), 'machines', checkMachineName(name));
}

export function withStore<T>(env: NodeJS.ProcessEnv, fn: (store: StateStore) => T): T {
  const store = openStateStore({ env });
  try {
    const r = fn(store);
    if (r instanceof Promise) {
      return r.finally(() => store.close()) as T;
    }
    store.close();
    return r;
  } catch (e) {
    store.close();
    throw e;
  }
}

export async function createPersistent(spec: MachineSpec, env: NodeJS.ProcessEnv): Promise<MachineRecord> {
  return withStore(env, async (store) => {
    const rec = store.createMachine(spec);
    try {
      await buildExt4Empty(join(store.machineDir(rec.name), FILE_NAMES.disk), rec.storageGiB * 1024, 'smolvm-data');
    } catch (e) {
      store.removeMachine(rec.name, { force: true });
      throw e;
    }
    return rec;
  });
}

/** Starts a stopped machine's supervisor and waits until the machine runs (or says why it could not). */
export async function startPersistent(name: string, env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<MachineRecord> {
  return withStore(env, (store) =>
    store.withMachineLock(name, async () => {
      const rec = store.getMachine(name);
      if (rec.state === 'running' || rec.state === 'starting') return rec;
      const dir = store.machineDir(name);
      const logFd = openSync(join(dir, FILE_NAMES.supervisorLog), 'a', 0o600);
      const child = spawn(process.execPath, [supervisorMain, name], {
        detached: true,
        stdio: ['ignore', logFd, logFd, 'pipe'],
        env: { ...env, SMOLVM_HOME: store.home },
      });
      closeSync(logFd);
      const ready = await new Promise<{ ready?: boolean; error?: { code: string; message: string; hint?: string } }>((resolve) => {
        const pipe = child.stdio[3] as NodeJS.ReadableStream;
        const timer = setTimeout(() => resolve({ error: { code: ErrorCode.BOOT_TIMEOUT, message: `machine ${name} did not start within ${timeoutMs} ms` } }), timeoutMs);
        pipe.on(
          'data',
          lineReader(
            (line) => {
              clearTimeout(timer);
              resolve(JSON.parse(line) as { ready?: boolean });
            },
            () => {},
          ),
        );
        child.once('exit', (code) => {
          clearTimeout(timer);
          resolve({ error: { code: ErrorCode.MACHINE_START_FAILED, message: `the supervisor of ${name} exited (code ${code}) before the machine was up` } });
        });
      });
      (child.stdio[3] as NodeJS.ReadableStream & { destroy(): void }).destroy();
      child.unref();
      if (ready.error) {
        if (child.exitCode === null) child.kill('SIGKILL');
        throw new SmolvmError(ready.error.code, `machine ${name} could not start: ${ready.error.message}`, {
          hint: ready.error.hint ?? `See smolvm machine logs ${name}.`,
        });
      }
      return store.getMachine(name);
    }),
  );
}

export function machineSockets(rec: MachineRecord, env: NodeJS.ProcessEnv): { client: string; control: string } {
  const dir = runtimeDir(rec.id, env);
  return { client: join(dir, SOCKET_NAMES.client), control: join(dir, SOCKET_NAMES.control) };
}

function requireRunning(rec: MachineRecord): void {
  if (rec.state !== 'running') {
    throw new SmolvmError(ErrorCode.MACHINE_NOT_RUNNING, `machine ${rec.name} is ${rec.state}, not running`, {
      hint: `Start it first: smolvm machine start ${rec.name}`,
    });
  }
}

export async function stopPersistent(name: string, env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<{ wasRunning: boolean }> {
  const rec = withStore(env, (s) => s.getMachine(name));
  if (rec.state !== 'running' && rec.state !== 'starting' && rec.state !== 'stopping') return { wasRunning: false };
  const { control } = machineSockets(rec, env);
  try {
    await controlRequest(control, { op: 'stop', timeoutMs }, timeoutMs + 10_000);
  } catch (e) {
    // Unreachable supervisor: end it by its pid (only if the pid is still that supervisor).
    if (rec.supervisorPid) {
      try {
        process.kill(rec.supervisorPid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    if (!(e instanceof SmolvmError)) throw e;
  }
  // Wait until the record shows the supervisor gone (bounded), reading it through one open store.
  const end = Date.now() + timeoutMs + 10_000;
  await withStore(env, async (store) => {
    for (;;) {
      const now = store.getMachine(name);
      if (now.state !== 'running' && now.state !== 'stopping' && now.state !== 'starting') return;
      if (Date.now() > end) {
        if (now.supervisorPid) process.kill(now.supervisorPid, 'SIGKILL');
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  return { wasRunning: true };
}

export interface MachineConnection {
  connection: AgentConnection;
  /** Resolves when the supervisor connection closes. */
  closed: Promise<void>;
  close(): void;
}

/** Connects to a running machine's supervisor and handshakes. */
export async function connectPersistent(name: string, env: NodeJS.ProcessEnv): Promise<MachineConnection> {
  const rec = withStore(env, (s) => s.getMachine(name));
  requireRunning(rec);
  const { client } = machineSockets(rec, env);
  if (!existsSync(client)) {
    throw new SmolvmError(ErrorCode.SUPERVISOR_UNREACHABLE, `machine ${name} is running but its socket ${client} is missing`, {
      hint: `Restart it: smolvm machine restart ${name}`,
    });
  }
  const sock = createConnection(client);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', (e) =>
      reject(new SmolvmError(ErrorCode.SUPERVISOR_UNREACHABLE, `cannot connect to machine ${name}: ${e.message}`, { cause: e })),
    );
  });
  const conn = new AgentConnection({ send: (b) => void sock.write(b) });
  sock.on('data', (d: Buffer) => conn.receive(d));
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  sock.on('close', () => conn.close(new Error(`the connection to machine ${name} closed`)));
  sock.on('error', () => {});
  await conn.handshake();
  return { connection: conn, closed, close: () => sock.end() };
}

export async function statusPersistent(rec: MachineRecord, env: NodeJS.ProcessEnv): Promise<SupervisorStatus | undefined> {
  if (rec.state !== 'running') return undefined;
  try {
    return await controlRequest<SupervisorStatus>(machineSockets(rec, env).control, { op: 'status' }, 5_000);
  } catch {
    return undefined;
  }
}

export async function hostStatsPersistent(rec: MachineRecord, env: NodeJS.ProcessEnv): Promise<SupervisorStats> {
  requireRunning(rec);
  return controlRequest<SupervisorStats>(machineSockets(rec, env).control, { op: 'stats' }, 5_000);
}

export async function removePersistent(name: string, env: NodeJS.ProcessEnv, force: boolean): Promise<void> {
  const rec = withStore(env, (s) => s.getMachine(name));
  if (rec.state === 'running' || rec.state === 'starting' || rec.state === 'stopping') {
    if (!force) {
      throw new SmolvmError(ErrorCode.MACHINE_RUNNING, `machine ${name} is running`, { hint: `Stop it first, or use: smolvm machine rm -f ${name}` });
    }
    await stopPersistent(name, env, 5_000);
  }
  withStore(env, (s) => s.removeMachine(name, { force }));
  rmSync(runtimeDir(rec.id, env), { recursive: true, force: true });
}
