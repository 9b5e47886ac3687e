// The libkrun engine. krun_start_enter never returns and ends its process, so every VM runs in its own
// child process, @smolvm/krun's runner, configured with a JSON spec on fd 3. The kernel is libkrunfw's by
// default (libkrun's init starts our agent as PID 1 from a small root directory of its own) or our own
// kernel and initramfs (SMOLVM_KERNEL, SMOLVM_KRUN_KERNEL=smolvm, or no libkrunfw); either way the agent
// mounts the image as under QEMU and reaches the host over vsock (CID 2, port KRUN_AGENT_VSOCK_PORT),
// which libkrun bridges to a unix socket this engine listens on. The runner's exit status is mapped
// back to coded errors.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import type { Writable } from 'node:stream';
import {
  describeExitStatus,
  hypervisorNode,
  KRUN_EXIT_INIT_CANNOT_EXECUTE,
  KRUN_EXIT_INIT_NOT_FOUND,
  KRUN_EXIT_INIT_SETUP_FAILED,
  parseRunnerError,
  RUNNER_EXIT_SETUP_FAILED,
  runnerPath as defaultRunnerPath,
} from '@smolvm/krun';
import { AgentConnection, type HelloInfo } from '@smolvm/protocol';
import { runningVm, waitExit } from './running-vm.js';
import type { BootOptions, Engine, RunningVm, VmExit, VmSpec } from './engine.js';
import { ErrorCode, SmolvmError, isSmolvmError } from './errors.js';
import { probeKrun, SMOLVM_KRUN_KERNEL_ENV, type KrunHostOptions, type KrunKernelChoice, type KrunKernelMode, type KrunProbe } from './krun-host.js';
import { smolvmCacheDir } from './state/paths.js';
import { agentFromInitramfs, KRUN_ROOT_AGENT_PATH, prepareKrunRoot, removeKrunRoot } from './krun-root.js';
import { KRUN_AGENT_VSOCK_PORT, KRUN_ENGINE_ERROR_CODES, krunKernelFormat, krunVmSpec, type KrunSmolvmKernelOptions } from './krun-spec.js';
import type { KrunVmSpec } from '@smolvm/krun';
import { tailFile } from './qemu-engine.js';

/** The most of the runner's stderr kept (its end: the runner's error line is its last line). */
const STDERR_LIMIT = 64 * 1024;
/** How much of libkrun's own log is quoted in an error message. */
const LOG_QUOTE = 2_000;

export interface KrunEngineOptions extends KrunHostOptions {
  /**
   * The runner to start, a Node script speaking `@smolvm/krun`'s runner protocol (`--spec-fd 3`, exit
   * 70 with a JSON error line). Default: `@smolvm/krun`'s `runnerPath`. Tests substitute a stand-in.
   */
  runnerPath?: string;
  /** @internal A probe already made for this environment (by `selectEngine`), so libkrun is not probed twice. */
  probe?: KrunProbe;
  /**
   * @internal How the runner's Node binary is found (tests): the platform (macOS needs a copy signed with the
   * hypervisor entitlement, see `@smolvm/krun`'s `hypervisorNode`) and the `codesign` to sign it with.
   */
  runnerNode?: { platform?: NodeJS.Platform; codesign?: string; nodePath?: string };
}

/** A coded error of the libkrun engine, with what the runner reported. */
export class KrunEngineError extends SmolvmError {
  /** The libkrun function that failed, when the runner named one. */
  readonly fn: string | undefined;
  readonly errno: number | undefined;
  readonly errnoName: string | undefined;
  /** The runner's exit status. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  constructor(
    code: string,
    message: string,
    options: { hint?: string | undefined; cause?: unknown; fn?: string | undefined; errno?: number | undefined; errnoName?: string | undefined; exit: VmExit },
  ) {
    super(code, message, { hint: options.hint, cause: options.cause });
    this.fn = options.fn;
    this.errno = options.errno;
    this.errnoName = options.errnoName;
    this.exitCode = options.exit.code;
    this.signal = options.exit.signal;
  }
}

// libkrun's own log lines (the runner's stderr without its JSON report), the end of them.
function libkrunLog(stderr: string): string {
  const log = stderr
    .split('\n')
    .filter((l) => !l.trim().startsWith('{"error":'))
    .join('\n')
    .trim();
  return log.length > LOG_QUOTE ? `...${log.slice(-LOG_QUOTE)}` : log;
}

/**
 * The error for a runner that ended before the guest agent was up and answered the handshake.
 *
 * - 70 with the runner's JSON error line: it failed before the VM started; the error keeps the
 *   runner's code (`SMOLVM_ERR_KRUN_CALL_FAILED`, `SMOLVM_ERR_KRUN_SPEC_INVALID`...) and names the
 *   libkrun call that failed.
 * - 125 / 126 / 127: libkrun's init failed in the guest (`SMOLVM_ERR_KRUN_INIT_FAILED`).
 * - anything else (a guest that powered off or panicked, a signal): `SMOLVM_ERR_BOOT_FAILED`.
 *
 * Each carries the tail of the guest console in its hint.
 */
export function krunExitError(exit: VmExit, stderr: string, consoleTail: string, kernel: KrunKernelMode = 'smolvm'): KrunEngineError {
  const tail = consoleTail.trim();
  const consoleHint = tail ? `Guest console:\n${tail}` : undefined;
  const report = exit.code === RUNNER_EXIT_SETUP_FAILED ? parseRunnerError(stderr) : undefined;
  if (report) {
    return new KrunEngineError(report.code, `libkrun could not start the VM${report.fn ? ` (${report.fn} failed)` : ''}: ${report.message}`, {
      hint:
        report.hint ??
        (report.code === 'SMOLVM_ERR_KRUN_SPEC_INVALID' || report.code === 'SMOLVM_ERR_KRUN_INTERNAL'
          ? 'This is a bug in smolvm (the engine and the runner disagree); please report it.'
          : kernel === 'libkrunfw' && report.fn === 'krun_start_enter' && report.errnoName === 'ENOENT'
            ? // libkrun answers ENOENT when it has no kernel and cannot load libkrunfw's.
              `libkrun could not load libkrunfw's kernel (libkrunfw must be where libkrun's dlopen finds it). Install libkrunfw, or boot smolvm's own kernel: ${SMOLVM_KRUN_KERNEL_ENV}=smolvm.`
            : 'Run `smolvm doctor` to check the libkrun installation, or use SMOLVM_ENGINE=qemu.'),
      fn: report.fn,
      errno: report.errno,
      errnoName: report.errnoName,
      exit,
    });
  }
  const log = libkrunLog(stderr);
  const said = log ? `; libkrun said: ${log}` : '';
  const code = exit.code;
  if (code === KRUN_EXIT_INIT_SETUP_FAILED || code === KRUN_EXIT_INIT_CANNOT_EXECUTE || code === KRUN_EXIT_INIT_NOT_FOUND) {
    return new KrunEngineError(
      KRUN_ENGINE_ERROR_CODES.INIT_FAILED,
      `the libkrun VM ended before the guest agent was up. ${describeExitStatus(code)}${said}`,
      {
        hint:
          (kernel === 'libkrunfw'
            ? `libkrun's init starts the agent (${KRUN_ROOT_AGENT_PATH} in the VM's root directory) on libkrunfw's kernel; 127 means it was not found, 126 that it could not be executed (an agent built for another architecture?).`
            : "smolvm boots its own kernel and agent under libkrun; libkrun's init only runs when that kernel did not start the initramfs.") +
          (consoleHint ? `\n${consoleHint}` : ' The guest printed nothing; check the kernel with `smolvm doctor`.'),
        exit,
      },
    );
  }
  const how =
    code === null
      ? exit.signal
        ? `killed by ${exit.signal}`
        : 'no exit status'
      : code === RUNNER_EXIT_SETUP_FAILED
        ? 'status 70 without an error report from the runner, so from the guest'
        : `status ${code}`;
  return new KrunEngineError(ErrorCode.BOOT_FAILED, `the libkrun VM ended before the guest agent was up (${how})${said}`, {
    hint: consoleHint ?? 'The guest printed nothing; check the kernel with `smolvm doctor`.',
    exit,
  });
}


/**
 * The runner's environment for libkrunfw's kernel: libkrun opens libkrunfw by soname with dlopen, so a
 * libkrunfw found at a path (beside libkrun, or in a directory the loader does not search) has its
 * directory added to the loader's search path for the runner.
 */
export function krunfwSearchEnv(env: NodeJS.ProcessEnv, kernel: KrunKernelChoice, platform: NodeJS.Platform = process.platform): NodeJS.ProcessEnv {
  const found = kernel.mode === 'libkrunfw' ? kernel.krunfw?.path : undefined;
  if (!found || !isAbsolute(found)) return env;
  const key = platform === 'darwin' ? 'DYLD_FALLBACK_LIBRARY_PATH' : 'LD_LIBRARY_PATH';
  const dir = dirname(found);
  const current = env[key];
  if (current?.split(delimiter).includes(dir)) return env;
  return { ...env, [key]: current ? `${dir}${delimiter}${current}` : dir };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

/** A promise that never settles unless it rejects; marked handled so an unused one is never reported. */
function rejection<T = never>(executor: (reject: (e: unknown) => void) => void): Promise<T> {
  const p = new Promise<T>((_, reject) => executor(reject));
  p.catch(() => {});
  return p;
}

/** Boots VMs with libkrun, one runner process per VM. */
export class KrunEngine implements Engine {
  readonly name = 'libkrun' as const;
  private probed: KrunProbe | undefined;

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly options: KrunEngineOptions = {},
  ) {
    this.probed = options.probe;
  }

  /** What was found about libkrun and the hypervisor (probed once per engine). */
  probe(): KrunProbe {
    this.probed ??= probeKrun(this.env, this.options);
    return this.probed;
  }

  /** The guest kernel this engine boots and why (`libkrunfw` or `smolvm`); undefined when libkrun did not load. */
  kernel(): KrunKernelChoice | undefined {
    return this.probe().kernel;
  }

  bringsOwnKernel(): boolean {
    return this.kernel()?.mode === 'libkrunfw';
  }

  check(): void {
    const p = this.probe();
    if (!p.usable) {
      throw new SmolvmError(ErrorCode.ENGINE_UNAVAILABLE, `the libkrun engine cannot run on this host: ${p.reason}`, {
        hint: p.hint,
        cause: p.libraryError,
      });
    }
  }

  async boot(spec: VmSpec, options: BootOptions = {}): Promise<RunningVm> {
    this.check();
    const library = this.probe().library!;
    const runner = this.options.runnerPath ?? defaultRunnerPath;
    if (!existsSync(runner)) {
      throw new SmolvmError(ErrorCode.ENGINE_UNAVAILABLE, `the libkrun runner ${runner} is missing`, {
        hint: 'Build @smolvm/krun (pnpm build): the runner is its dist/runner-main.js.',
      });
    }
    const kernel = this.probe().kernel!;
    const bootTimeoutMs = spec.bootTimeoutMs ?? 20_000;
    const socketPath = join(spec.runDir, 'agent.sock');
    const { signal } = options;

    let krunSpec: KrunVmSpec;
    let emptyRoot: string | undefined;
    let krunfwRoot: string | undefined;
    if (kernel.mode === 'libkrunfw') {
      // libkrunfw's kernel: libkrun's init runs the agent from a root directory of this VM's own, made
      // fresh and removed when it ends (see krun-root.ts).
      const agent = await agentFromInitramfs(spec.initramfs);
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      krunfwRoot = await prepareKrunRoot(agent, join(smolvmCacheDir(this.env), 'krun-root'));
      const libkrunfwRoot = krunfwRoot;
      krunSpec = krunVmSpec(spec, { socketPath, libkrunfwRoot, port: KRUN_AGENT_VSOCK_PORT });
    } else {
      const kernelFormat = await krunKernelFormat(spec.kernel);
      if (signal?.aborted) throw signal.reason ?? new Error('aborted');
      // libkrun's root is only a formality here (the agent mounts /dev/vda itself): a virtio-fs stub with
      // no host directory behind it where libkrun can, an empty private directory otherwise.
      let root: KrunSmolvmKernelOptions['root'] = { remount: true };
      if (!library.features.available.includes('krun_set_root_disk_remount')) {
        emptyRoot = join(spec.runDir, 'krun-root');
        await rm(emptyRoot, { recursive: true, force: true }); // a run dir may outlive a crashed VM
        await mkdir(emptyRoot, { mode: 0o700 });
        root = { emptyDir: emptyRoot };
      }
      krunSpec = krunVmSpec(spec, { socketPath, kernelFormat, root, port: KRUN_AGENT_VSOCK_PORT });
    }

    // We listen before the runner starts: libkrun (listen=false) connects to this socket when the agent
    // connects to the vsock port, which can be any time after the VM starts.
    const server: Server = createServer();
    try {
      await listen(server, socketPath);
    } catch (e) {
      if (emptyRoot) await rm(emptyRoot, { recursive: true, force: true });
      if (krunfwRoot) await removeKrunRoot(krunfwRoot).catch(() => {});
      throw new SmolvmError(ErrorCode.BOOT_FAILED, `cannot listen on ${socketPath} for the agent channel: ${(e as Error).message}`, { cause: e });
    }
    let serverClosed = false;
    const closeServer = async (): Promise<void> => {
      if (!serverClosed) {
        serverClosed = true;
        server.close();
      }
      await rm(socketPath, { force: true });
    };

    let child: ChildProcess;
    try {
      // On macOS a copy of Node signed with the hypervisor entitlement (made once); elsewhere Node itself.
      const node = await hypervisorNode({ cacheDir: smolvmCacheDir(this.env), env: this.env, ...this.options.runnerNode });
      child = spawn(node, [runner, '--spec-fd', '3'], {
        stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
        // The runner loads the very library probed here, and libkrun's dlopen finds the libkrunfw found here.
        env: krunfwSearchEnv({ ...process.env, ...this.env, SMOLVM_LIBKRUN: library.path }, kernel),
      });
    } catch (e) {
      await closeServer();
      if (emptyRoot) await rm(emptyRoot, { recursive: true, force: true });
      if (krunfwRoot) await removeKrunRoot(krunfwRoot).catch(() => {});
      if (isSmolvmError(e)) throw e;
      throw new SmolvmError(ErrorCode.BOOT_FAILED, `could not start the libkrun runner: ${(e as Error).message}`, { cause: e });
    }
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.length > STDERR_LIMIT) stderr = stderr.slice(-STDERR_LIMIT);
    });
    const specPipe = child.stdio[3] as Writable | null;
    // A runner that dies before reading its spec breaks the pipe; its exit status says why.
    specPipe?.on('error', () => {});
    specPipe?.end(JSON.stringify(krunSpec));

    const exited = waitExit(child);
    // If our own process goes away, the VM must not outlive it.
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    // The VM's exit as callers see it: after its socket and root directory are gone.
    const cleanedUp = exited.then(async (x) => {
      process.removeListener('exit', killOnExit);
      await closeServer().catch(() => {});
      if (emptyRoot) await rm(emptyRoot, { recursive: true, force: true }).catch(() => {});
      if (krunfwRoot) await removeKrunRoot(krunfwRoot).catch(() => {});
      return x;
    });

    const earlyExit = async (x: VmExit): Promise<KrunEngineError> => krunExitError(x, stderr, await tailFile(spec.consoleLog), kernel.mode);
    const died = rejection((reject) => void exited.then(async (x) => reject(await earlyExit(x))));
    const spawnFailed = rejection((reject) =>
      child.once('error', (e) =>
        reject(new SmolvmError(ErrorCode.BOOT_FAILED, `could not start the libkrun runner: ${e.message}`, { cause: e })),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    let connected = false;
    const timedOut = rejection((reject) => {
      timer = setTimeout(() => {
        void tailFile(spec.consoleLog).then((tail) =>
          reject(
            new SmolvmError(
              ErrorCode.BOOT_TIMEOUT,
              connected
                ? `the guest agent did not answer the handshake within ${bootTimeoutMs} ms`
                : `the guest agent did not connect to vsock port ${KRUN_AGENT_VSOCK_PORT} within ${bootTimeoutMs} ms`,
              {
                hint: tail.trim()
                  ? `Guest console:\n${tail.trim()}`
                  : 'The guest printed nothing; check the kernel with `smolvm doctor`. The agent must support smolvm.vsock= (vsock channel).',
              },
            ),
          ),
        );
      }, bootTimeoutMs);
    });
    let onAbort: (() => void) | undefined;
    const aborted = rejection((reject) => {
      if (!signal) return;
      onAbort = () => reject(signal.reason ?? new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));

    let socket: Socket | undefined;
    let connection: AgentConnection;
    let hello: HelloInfo;
    try {
      socket = await Promise.race([accepted, died, spawnFailed, timedOut, aborted]);
      connected = true;
      await closeServer();
      const s = socket;
      const conn = new AgentConnection({ send: (b) => void s.write(b) });
      connection = conn;
      s.on('data', (d: Buffer) => conn.receive(d));
      s.on('close', () => conn.close(new Error('the VM closed the agent channel')));
      s.on('error', (e) => conn.close(e));
      void exited.then((x) => conn.close(new Error(`the VM exited (${x.signal ?? `code ${x.code}`})`)));
      hello = await Promise.race([conn.handshake(), died, timedOut, aborted]);
    } catch (e) {
      let err = e;
      if (!(e instanceof SmolvmError) && !signal?.aborted) {
        // The channel usually breaks a moment before the runner's exit is seen: prefer its account.
        const x = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000).unref())]);
        err = x
          ? await earlyExit(x)
          : new SmolvmError(ErrorCode.BOOT_FAILED, `the guest failed to boot: ${(e as Error).message}`, {
              hint: `Guest console:\n${await tailFile(spec.consoleLog)}`,
              cause: e,
            });
      }
      socket?.destroy();
      child.kill('SIGKILL');
      await cleanedUp;
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }

    return runningVm({ connection, hello, child, socket, exited: cleanedUp });
  }
}
