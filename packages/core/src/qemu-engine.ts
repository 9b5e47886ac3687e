import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentConnection, type HelloInfo } from '@smolvm/protocol';
import { runningVm, waitExit } from './running-vm.js';
import type { BootOptions, Engine, RunningVm, VmExit, VmSpec } from './engine.js';
import { ErrorCode, SmolvmError } from './errors.js';
import { volumeKernelArgs, volumeTag } from './volumes.js';
import { chooseAccelerator, findQemu, type AcceleratorChoice, type QemuInfo } from './host.js';

const STDERR_LIMIT = 16 * 1024;

/** Last `bytes` of a file, as text (for error messages that quote the guest console). */
export async function tailFile(path: string, bytes = 4096): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - bytes);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/**
 * QEMU's microvm (without ACPI) has 8 virtio-mmio transports, on IRQs 12 down to 5, filled in the order the
 * devices are given. The fifth one's IRQ 8 is the RTC's (rtc=on), so the guest cannot probe a device there
 * ("Flags mismatch irq 8"): a placeholder takes that slot when more than four devices are needed.
 */
export const QEMU_VIRTIO_TRANSPORTS = 8;
const IRQ8_SLOT = 4;

/** The virtio devices of `spec`, in transport order, each as its QEMU arguments. */
function qemuDevices(spec: VmSpec): string[][] {
  const devices: string[][] = [
    ['-drive', `id=root,file=${spec.rootDisk},format=raw,if=none,readonly=on`, '-device', 'virtio-blk-device,drive=root'],
    ['-device', 'virtio-serial-device,max_ports=2', '-device', 'virtserialport,chardev=agent,name=smolvm.agent'],
    ['-device', 'virtio-rng-device'],
    ...(spec.dataDisk
      ? [['-drive', `id=data,file=${spec.dataDisk},format=raw,if=none,discard=unmap`, '-device', 'virtio-blk-device,drive=data']]
      : []),
    ...(spec.balloon ? [['-device', 'virtio-balloon-device,free-page-reporting=on,deflate-on-oom=on']] : []),
    // Volumes: 9p over virtio-mmio. security_model=none needs no privilege: the guest sees the host user's
    // files as they are, and what it writes belongs to the host user. QEMU option values double their commas.
    ...(spec.volumes ?? []).map((v, i) => [
      '-fsdev', `local,id=vol${i},path=${v.hostPath.replaceAll(',', ',,')},security_model=none${v.readOnly ? ',readonly=on' : ''}`,
      '-device', `virtio-9p-device,fsdev=vol${i},mount_tag=${volumeTag(i)}`,
    ]),
  ];
  if (devices.length > IRQ8_SLOT) devices.splice(IRQ8_SLOT, 0, ['-device', 'virtio-rng-device,id=irq8-placeholder']);
  return devices;
}

/** How many volumes a VM like `spec` (its other devices) can have under QEMU. */
export function qemuVolumeCapacity(spec: Pick<VmSpec, 'dataDisk' | 'balloon'>): number {
  const others = 3 + (spec.dataDisk ? 1 : 0) + (spec.balloon ? 1 : 0);
  return QEMU_VIRTIO_TRANSPORTS - 1 - others;
}

export function qemuArgs(spec: VmSpec, accel: AcceleratorChoice, socketPath: string): string[] {
  const capacity = qemuVolumeCapacity(spec);
  if ((spec.volumes?.length ?? 0) > capacity) {
    throw new SmolvmError(ErrorCode.INVALID_VOLUME, `too many volumes for the QEMU engine: ${spec.volumes!.length}; this machine can have at most ${capacity}`, {
      hint: "QEMU's microvm has 8 virtio-mmio device slots, shared with the machine's disks and channels. Mount a common parent directory instead.",
    });
  }
  const cmdline = [
    'console=ttyS0', 'reboot=t', 'panic=-1', 'quiet', 'loglevel=3', 'smolvm.root=/dev/vda',
    ...(spec.dataDisk ? ['smolvm.rootrw=/dev/vdb'] : []),
    ...volumeKernelArgs(spec.volumes, '9p'),
    ...(spec.kernelArgs ?? []),
  ];
  return [
    '-M', 'microvm,rtc=on,acpi=off',
    '-accel', accel.accel,
    '-cpu', accel.accel === 'tcg' ? 'max' : 'host',
    '-m', String(spec.memoryMiB),
    '-smp', String(spec.cpus),
    '-nodefaults', '-no-user-config', '-no-reboot',
    '-display', 'none', '-monitor', 'none',
    '-kernel', spec.kernel,
    '-initrd', spec.initramfs,
    '-append', cmdline.join(' '),
    '-serial', `file:${spec.consoleLog}`,
    '-chardev', `socket,id=agent,path=${socketPath}`,
    ...qemuDevices(spec).flat(),
  ];
}


/** Boots VMs with `qemu-system-* -M microvm`. */
export class QemuEngine implements Engine {
  readonly name = 'qemu' as const;
  private qemu: QemuInfo | undefined;
  private accel: AcceleratorChoice | undefined;
  private noticeGiven = false;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  check(): void {
    this.describe();
  }

  describe(): { qemu: QemuInfo; accel: AcceleratorChoice } {
    this.qemu ??= findQemu(this.env);
    this.accel ??= chooseAccelerator(this.env);
    return { qemu: this.qemu, accel: this.accel };
  }

  async boot(spec: VmSpec, options: BootOptions = {}): Promise<RunningVm> {
    const { qemu, accel } = this.describe();
    if (accel.accel === 'tcg' && !this.noticeGiven) {
      this.noticeGiven = true;
      options.onNotice?.(`smolvm: using software emulation (${accel.reason})`);
    }
    const bootTimeoutMs = spec.bootTimeoutMs ?? (accel.accel === 'tcg' ? 60_000 : 20_000);
    const socketPath = join(spec.runDir, 'agent.sock');
    const args = qemuArgs(spec, accel, socketPath); // throws for a spec QEMU cannot hold, before anything starts

    // We listen and QEMU connects, so there is no window where QEMU's socket exists but is not accepting.
    // A restart reuses the run dir: a socket file left by the previous VM would make listen() fail.
    await rm(socketPath, { force: true });
    const server: Server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });

    const child = spawn(qemu.path, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < STDERR_LIMIT) stderr += d.toString('utf8');
    });
    const exited = waitExit(child);
    // If our own process goes away, the VM must not outlive it.
    const killOnExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    void exited.then(() => process.removeListener('exit', killOnExit));

    const fail = async (err: SmolvmError): Promise<never> => {
      child.kill('SIGKILL');
      await exited;
      server.close();
      throw err;
    };

    let socket: Socket;
    let connection: AgentConnection;
    let hello: HelloInfo;
    try {
      socket = await this.waitForConnection(server, child, exited, bootTimeoutMs, options.signal, () => stderr, spec.consoleLog);
      server.close();
      const conn = new AgentConnection({ send: (b) => void socket.write(b) });
      connection = conn;
      socket.on('data', (d: Buffer) => conn.receive(d));
      socket.on('close', () => conn.close(new Error('the VM closed the agent channel')));
      socket.on('error', (e) => conn.close(e));
      void exited.then((x) => conn.close(new Error(`the VM exited (${x.signal ?? `code ${x.code}`})`)));
      // QEMU connects the channel as soon as it starts, long before the guest runs: a guest that dies
      // while booting shows up here, as QEMU exiting before the handshake.
      const died = exited.then(async (x) => {
        throw await this.earlyExit(x, stderr, spec.consoleLog);
      });
      died.catch(() => {});
      hello = await withTimeout(Promise.race([conn.handshake(), died]), bootTimeoutMs, async () =>
        new SmolvmError(ErrorCode.BOOT_TIMEOUT, `the guest agent did not answer the handshake within ${bootTimeoutMs} ms`, {
          hint: `Guest console:\n${await tailFile(spec.consoleLog)}`,
        }),
      );
    } catch (e) {
      if (e instanceof SmolvmError) return fail(e);
      // The channel usually breaks a moment before QEMU's exit is seen: prefer QEMU's own account.
      const x = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2_000).unref())]);
      if (x) return fail(await this.earlyExit(x, stderr, spec.consoleLog));
      return fail(
        new SmolvmError(ErrorCode.BOOT_FAILED, `the guest failed to boot: ${(e as Error).message}`, {
          hint: `Guest console:\n${await tailFile(spec.consoleLog)}`,
          cause: e,
        }),
      );
    }

    return runningVm({ connection, hello, child, socket, exited });
  }

  private async earlyExit(x: VmExit, stderr: string, consoleLog: string): Promise<SmolvmError> {
    const tail = (await tailFile(consoleLog)).trim();
    return new SmolvmError(
      ErrorCode.QEMU_FAILED,
      `QEMU exited before the guest was up (${x.signal ?? `exit code ${x.code}`}): ${stderr.trim() || 'no error output from QEMU'}`,
      { hint: tail ? `Guest console:\n${tail}` : 'The guest printed nothing; check the kernel with `smolvm doctor`.' },
    );
  }

  private waitForConnection(
    server: Server,
    child: ChildProcess,
    exited: Promise<VmExit>,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    stderr: () => string,
    consoleLog: string,
  ): Promise<Socket> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const timer = setTimeout(() => {
        void tailFile(consoleLog).then((tail) =>
          done(() =>
            reject(
              new SmolvmError(ErrorCode.BOOT_TIMEOUT, `QEMU did not connect the agent channel within ${timeoutMs} ms`, {
                hint: tail ? `Guest console:\n${tail}` : 'The guest printed nothing; check the kernel with `smolvm doctor`.',
              }),
            ),
          ),
        );
      }, timeoutMs);
      const onAbort = (): void => done(() => reject(signal!.reason ?? new Error('aborted')));
      signal?.addEventListener('abort', onAbort, { once: true });
      server.once('connection', (s) => done(() => resolve(s)));
      child.once('error', (e) =>
        done(() => reject(new SmolvmError(ErrorCode.QEMU_NOT_FOUND, `could not start QEMU: ${e.message}`, { cause: e }))),
      );
      void exited.then(async (x) => {
        const err = await this.earlyExit(x, stderr(), consoleLog);
        done(() => reject(err));
      });
    });
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Promise<Error>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void onTimeout().then(reject), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
