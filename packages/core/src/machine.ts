import { join } from 'node:path';
import type { AgentConnection } from '@smolvm/protocol';
import { growDisk } from './disk.js';
import {
  connectPersistent,
  createPersistent,
  hostStatsPersistent,
  removePersistent,
  startPersistent,
  statusPersistent,
  stopPersistent,
  machineDirOf,
  withStore,
  type MachineConnection,
} from './persistent.js';
import { checkMachineName, type MachineConfigInput, type MachineConfigPatch, type MachineRecord } from './state/index.js';
import type { SupervisorStats, SupervisorStatus } from './supervisor/control.js';
import { FILE_NAMES } from './supervisor/paths.js';
import type { RunningVm } from './engine.js';
import { ErrorCode, SmolvmError } from './errors.js';
import { MachineFiles } from './files.js';
import { launchVm } from './launch.js';
import { checkVolumeHostDirs, normalizeVolumes, type VolumeInput } from './volumes.js';
import { qemuVolumeCapacity } from './qemu-engine.js';
import { selectEngine } from './select-engine.js';
import { normalizePorts, type PortInput, type PortMapping } from './ports.js';
import { PortForwarder } from './port-forwarder.js';
import { imageCommand, resolveImage, storedImageConfig, type ImageInput, type ImagePullOptions, type ResolvedImage } from './images.js';
import type { ImageConfig } from '@smolvm/oci';
import { BASE_ENV, mergeEnv, normalizeEnv } from './options.js';
import { GuestProcess, type ProcessExit } from './process.js';
import { resolveUser } from './user.js';

/** Output callback; return a promise to hold the guest's output until you have consumed the chunk. */
export type OutputHandler = (chunk: Buffer) => void | Promise<void>;

export interface MachineOptions {
  cpus?: number;
  memoryMiB?: number;
  signal?: AbortSignal;
  /** One-line notices meant for a person (e.g. that the host runs VMs under software emulation). */
  onNotice?: (message: string) => void;
  /** Environment smolvm itself reads (SMOLVM_* settings); defaults to `process.env`. */
  hostEnv?: NodeJS.ProcessEnv;
  /** Keep the guest console log here instead of discarding it with the VM's temporary directory. */
  consoleLogPath?: string;
  /**
   * The image to boot instead of the built-in busybox one: a registry reference (`alpine:3.20`,
   * `ghcr.io/org/app@sha256:…`), `docker-archive:PATH`, `oci-archive:PATH`, `oci:DIR`, `rootfs:DIR`, a
   * path (archive file, OCI layout or root filesystem directory), or an `ImageSource` (e.g. an archive
   * stream), or the result of `resolveImage`. Pulled or imported when missing; its disk is built once per
   * digest and shared.
   */
  image?: ImageInput | ResolvedImage;
  /** Platform to pick from a multi-platform image (`linux/arm64`); default: the host's. */
  platform?: string;
  /** Allow plain http to a registry that is not on loopback. */
  insecureRegistry?: boolean;
  /** Image download and disk build progress. */
  onProgress?: ImagePullOptions['onProgress'];
  /**
   * Host directories to mount in the machine: `"HOST:GUEST"`, `"HOST:GUEST:ro"`, or
   * `{ hostPath, guestPath, readOnly? }`. Relative host paths start from `process.cwd()`; each host path must
   * be an existing directory (checked before boot, `SMOLVM_ERR_VOLUME_NOT_FOUND`). Guest paths are absolute,
   * without `..`, spaces or ":" (`SMOLVM_ERR_INVALID_VOLUME`). Files appear owned by the host user (QEMU's
   * 9p `security_model=none`: no privilege needed, ownership changes in the guest are refused). Persistent
   * machines take `volumes` in `Machine.create` / `update` and mount them at every start.
   */
  volumes?: readonly VolumeInput[];
  /**
   * Ports to publish: `"HOST:GUEST"` (host loopback), `"ADDRESS:HOST:GUEST"`, `"[IPv6]:HOST:GUEST"`, or
   * `{ hostPort, guestPort, hostAddress? }` (hostPort 0: any free port; `machine.ports` says which). A
   * connection to the host port reaches 127.0.0.1:GUEST in the machine, carried over the agent channel: the
   * machine still has no network. Host ports are bound before boot (`SMOLVM_ERR_PORT_UNAVAILABLE` when one
   * cannot be); connections to a guest port where nothing listens are reset (see `onPortError`).
   */
  ports?: readonly PortInput[];
  /** A forwarded connection that could not reach the service in the machine (nothing listens, a reset). */
  onPortError?: (message: string) => void;
}

export interface ExecOptions {
  /** Extra environment (`{K: V}` or `['K=V']`), on top of PATH, HOME and HOSTNAME. */
  env?: Record<string, string> | string[];
  /** Working directory in the guest. */
  cwd?: string;
  /** `uid`, `uid:gid`, a user name from the guest's /etc/passwd, or `name:group`. */
  user?: string | number;
  /** Data for the process's stdin (EOF follows it). */
  stdin?: Buffer | string | NodeJS.ReadableStream | AsyncIterable<Uint8Array>;
  /** Kill the process (SIGKILL) after this long; the result says `timedOut`. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Streams stdout as it arrives (it is still collected unless `collectOutput` is false). */
  onStdout?: OutputHandler;
  onStderr?: OutputHandler;
  /** Collect stdout/stderr into the result (default true). */
  collectOutput?: boolean;
  /** Most bytes collected per stream; the rest is dropped and `truncated` set (default 64 MiB). */
  maxOutputBytes?: number;
  /** Run under a pseudo-terminal of this size. */
  tty?: { rows: number; cols: number };
}

export interface ExecResult extends ProcessExit {
  stdout: string;
  stderr: string;
  /** True when output beyond `maxOutputBytes` was dropped. */
  truncated: boolean;
}

export interface RunOptions extends MachineOptions, Omit<ExecOptions, 'signal'> {
  /**
   * Program and arguments, looked up in the guest's PATH. With an image, as `docker run` does: the image's
   * Entrypoint runs with these as its arguments; without `cmd`, with the image's Cmd. Required when
   * neither the image nor `entrypoint` names a program.
   */
  cmd?: string[];
  /** Replaces the image's Entrypoint (`[]` clears it); the image's Cmd then no longer applies. */
  entrypoint?: string[];
}

export type RunResult = ExecResult;

export interface SpawnOptions extends Omit<ExecOptions, 'stdin' | 'onStdout' | 'onStderr' | 'collectOutput' | 'maxOutputBytes'> {
  /** Open stdin for writing (default true). */
  stdin?: boolean;
}

/** Collects a stream's output up to a byte limit. */
class Collector {
  private parts: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  add(b: Buffer): void {
    const room = this.limit - this.size;
    if (b.length > room) this.truncated = true;
    if (room <= 0) return;
    const take = b.length > room ? b.subarray(0, room) : b;
    this.parts.push(Buffer.from(take));
    this.size += take.length;
  }
  text(): string {
    return Buffer.concat(this.parts, this.size).toString('utf8');
  }
}

function checkCmd(cmd: unknown): string[] {
  if (!Array.isArray(cmd) || cmd.length === 0 || cmd.some((a) => typeof a !== 'string')) {
    throw new SmolvmError(ErrorCode.INVALID_OPTION, 'cmd must be a non-empty array of strings', { hint: "For example: ['uname', '-a']" });
  }
  return cmd as string[];
}

export interface CreateOptions extends MachineConfigInput, Pick<MachineOptions, 'platform' | 'insecureRegistry' | 'onProgress' | 'signal'> {
  /** Environment smolvm itself reads (SMOLVM_HOME and other settings); defaults to `process.env`. */
  hostEnv?: NodeJS.ProcessEnv;
}

export interface MachineInfo extends MachineRecord {
  /** Live facts from the supervisor while the machine runs. */
  status?: SupervisorStatus;
  /** The machine's directory: writable disk, console and supervisor logs. */
  dir: string;
}

export interface MachineStats {
  guest: { memTotalBytes: number; memAvailableBytes: number; load1: number; diskUsedBytes: number; diskTotalBytes: number; cpus: number };
  host: SupervisorStats;
}

interface Backend {
  connect(): Promise<AgentConnection>;
  /** Rejects/resolves when the VM (or the connection to it) ends. */
  ended(): Promise<never>;
  stop(timeoutMs?: number): Promise<void>;
  /** Drops this process's connection (the machine keeps running). */
  disconnect(): void;
}

/** An ephemeral VM owned by this process. */
function ownedBackend(vm: RunningVm, cleanup: () => Promise<void>, beforeStop: () => Promise<void> | undefined = () => undefined): Backend {
  let stopping: Promise<void> | undefined;
  const ended = vm.exited.then(() => {
    throw new SmolvmError(ErrorCode.VM_DIED, 'the VM stopped while the command was running', {
      hint: 'The guest may have run out of memory or crashed; try more memory.',
    });
  });
  ended.catch(() => {});
  return {
    connect: async () => {
      if (stopping) throw new SmolvmError(ErrorCode.VM_DIED, 'the machine has been stopped', { hint: 'Boot a new one.' });
      return vm.connection;
    },
    ended: () => ended,
    stop: (timeoutMs = 5_000) => {
      stopping ??= (async () => {
        try {
          // Published ports first: their open connections end as part of the stop, not as errors after it.
          await beforeStop();
          await vm.shutdown(timeoutMs);
        } finally {
          await cleanup();
        }
      })();
      return stopping;
    },
    disconnect: () => {},
  };
}

/** A persistent machine, reached through its supervisor. */
function supervisedBackend(name: string, env: NodeJS.ProcessEnv): Backend {
  let current: Promise<MachineConnection> | undefined;
  const get = (): Promise<MachineConnection> => {
    current ??= connectPersistent(name, env).then((c) => {
      void c.closed.then(() => (current = undefined));
      return c;
    });
    current.catch(() => (current = undefined));
    return current;
  };
  return {
    connect: async () => (await get()).connection,
    ended: async () => {
      const c = await get();
      await c.closed;
      throw new SmolvmError(ErrorCode.VM_DIED, `the connection to machine ${name} closed while the command was running`, {
        hint: `The machine may have been stopped; see smolvm machine logs ${name}.`,
      });
    },
    stop: async (timeoutMs = 10_000) => {
      const c = current;
      current = undefined;
      if (c) (await c.catch(() => undefined))?.close();
      await stopPersistent(name, env, timeoutMs);
    },
    disconnect: () => {
      const c = current;
      current = undefined;
      void c?.then((x) => x.close(), () => {});
    },
  };
}

/**
 * A microVM. Ephemeral ones (`Machine.boot`, `Machine.run`) belong to this process; persistent ones
 * (`Machine.create`, `Machine.get`) have a name, survive this process, and are the same machines the CLI
 * shows.
 */
export class Machine {
  /** Files in the machine's root file system. */
  readonly files: MachineFiles;
  /** The name of a persistent machine; undefined for an ephemeral one. */
  readonly name: string | undefined;
  private readonly backend: Backend;
  private readonly hostEnv: NodeJS.ProcessEnv;
  /** Defaults a persistent machine applies to every exec (its env and workdir). */
  private defaults: { env: string[]; workdir: string | null } = { env: [], workdir: null };
  /** The image recorded for a persistent machine (its config is read from the store when first needed). */
  private recordedImage: string | null = null;
  /** Published ports (ephemeral: as bound; persistent: as recorded). */
  private publishedPorts: readonly PortMapping[] = [];
  /** The image config applied under the machine's own defaults; loaded once (and its WorkingDir made). */
  private imageDefaults: Promise<ImageConfig | null> | undefined;

  private constructor(backend: Backend, name: string | undefined, hostEnv: NodeJS.ProcessEnv) {
    this.backend = backend;
    this.name = name;
    this.hostEnv = hostEnv;
    this.files = new MachineFiles(() => this.backend.connect());
  }

  /**
   * Boots a fresh microVM on the default image, owned by this process: `stop()` (or `await using`) ends
   * it and removes everything it used. If this process dies, the VM goes with it.
   */
  static async boot(options: MachineOptions = {}): Promise<Machine> {
    const mappings = normalizePorts(options.ports);
    // Ports are bound once the checks pass and right before the VM boots, so a port in use fails at once
    // and leaves nothing running.
    const live: { connection?: AgentConnection } = {};
    let forwarder: PortForwarder | undefined;
    const bindPorts = async (): Promise<void> => {
      forwarder = await PortForwarder.open(mappings, {
        connection: () => live.connection,
        ...(options.onPortError ? { onConnectionError: (_m: PortMapping, msg: string) => options.onPortError!(msg) } : {}),
      });
    };
    let launched: Awaited<ReturnType<typeof launchVm>>;
    try {
      launched = await launchVm({ ...options, ...(mappings.length > 0 ? { beforeBoot: bindPorts } : {}) });
    } catch (e) {
      await forwarder?.close();
      throw e;
    }
    const { vm, image, cleanup } = launched;
    live.connection = vm.connection;
    const m = new Machine(
      ownedBackend(vm, cleanup, () => forwarder?.close()),
      undefined,
      options.hostEnv ?? process.env,
    );
    m.publishedPorts = forwarder?.ports ?? [];
    if (image) m.imageDefaults = m.prepareImage(image.config);
    return m;
  }

  /** Boots a fresh microVM, runs one command in it, and tears the VM down again. */
  static async run(options: RunOptions): Promise<RunResult> {
    if (options.cmd !== undefined || (options.image === undefined && options.entrypoint === undefined)) checkCmd(options.cmd);
    if (options.entrypoint !== undefined && !(Array.isArray(options.entrypoint) && options.entrypoint.every((a) => typeof a === 'string'))) {
      throw new SmolvmError(ErrorCode.INVALID_OPTION, 'entrypoint must be an array of strings', { hint: "For example: ['/bin/sh', '-c']" });
    }
    normalizeEnv(options.env);
    const machine = await Machine.boot(options);
    try {
      const cmd = imageCommand(await machine.imageConfig(), options.cmd, options.entrypoint);
      if (cmd.length === 0) {
        const shown = typeof options.image === 'string' ? options.image : 'the image';
        throw new SmolvmError(ErrorCode.INVALID_OPTION, `no command to run: ${shown} sets no Entrypoint or Cmd`, {
          hint: "Give the command, e.g. cmd: ['sh', '-c', 'echo hi'] (CLI: after --).",
        });
      }
      return await machine.exec(cmd, options);
    } finally {
      await machine.stop();
    }
  }

  /** Records a new persistent machine (stopped) with its own writable disk. */
  static async create(name: string, options: CreateOptions = {}): Promise<Machine> {
    const { hostEnv = process.env, platform, insecureRegistry, onProgress, signal, ...config } = options;
    // Volumes first: a wrong one is reported before a long image pull, not after.
    if (config.volumes !== undefined) config.volumes = await checkPersistentVolumes(config.volumes, hostEnv);
    if (config.image) {
      checkMachineName(name);
      // Pull and build now (errors surface here, not at start), and record the digest it resolved to.
      const pull = { hostEnv, ...(platform !== undefined ? { platform } : {}), ...(insecureRegistry ? { insecureRegistry } : {}), ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) };
      config.image = (await resolveImage(config.image, pull)).pinned;
    }
    const rec = await createPersistent({ name, ...config }, hostEnv);
    return Machine.fromRecord(rec, hostEnv);
  }

  /** The persistent machine called `name` (SMOLVM_ERR_MACHINE_NOT_FOUND if there is none). */
  static async get(name: string, options: { hostEnv?: NodeJS.ProcessEnv } = {}): Promise<Machine> {
    const hostEnv = options.hostEnv ?? process.env;
    return Machine.fromRecord(withStore(hostEnv, (s) => s.getMachine(name)), hostEnv);
  }

  /** Every persistent machine, with its current state. */
  static async list(options: { hostEnv?: NodeJS.ProcessEnv } = {}): Promise<MachineRecord[]> {
    return withStore(options.hostEnv ?? process.env, (s) => s.listMachines());
  }

  private static fromRecord(rec: MachineRecord, hostEnv: NodeJS.ProcessEnv): Machine {
    const m = new Machine(supervisedBackend(rec.name, hostEnv), rec.name, hostEnv);
    m.defaults = { env: rec.env, workdir: rec.workdir };
    m.recordedImage = rec.image;
    m.publishedPorts = rec.ports;
    return m;
  }

  /**
   * The machine's published ports: for an ephemeral machine as bound (a host port given as 0 is the one
   * the host chose), for a persistent one as recorded (bound while it runs).
   */
  get ports(): readonly PortMapping[] {
    return this.publishedPorts;
  }

  private requireName(op: string): string {
    if (this.name === undefined) {
      throw new SmolvmError(ErrorCode.INVALID_OPTION, `${op} applies to persistent machines`, { hint: 'Create one with Machine.create(name).' });
    }
    return this.name;
  }

  /** Starts a persistent machine (no-op if it runs). */
  async start(): Promise<void> {
    const rec = await startPersistent(this.requireName('start'), this.hostEnv);
    this.defaults = { env: rec.env, workdir: rec.workdir };
    this.recordedImage = rec.image;
    this.publishedPorts = rec.ports;
    this.imageDefaults = undefined;
  }

  /** Stops the machine: the guest syncs and powers off; forced after `timeoutMs`. Idempotent. */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.backend.stop(options.timeoutMs);
  }

  async restart(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.stop(options);
    await this.start();
  }

  /** Deletes a persistent machine and its disk (`force` stops it first if it runs). */
  async remove(options: { force?: boolean } = {}): Promise<void> {
    await removePersistent(this.requireName('remove'), this.hostEnv, options.force ?? false);
  }

  /** The machine's record, and live status while it runs. */
  async inspect(): Promise<MachineInfo> {
    const name = this.requireName('inspect');
    const rec = withStore(this.hostEnv, (s) => s.getMachine(name));
    const dir = machineDirOf(name, this.hostEnv);
    const status = await statusPersistent(rec, this.hostEnv);
    return { ...rec, dir, ...(status ? { status } : {}) };
  }

  /** Changes resources or settings of a stopped persistent machine. */
  async update(patch: MachineConfigPatch): Promise<MachineRecord> {
    const name = this.requireName('update');
    if (patch.image) patch = { ...patch, image: (await resolveImage(patch.image, { hostEnv: this.hostEnv })).pinned };
    if (patch.volumes !== undefined) patch = { ...patch, volumes: await checkPersistentVolumes(patch.volumes, this.hostEnv) };
    const rec = withStore(this.hostEnv, (s) => s.updateMachine(name, patch));
    if (patch.storageGiB !== undefined) await growDisk(join(machineDirOf(name, this.hostEnv), FILE_NAMES.disk), rec.storageGiB);
    this.defaults = { env: rec.env, workdir: rec.workdir };
    this.recordedImage = rec.image;
    this.publishedPorts = rec.ports;
    this.imageDefaults = undefined;
    return rec;
  }

  /** Guest CPU, memory and disk, and the host memory of the supervisor and VMM. */
  async stats(): Promise<MachineStats> {
    const name = this.requireName('stats');
    const rec = withStore(this.hostEnv, (s) => s.getMachine(name));
    const host = await hostStatsPersistent(rec, this.hostEnv);
    const r = await this.exec(['sh', '-c', 'cat /proc/meminfo /proc/loadavg; nproc; df -k / | tail -n 1'], { env: [] });
    const num = (re: RegExp): number => Number(re.exec(r.stdout)?.[1] ?? 0);
    const df = r.stdout.trim().split('\n').pop()!.trim().split(/\s+/);
    const lines = r.stdout.trim().split('\n');
    return {
      guest: {
        memTotalBytes: num(/MemTotal:\s+(\d+)/) * 1024,
        memAvailableBytes: num(/MemAvailable:\s+(\d+)/) * 1024,
        load1: Number(/^([\d.]+) [\d.]+ [\d.]+ /m.exec(r.stdout)?.[1] ?? 0),
        cpus: Number(lines[lines.length - 2] ?? 0),
        diskTotalBytes: Number(df[1] ?? 0) * 1024,
        diskUsedBytes: Number(df[2] ?? 0) * 1024,
      },
      host,
    };
  }

  /** Paths of the guest console log and the supervisor's log. */
  logPaths(): { console: string; supervisor: string } {
    const dir = machineDirOf(this.requireName('logs'), this.hostEnv);
    return { console: join(dir, FILE_NAMES.console), supervisor: join(dir, FILE_NAMES.supervisorLog) };
  }

  /** Runs a command and resolves with its exit status and collected output. */
  async exec(cmd: string[], options: ExecOptions = {}): Promise<ExecResult> {
    checkCmd(cmd);
    const limit = options.maxOutputBytes ?? 64 * 1024 * 1024;
    const collect = options.collectOutput !== false;
    const out = new Collector(limit);
    const err = new Collector(limit);
    const proc = await this.spawn(cmd, { ...options, stdin: options.stdin !== undefined });
    const pump = async (stream: NodeJS.ReadableStream, sink: Collector, handler: OutputHandler | undefined): Promise<void> => {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (collect) sink.add(chunk);
        await handler?.(chunk);
      }
    };
    const feeding = options.stdin !== undefined ? feedStdin(proc, options.stdin) : Promise.resolve();
    const [exit] = await Promise.all([
      Promise.race([proc.exited, this.backend.ended()]),
      pump(proc.stdout, out, options.onStdout),
      pump(proc.stderr, err, options.onStderr),
      feeding,
    ]);
    return { ...exit, stdout: out.text(), stderr: err.text(), truncated: out.truncated || err.truncated };
  }

  /** Starts a command and hands back a ChildProcess-like handle with Node streams. */
  async spawn(cmd: string[], options: SpawnOptions = {}): Promise<GuestProcess> {
    checkCmd(cmd);
    const image = await this.imageConfig();
    // Later wins: the base, the image's Env, TERM for a tty, the machine's env, the caller's.
    const env = mergeEnv(BASE_ENV, image?.env ?? [], options.tty ? ['TERM=xterm-256color'] : [], this.defaults.env, normalizeEnv(options.env));
    const user = options.user ?? (image?.user || undefined);
    const ids = user !== undefined ? await resolveUser(this.files, user) : undefined;
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    const cwd = options.cwd ?? this.defaults.workdir ?? (image?.workingDir || undefined);
    return new GuestProcess(await this.backend.connect(), cmd, {
      env,
      ...(cwd !== undefined ? { cwd } : {}),
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
      ...(options.tty ? { tty: options.tty } : {}),
      stdin: options.stdin ?? true,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** The image config under this machine's defaults, loaded once (null for the default image). */
  private imageConfig(): Promise<ImageConfig | null> {
    this.imageDefaults ??= this.recordedImage
      ? storedImageConfig(this.recordedImage, this.hostEnv).then((c) => (c ? this.prepareImage(c) : null))
      : Promise.resolve(null);
    return this.imageDefaults;
  }

  /**
   * Makes the image's WorkingDir exist (as Docker does), then hands the config on. Best effort: if it
   * cannot be made, the exec says that its working directory is missing.
   */
  private async prepareImage(config: ImageConfig): Promise<ImageConfig> {
    if (config.workingDir && config.workingDir !== '/') await this.files.mkdir(config.workingDir, { parents: true }).catch(() => {});
    return config;
  }

  /** Round trip of a no-op protocol frame (the floor for exec latency). */
  async ping(): Promise<void> {
    await (await this.backend.connect()).ping();
  }

  /**
   * Closes this process's connection to a persistent machine (which keeps running), so the process can
   * exit. Any exec still running through it is killed. A later call reconnects.
   */
  disconnect(): void {
    this.backend.disconnect();
  }

  /** Ephemeral machines stop; persistent ones only disconnect. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.name === undefined) await this.stop();
    else this.disconnect();
  }
}

/**
 * A persistent machine's volumes, checked when it is created or updated rather than at its next start:
 * well formed, host directories that exist, and no more than its engine can mount with the machine's own
 * disk and balloon (QEMU's microvm has few device slots).
 */
async function checkPersistentVolumes(input: readonly VolumeInput[], hostEnv: NodeJS.ProcessEnv): Promise<VolumeInput[]> {
  const volumes = normalizeVolumes(input);
  await checkVolumeHostDirs(volumes);
  if (volumes.length > 0 && selectEngine(hostEnv).name === 'qemu') {
    const capacity = qemuVolumeCapacity({ dataDisk: 'disk', balloon: true });
    if (volumes.length > capacity) {
      throw new SmolvmError(ErrorCode.INVALID_VOLUME, `too many volumes for a persistent machine under QEMU: ${volumes.length}; it can have at most ${capacity}`, {
        hint: "QEMU's microvm has 8 device slots, and a persistent machine's disk and memory balloon take two of them. Mount a common parent directory instead.",
      });
    }
  }
  return volumes;
}

async function feedStdin(proc: GuestProcess, input: NonNullable<ExecOptions['stdin']>): Promise<void> {
  const w = proc.stdin;
  const write = (chunk: Buffer): Promise<void> =>
    new Promise((resolve, reject) => w.write(chunk, (e) => (e ? reject(e) : resolve())));
  try {
    if (typeof input === 'string' || input instanceof Uint8Array) {
      await write(Buffer.from(input));
    } else {
      for await (const chunk of input as AsyncIterable<Uint8Array>) await write(Buffer.from(chunk));
    }
  } catch {
    // The process ended before reading all of its input (like EPIPE for a local process): not an error.
  }
  w.end();
}
