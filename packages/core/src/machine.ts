import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveGuestAssets } from '@smolvm/guest';
import type { AgentConnection } from '@smolvm/protocol';
import type { RunningVm } from './engine.js';
import { ErrorCode, SmolvmError } from './errors.js';
import { MachineFiles } from './files.js';
import { BASE_ENV, checkCpus, checkMemory, mergeEnv, normalizeEnv } from './options.js';
import { GuestProcess, type ProcessExit } from './process.js';
import { selectEngine } from './select-engine.js';
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
  /** Program and arguments, looked up in the guest's PATH. */
  cmd: string[];
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

/** A running microVM. */
export class Machine {
  /** Files in the machine's root file system. */
  readonly files: MachineFiles;
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly vm: RunningVm,
    private readonly cleanup: () => Promise<void>,
  ) {
    this.files = new MachineFiles(() => this.connection);
  }

  private get connection(): AgentConnection {
    if (this.stopping) throw new SmolvmError(ErrorCode.VM_DIED, 'the machine has been stopped', { hint: 'Boot a new one.' });
    return this.vm.connection;
  }

  /**
   * Boots a fresh microVM on the default image, owned by this process: `stop()` (or `await using`) ends
   * it and removes everything it used. If this process dies, the VM goes with it.
   */
  static async boot(options: MachineOptions = {}): Promise<Machine> {
    const cpus = checkCpus(options.cpus);
    const memoryMiB = checkMemory(options.memoryMiB);
    const hostEnv = options.hostEnv ?? process.env;
    const engine = selectEngine(hostEnv);
    engine.check();
    const assets = await resolveGuestAssets(hostEnv);
    const runDir = await mkdtemp(join(tmpdir(), 'smolvm-'));
    const removeRunDir = (): Promise<void> => rm(runDir, { recursive: true, force: true });
    try {
      const vm = await engine.boot(
        {
          cpus,
          memoryMiB,
          kernel: assets.kernel,
          initramfs: assets.initramfs,
          rootDisk: assets.rootfs,
          consoleLog: options.consoleLogPath ?? join(runDir, 'console.log'),
          runDir,
        },
        { ...(options.signal ? { signal: options.signal } : {}), ...(options.onNotice ? { onNotice: options.onNotice } : {}) },
      );
      return new Machine(vm, removeRunDir);
    } catch (e) {
      await removeRunDir();
      throw e;
    }
  }

  /** Boots a fresh microVM, runs one command in it, and tears the VM down again. */
  static async run(options: RunOptions): Promise<RunResult> {
    checkCmd(options.cmd);
    normalizeEnv(options.env);
    const machine = await Machine.boot(options);
    try {
      return await machine.exec(options.cmd, options);
    } finally {
      await machine.stop();
    }
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
      this.raceVm(proc.exited),
      pump(proc.stdout, out, options.onStdout),
      pump(proc.stderr, err, options.onStderr),
      feeding,
    ]);
    return { ...exit, stdout: out.text(), stderr: err.text(), truncated: out.truncated || err.truncated };
  }

  /** Starts a command and hands back a ChildProcess-like handle with Node streams. */
  async spawn(cmd: string[], options: SpawnOptions = {}): Promise<GuestProcess> {
    checkCmd(cmd);
    const env = mergeEnv(BASE_ENV, options.tty ? ['TERM=xterm-256color'] : [], normalizeEnv(options.env));
    const ids = options.user !== undefined ? await resolveUser(this.files, options.user) : undefined;
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    return new GuestProcess(this.connection, cmd, {
      env,
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
      ...(options.tty ? { tty: options.tty } : {}),
      stdin: options.stdin ?? true,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** Round trip of a no-op protocol frame (the floor for exec latency). */
  ping(): Promise<void> {
    return this.connection.ping();
  }

  /** Powers the VM off (the guest syncs first) and removes its runtime files. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.vm.shutdown(5_000);
      } finally {
        await this.cleanup();
      }
    })();
    return this.stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  private raceVm<T>(p: Promise<T>): Promise<T> {
    return Promise.race([
      p,
      this.vm.exited.then(() => {
        throw new SmolvmError(ErrorCode.VM_DIED, 'the VM stopped while the command was running', {
          hint: 'The guest may have run out of memory or crashed; try more memory.',
        });
      }),
    ]);
  }
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
