// The per-machine supervisor: a detached process that owns a persistent machine's VM, shares its agent
// channel among clients (machine.sock), answers lifecycle requests (control.sock), applies the restart and
// health policy, and keeps the state database true. Started by `startMachine`; reports readiness (or the
// error that stopped it) as one JSON line on fd 3, then runs until the machine stops.
import { rmSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { AgentConnection } from '@smolvm/protocol';
import { launchVm, type LaunchedVm } from '../launch.js';
import { BASE_ENV, mergeEnv } from '../options.js';
import { openStateStore, processStartTime, type MachineRecord, type StateStore } from '../state/index.js';
import { SmolvmError, ErrorCode } from '../errors.js';
import { AgentRelay } from './relay.js';
import { PortForwarder } from '../port-forwarder.js';
import { formatPort } from '../ports.js';
import { lineReader, type ControlRequest, type SupervisorStats, type SupervisorStatus } from './control.js';
import { FILE_NAMES, SOCKET_NAMES, ensurePrivateDir, runtimeDir } from './paths.js';

const log = (msg: string): void => void process.stderr.write(`${new Date().toISOString()} ${msg}\n`);

function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function report(msg: object): void {
  try {
    writeSync(3, JSON.stringify(msg) + '\n');
    closeSync(3);
  } catch {
    // No one is waiting (started by hand): the log has it.
  }
}

interface Running {
  launched: LaunchedVm;
  relay: AgentRelay;
  conn: AgentConnection;
  /** Settles when `conn` has finished its handshake (it rejects when the VM failed to come up). */
  ready: Promise<unknown>;
}

class Supervisor {
  private running: Running | undefined;
  private stopping: Promise<void> | undefined;
  private healthy: boolean | null = null;
  private healthTimer: NodeJS.Timeout | undefined;
  private restartCount = 0;
  private readonly startedAt = new Date().toISOString();
  private readonly runDir: string;
  private servers: Server[] = [];
  private forwarder: PortForwarder | undefined;
  private clients = 0;
  private execEnv: string[] = [];
  private execCwd: string | undefined;

  constructor(
    private readonly store: StateStore,
    private readonly rec: MachineRecord,
  ) {
    this.runDir = runtimeDir(rec.id);
  }

  private get dir(): string {
    return this.store.machineDir(this.rec.name);
  }

  async start(): Promise<void> {
    ensurePrivateDir(this.runDir);
    this.store.setState(this.rec.name, 'starting', { supervisorPid: process.pid, supervisorStartTime: processStartTime(process.pid) ?? null });
    // Published ports are bound before the VM boots (a port in use fails the start at once) and stay bound
    // across restarts; a connection while no VM runs is reset.
    if (this.rec.ports.length > 0) {
      this.forwarder = await PortForwarder.open(this.rec.ports, {
        // The current VM's connection once it is up (a connection while none is up is reset).
        connection: async () => {
          const r = this.running;
          if (!r) return undefined;
          await r.ready;
          return r === this.running ? r.conn : undefined;
        },
        onConnectionError: (_m, message) => log(`port: ${message}`),
      });
      log(`published ${this.forwarder.ports.map(formatPort).join(', ')}`);
    }
    await this.bootVm();
    await this.listen();
    this.store.setState(this.rec.name, 'running');
    log(`machine ${this.rec.name} is running`);
  }

  private async bootVm(): Promise<void> {
    const launched = await launchVm({
      cpus: this.rec.cpus,
      memoryMiB: this.rec.memoryMiB,
      dataDisk: join(this.dir, FILE_NAMES.disk),
      balloon: true,
      runDir: this.runDir,
      consoleLogPath: join(this.dir, FILE_NAMES.console),
      image: this.rec.image,
      ...(this.rec.volumes.length > 0 ? { volumes: this.rec.volumes } : {}),
    });
    const { vm } = launched;
    const channel = vm.takeChannel();
    const relay = new AgentRelay((b) => void channel.write(b), vm.hello);
    channel.onData((d) => {
      try {
        relay.fromAgent(d);
      } catch (e) {
        log(`agent channel broken: ${(e as Error).message}`);
        vm.kill();
      }
    });
    // The supervisor's own client (init commands, health checks) goes through the relay like any other.
    const link: { client?: ReturnType<AgentRelay['attach']> } = {};
    const conn = new AgentConnection({ send: (b) => link.client!.receive(b) });
    link.client = relay.attach((b) => conn.receive(b), () => conn.close());
    const handshake = conn.handshake();
    handshake.catch(() => {});
    const running: Running = { launched, relay, conn, ready: handshake };
    this.running = running;
    // Only the current VM's exit counts: a VM we replaced or gave up on must not trigger another restart.
    void vm.exited.then((x) => {
      if (this.running === running) void this.onVmExit(`${x.signal ?? `exit code ${x.code}`}`);
    });
    // Init commands and health checks see what `machine exec` sees: the image's env and working directory
    // under the machine's own.
    const imageConfig = launched.image?.config;
    this.execEnv = mergeEnv(BASE_ENV, imageConfig?.env ?? [], this.rec.env);
    this.execCwd = this.rec.workdir ?? imageConfig?.workingDir ?? undefined;
    try {
      await handshake;
      await this.runInit(conn);
    } catch (e) {
      this.running = undefined;
      relay.closeAll('start failed');
      vm.kill();
      await vm.exited;
      await launched.cleanup();
      throw e;
    }
    this.startHealthChecks();
  }

  private async runInit(conn: AgentConnection): Promise<void> {
    for (const cmd of this.rec.init) {
      let output = '';
      const s = conn.exec(
        { argv: ['/bin/sh', '-c', cmd], env: this.execEnv, ...(this.execCwd ? { cwd: this.execCwd } : {}) },
        { onStdout: (d) => void (output += d.toString()), onStderr: (d) => void (output += d.toString()) },
      );
      const x = await s.exited;
      log(`init: ${cmd} -> exit ${x.exitCode}`);
      if (x.exitCode !== 0) {
        throw new SmolvmError(ErrorCode.INIT_FAILED, `init command "${cmd}" failed with exit code ${x.exitCode}: ${output.trim().slice(-2000)}`, {
          hint: 'Fix the command (smolvm machine update NAME --init ...) or run it by hand with smolvm machine exec.',
        });
      }
    }
  }

  private startHealthChecks(): void {
    const h = this.rec.health;
    if (!h) return;
    let failures = 0;
    const began = Date.now();
    const tick = async (): Promise<void> => {
      const r = this.running;
      if (!r || this.stopping) return;
      let ok = false;
      try {
        const s = r.conn.exec({ argv: h.exec, env: this.execEnv, ...(this.execCwd ? { cwd: this.execCwd } : {}) });
        const timer = setTimeout(() => s.signal(9), h.timeoutMs);
        const x = await s.exited;
        clearTimeout(timer);
        ok = x.exitCode === 0;
      } catch {
        ok = false;
      }
      if (ok) {
        failures = 0;
        this.healthy = true;
      } else if (Date.now() - began >= h.startupGraceMs) {
        failures++;
        log(`health check failed (${failures}/${h.retries})`);
        if (failures >= h.retries) {
          this.healthy = false;
          failures = 0;
          if (this.rec.restartPolicy !== 'never') {
            log('unhealthy: restarting the VM');
            r.launched.vm.kill();
            return;
          }
        }
      }
      this.healthTimer = setTimeout(() => void tick(), h.intervalMs);
    };
    this.healthTimer = setTimeout(() => void tick(), h.intervalMs);
  }

  private async listen(): Promise<void> {
    const clientPath = join(this.runDir, SOCKET_NAMES.client);
    const controlPath = join(this.runDir, SOCKET_NAMES.control);
    rmSync(clientPath, { force: true });
    rmSync(controlPath, { force: true });
    const data = createServer((sock) => {
      const r = this.running;
      if (!r) {
        sock.destroy();
        return;
      }
      this.clients++;
      const c = r.relay.attach((b) => void sock.write(b), () => sock.end());
      sock.on('data', (d: Buffer) => c.receive(d));
      sock.on('error', () => {});
      sock.on('close', () => {
        this.clients--;
        c.close();
      });
    });
    const control = createServer((sock) => {
      sock.on('error', () => {});
      sock.on(
        'data',
        lineReader(
          (line) => void this.control(line).then((res) => sock.end(JSON.stringify(res) + '\n')),
          () => sock.destroy(),
        ),
      );
    });
    const listen = (srv: Server, path: string): Promise<void> =>
      new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(path, () => resolve());
      });
    const old = process.umask(0o177); // sockets 0600
    try {
      await listen(data, clientPath);
      await listen(control, controlPath);
    } finally {
      process.umask(old);
    }
    this.servers = [data, control];
  }

  private async control(line: string): Promise<object> {
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      return { ok: false, error: { code: ErrorCode.INVALID_OPTION, message: 'control request is not JSON' } };
    }
    switch (req.op) {
      case 'status': {
        const result: SupervisorStatus = {
          state: this.stopping ? 'stopping' : this.running ? 'running' : 'starting',
          supervisorPid: process.pid,
          vmmPid: this.running?.launched.vm.pid,
          startedAt: this.startedAt,
          restartCount: this.restartCount,
          healthy: this.healthy,
          clients: this.clients,
        };
        return { ok: true, result };
      }
      case 'stats': {
        const result: SupervisorStats = { supervisorRssBytes: rssBytes(process.pid), vmmRssBytes: rssBytes(this.running?.launched.vm.pid) };
        return { ok: true, result };
      }
      case 'stop':
        await this.stop('stopped by request', req.timeoutMs);
        return { ok: true, result: {} };
      default:
        return { ok: false, error: { code: ErrorCode.INVALID_OPTION, message: `unknown control op ${(req as { op: string }).op}` } };
    }
  }

  stop(reason: string, timeoutMs = 10_000, final: 'stopped' | 'failed' = 'stopped'): Promise<void> {
    this.stopping ??= (async () => {
      log(`stopping: ${reason}`);
      clearTimeout(this.healthTimer);
      try {
        this.store.setState(this.rec.name, 'stopping');
      } catch (e) {
        log(`state: ${(e as Error).message}`);
      }
      const r = this.running;
      if (r) {
        // Published ports first: their connections end as part of the stop, not as errors after it.
        await this.forwarder?.close();
        r.relay.closeAll('the machine is stopping');
        // SHUTDOWN goes straight to the agent (the relay refuses it from clients).
        await r.launched.vm.shutdown(timeoutMs);
        await r.launched.cleanup();
      }
      this.finish(final, reason);
    })();
    return this.stopping;
  }

  private finish(state: 'stopped' | 'failed', reason: string): void {
    for (const s of this.servers) s.close();
    void this.forwarder?.close();
    try {
      rmSync(this.runDir, { recursive: true, force: true });
    } catch (e) {
      log(`cannot remove ${this.runDir}: ${(e as Error).message}`);
    }
    try {
      this.store.setState(this.rec.name, state, { supervisorPid: null, lastExitReason: reason, restartCount: this.restartCount });
    } catch (e) {
      log(`state: ${(e as Error).message}`);
    }
    this.store.close();
    log(`machine ${this.rec.name} ${state}: ${reason}`);
    // Exit after the response to a stop request has been flushed. This file is the supervisor program's
    // entry point, not library code, so it owns its process's exit.
    // eslint-disable-next-line no-restricted-properties
    setTimeout(() => process.exit(state === 'stopped' ? 0 : 1), 50).unref();
  }

  private async onVmExit(how: string): Promise<void> {
    if (this.stopping) return;
    const r = this.running;
    this.running = undefined;
    clearTimeout(this.healthTimer);
    r?.relay.closeAll(`the VM exited unexpectedly (${how})`);
    log(`VM exited unexpectedly (${how})`);
    const policy = this.rec.restartPolicy;
    const max = this.rec.restartMaxRetries;
    if (policy === 'never' || (max !== null && this.restartCount >= max)) {
      this.stopping = Promise.resolve();
      this.finish(policy === 'never' ? 'stopped' : 'failed', `the VM exited unexpectedly (${how})${policy === 'never' ? '' : `; gave up after ${this.restartCount} restarts`}`);
      return;
    }
    const delay = Math.min(1000 * 2 ** this.restartCount, this.rec.restartMaxBackoffMs);
    this.restartCount++;
    log(`restart ${this.restartCount} in ${delay} ms (policy ${policy})`);
    await new Promise((res) => setTimeout(res, delay));
    if (this.stopping) return;
    try {
      // The record stays `running` across a restart; the count is recorded when the machine stops.
      await this.bootVm();
      log(`restarted (restart ${this.restartCount})`);
    } catch (e) {
      log(`restart failed: ${(e as Error).message}`);
      void this.onVmExit('restart failed');
    }
  }
}

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name) {
    process.stderr.write('usage: supervisor-main NAME\n');
    process.exitCode = 2;
    return;
  }
  const store = openStateStore();
  const rec = store.getMachine(name);
  const sup = new Supervisor(store, rec);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void sup.stop(`received ${sig}`));
  try {
    await sup.start();
    report({ ready: true, pid: process.pid });
  } catch (e) {
    const err = e as SmolvmError;
    log(`start failed: ${err.message}`);
    // Clean up and record `failed` first, so whoever waits for the answer sees the final state.
    await sup.stop(`start failed: ${err.message}`, 5_000, 'failed').catch(() => {});
    report({ error: { code: err.code ?? ErrorCode.MACHINE_START_FAILED, message: err.message, hint: err.hint } });
    process.exitCode = 1;
  }
}

void main();
