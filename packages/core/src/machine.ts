import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { resolveGuestAssets } from '@smolvm/guest';
import type { AgentConnection, ExecStream } from '@smolvm/protocol';
import { selectEngine } from './select-engine.js';
import { ErrorCode, SmolvmError } from './errors.js';
import { BASE_ENV, checkCpus, checkMemory, mergeEnv, normalizeEnv } from './options.js';

/** Output callback; return a promise to hold the guest's output until you have consumed the chunk. */
export type OutputHandler = (chunk: Buffer) => void | Promise<void>;

export interface RunOptions {
  /** Program and arguments, looked up in the guest's PATH. */
  cmd: string[];
  /** Extra environment (`{K: V}` or `['K=V']`), on top of PATH, HOME and HOSTNAME. */
  env?: Record<string, string> | string[];
  /** Working directory in the guest. */
  cwd?: string;
  cpus?: number;
  memoryMiB?: number;
  /** Streams stdout as it arrives (it is still collected in the result unless `collectOutput` is false). */
  onStdout?: OutputHandler;
  onStderr?: OutputHandler;
  /** Collect stdout/stderr into the result (default true). */
  collectOutput?: boolean;
  /** Most bytes collected per stream; the rest is dropped and `truncated` set (default 64 MiB). */
  maxOutputBytes?: number;
  signal?: AbortSignal;
  /** One-line notices meant for a person (e.g. that the host runs VMs under software emulation). */
  onNotice?: (message: string) => void;
  /** Environment smolvm itself reads (SMOLVM_* settings); defaults to `process.env`. */
  hostEnv?: NodeJS.ProcessEnv;
  /** Keep the guest console log here instead of discarding it with the VM's temporary directory. */
  consoleLogPath?: string;
}

export interface RunResult {
  /** The workload's exit code; 128 + n when it was killed by signal n; 127 when the command was not found. */
  exitCode: number;
  /** The terminating signal's name, or null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when output beyond `maxOutputBytes` was dropped. */
  truncated: boolean;
}

const signalName = (n: number): NodeJS.Signals | null =>
  (Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? null;

/** Collects a stream's output up to a byte limit. */
class Collector {
  private parts: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  add(b: Buffer): void {
    const room = this.limit - this.size;
    if (room <= 0) {
      this.truncated ||= b.length > 0;
      return;
    }
    const take = b.length > room ? b.subarray(0, room) : b;
    if (take.length < b.length) this.truncated = true;
    this.parts.push(Buffer.from(take));
    this.size += take.length;
  }
  text(): string {
    return Buffer.concat(this.parts, this.size).toString('utf8');
  }
}

export class Machine {
  /**
   * Boots a fresh microVM on the default image, runs one command, and tears the VM down again. Nothing
   * is left behind: no process, socket or temporary file.
   */
  static async run(options: RunOptions): Promise<RunResult> {
    if (!Array.isArray(options.cmd) || options.cmd.length === 0 || options.cmd.some((a) => typeof a !== 'string')) {
      throw new SmolvmError(ErrorCode.INVALID_OPTION, 'cmd must be a non-empty array of strings', { hint: "For example: { cmd: ['uname', '-a'] }" });
    }
    const cpus = checkCpus(options.cpus);
    const memoryMiB = checkMemory(options.memoryMiB);
    const env = mergeEnv(BASE_ENV, normalizeEnv(options.env));
    const hostEnv = options.hostEnv ?? process.env;
    const engine = selectEngine(hostEnv);
    engine.check();
    const assets = await resolveGuestAssets(hostEnv);

    const runDir = await mkdtemp(join(tmpdir(), 'smolvm-'));
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
        { signal: options.signal, onNotice: options.onNotice },
      );
      try {
        return await execCollect(vm.connection, { ...options, env }, vm.exited);
      } finally {
        await vm.shutdown(5_000);
      }
    } finally {
      await rm(runDir, { recursive: true, force: true });
    }
  }
}

async function execCollect(
  conn: AgentConnection,
  options: RunOptions & { env: string[] },
  vmExited: Promise<unknown>,
): Promise<RunResult> {
  const limit = options.maxOutputBytes ?? 64 * 1024 * 1024;
  const collect = options.collectOutput !== false;
  const out = new Collector(limit);
  const err = new Collector(limit);
  let stream: ExecStream | undefined;
  const deliver = (fd: 1 | 2, handler: OutputHandler | undefined, sink: Collector) => (chunk: Buffer) => {
    if (collect) sink.add(chunk);
    const r = handler?.(chunk);
    if (r && typeof (r as Promise<void>).then === 'function') {
      void (r as Promise<void>).then(() => stream?.ack(fd, chunk.length));
    } else {
      stream?.ack(fd, chunk.length);
    }
  };
  stream = conn.exec(
    { argv: options.cmd, env: options.env, ...(options.cwd !== undefined ? { cwd: options.cwd } : {}) },
    { onStdout: deliver(1, options.onStdout, out), onStderr: deliver(2, options.onStderr, err), manualAck: true },
  );
  const onAbort = (): void => stream?.signal(osConstants.signals.SIGKILL);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const exit = await Promise.race([
      stream.exited,
      vmExited.then(() => {
        throw new SmolvmError(ErrorCode.VM_DIED, 'the VM stopped while the command was running', {
          hint: 'The guest may have run out of memory or crashed; try more memory (--mem).',
        });
      }),
    ]);
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    return {
      exitCode: exit.exitCode,
      signal: exit.signal ? signalName(exit.signal) : null,
      stdout: out.text(),
      stderr: err.text(),
      truncated: out.truncated || err.truncated,
    };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
