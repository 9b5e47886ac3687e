// How an engine VmSpec maps onto libkrun (a KrunVmSpec for @smolvm/krun's runner): the agent as PID 1 on
// either kernel (libkrunfw's, started by libkrun's init from a root directory of the VM's own, or our own kernel
// and initramfs), the image as a read-only virtio-blk disk, the agent channel on a vsock port that
// libkrun bridges to a unix socket the engine listens on, the console to a file, and no network (TSI off).
import { open } from 'node:fs/promises';
import type { KrunKernelFormat, KrunVmSpec } from '@smolvm/krun';
import type { VmSpec } from './engine.js';
import { ErrorCode, SmolvmError } from './errors.js';
import { KRUN_ROOT_AGENT_PATH } from './krun-root.js';
import { volumeKernelArgs, volumeTag } from './volumes.js';

/** The vsock port the agent connects to (on the host, CID 2); passed to it as `smolvm.vsock=`. */
export const KRUN_AGENT_VSOCK_PORT = 1024;

/** Block id of the image disk: the first disk, `/dev/vda` in the guest. */
export const KRUN_ROOT_DISK_ID = 'root';
/** Block id of a machine's writable disk (the overlay's upper layer): the second disk, `/dev/vdb`. */
export const KRUN_DATA_DISK_ID = 'data';

/**
 * The program libkrun is told to run, and its environment. Under our own kernel and initramfs the
 * kernel starts the initramfs's `/init` (the agent) itself and libkrun's init never runs; libkrun
 * still wants an exec, and puts it on the kernel command line as `KRUN_INIT=` (which init ignores).
 * The environment is explicit (libkrun would copy the host's for NULL) and the one the kernel gives
 * init anyway, so the agent starts as under QEMU.
 */
export const KRUN_AGENT_EXEC = { path: '/init', argv: [] as string[], env: ['HOME=/', 'TERM=linux'] } as const;

/**
 * The environment libkrun's init gets on libkrunfw's kernel, passed on to the agent. `KRUN_INIT_PID1=1`
 * makes init exec the agent as PID 1 (recent inits otherwise fork it and wait, as PID 1 themselves; the
 * older C init always exec'd). Explicit: a NULL envp would copy the host's environment into the guest.
 */
export const KRUN_LIBKRUNFW_ENV = ['HOME=/', 'TERM=linux', 'KRUN_INIT_PID1=1'] as const;

/**
 * libkrun puts the program's arguments (after ` -- `) and environment on the kernel command line. The
 * kernel's argument vector for init holds 32 entries including init's own name, and more makes it panic,
 * so at most 31 arguments reach libkrun's init, which passes them on to the agent. The whole line is short
 * (2048 bytes on x86-64 and arm64, libkrun's own part included): what is left for ours, conservatively.
 */
const LIBKRUNFW_EXEC_BUDGET = 1400;
const LIBKRUNFW_MAX_ARGS = 31;

/** Error codes of the libkrun engine (beyond `ErrorCode` and the `SMOLVM_ERR_KRUN_*` codes of `@smolvm/krun`). */
export const KRUN_ENGINE_ERROR_CODES = {
  /** The VM ended with 125, 126 or 127 before the agent connected: libkrun's init failed in the guest. */
  INIT_FAILED: 'SMOLVM_ERR_KRUN_INIT_FAILED',
  /** The kernel is in a format libkrun cannot boot here (an x86 bzImage, another architecture...). */
  KERNEL_UNSUPPORTED: 'SMOLVM_ERR_KRUN_KERNEL_UNSUPPORTED',
} as const;

/** The guest kernel command line under libkrun (libkrun appends its own device and `KRUN_*` entries). */
export function krunKernelCmdline(spec: Pick<VmSpec, 'kernelArgs' | 'dataDisk' | 'volumes'>, port = KRUN_AGENT_VSOCK_PORT): string {
  return [
    'console=hvc0',
    'reboot=t',
    'panic=-1',
    'quiet',
    'smolvm.root=/dev/vda',
    ...(spec.dataDisk ? ['smolvm.rootrw=/dev/vdb'] : []),
    `smolvm.vsock=${port}`,
    ...volumeKernelArgs(spec.volumes, 'virtiofs'),
    ...(spec.kernelArgs ?? []),
  ].join(' ');
}

/**
 * The agent's options as arguments, for libkrunfw's kernel (whose command line is libkrun's): the same
 * `smolvm.*` tokens as on our kernel's command line. Kernel arguments other than `smolvm.*` cannot reach
 * libkrunfw's kernel and are refused.
 */
export function krunAgentArgs(spec: Pick<VmSpec, 'kernelArgs' | 'dataDisk' | 'volumes'>, port = KRUN_AGENT_VSOCK_PORT): string[] {
  const foreign = (spec.kernelArgs ?? []).filter((a) => !a.startsWith('smolvm.'));
  if (foreign.length > 0) {
    throw new SmolvmError(ErrorCode.INVALID_OPTION, `kernel arguments ${foreign.join(' ')} cannot be passed to libkrunfw's kernel`, {
      hint: "libkrun owns libkrunfw's kernel command line. Boot smolvm's own kernel instead: SMOLVM_KRUN_KERNEL=smolvm.",
    });
  }
  const args = [
    'smolvm.root=/dev/vda',
    ...(spec.dataDisk ? ['smolvm.rootrw=/dev/vdb'] : []),
    `smolvm.vsock=${port}`,
    ...volumeKernelArgs(spec.volumes, 'virtiofs'),
    ...(spec.kernelArgs ?? []),
  ];
  // Each argument travels quoted on the command line: "arg" plus a space.
  const size = [KRUN_ROOT_AGENT_PATH, ...args, ...KRUN_LIBKRUNFW_ENV].reduce((n, a) => n + a.length + 3, 0);
  if (args.length > LIBKRUNFW_MAX_ARGS || size > LIBKRUNFW_EXEC_BUDGET) {
    throw new SmolvmError(
      ErrorCode.INVALID_OPTION,
      `the agent's options (${args.length} arguments, about ${size} bytes) do not fit on libkrun's kernel command line (at most ${LIBKRUNFW_MAX_ARGS} arguments, about ${LIBKRUNFW_EXEC_BUDGET} bytes)`,
      { hint: 'Use fewer volumes or shorter guest paths, or boot smolvm\'s own kernel: SMOLVM_KRUN_KERNEL=smolvm.' },
    );
  }
  return args;
}

const ELF_MACHINES: Record<number, string> = { 62: 'x64', 183: 'arm64' };

function unsupportedKernel(path: string, what: string): SmolvmError {
  return new SmolvmError(KRUN_ENGINE_ERROR_CODES.KERNEL_UNSUPPORTED, `libkrun cannot boot the kernel ${path}: ${what}`, {
    hint:
      (process.arch === 'x64'
        ? 'On x86-64 libkrun boots an ELF vmlinux (the built guest kernel is one); point SMOLVM_KERNEL at a vmlinux, or unset it. '
        : 'On arm64 libkrun boots an ELF vmlinux, an Image, or an Image.gz/.bz2/.zst; point SMOLVM_KERNEL at one, or unset it. ') +
      "Or boot libkrunfw's bundled kernel instead (the default when libkrunfw is installed and SMOLVM_KERNEL is unset; SMOLVM_KRUN_KERNEL=libkrunfw forces it). " +
      'Or use the QEMU engine: SMOLVM_ENGINE=qemu.',
  });
}

/**
 * The `krun_set_kernel` format of a kernel image, from its first bytes. x86-64: an ELF vmlinux only
 * (libkrun has no bzImage loader). arm64: ELF, a raw `Image`, `Image.gz`/`.bz2`/`.zst`, or a
 * gzip-compressed EFI zboot image. Throws `SMOLVM_ERR_KRUN_KERNEL_UNSUPPORTED` otherwise.
 */
export async function krunKernelFormat(path: string, arch: string = process.arch): Promise<KrunKernelFormat> {
  const head = Buffer.alloc(0x210);
  let bytesRead: number;
  try {
    const fh = await open(path, 'r');
    try {
      ({ bytesRead } = await fh.read(head, 0, head.length, 0));
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new SmolvmError('SMOLVM_ERR_KERNEL_MISSING', `cannot read the kernel ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'Point SMOLVM_KERNEL at a kernel image, or unset it to use the built one.',
      cause: e,
    });
  }
  const b = head.subarray(0, bytesRead);
  if (b.length >= 20 && b.readUInt32BE(0) === 0x7f454c46) {
    const machine = ELF_MACHINES[b.readUInt16LE(18)];
    if (machine !== arch) {
      throw unsupportedKernel(path, `it is an ELF kernel for ${machine ?? `machine ${b.readUInt16LE(18)}`}, and this host is ${arch}`);
    }
    return 'elf';
  }
  if (b.length >= 0x206 && b.toString('latin1', 0x202, 0x206) === 'HdrS') {
    throw unsupportedKernel(path, 'it is an x86 bzImage, which libkrun has no loader for');
  }
  if (arch === 'arm64') {
    if (b.length >= 0x3c && b.toString('latin1', 0x38, 0x3c) === 'ARM\x64') return 'raw';
    if (b.length >= 8 && b.toString('latin1', 0, 2) === 'MZ' && b.toString('latin1', 4, 8) === 'zimg') return 'pe-gz';
    if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'image-gz';
    if (b.length >= 3 && b.toString('latin1', 0, 3) === 'BZh') return 'image-bz2';
    if (b.length >= 4 && b.readUInt32BE(0) === 0x28b52ffd) return 'image-zstd';
  }
  throw unsupportedKernel(path, 'it is not a kernel image format libkrun boots on this architecture');
}

interface KrunVmSpecCommonOptions {
  /** Unix socket the engine listens on; libkrun connects it to the agent's vsock connection. */
  socketPath: string;
  port?: number;
}

/** Our own kernel and initramfs (`krun_set_kernel`). */
export interface KrunSmolvmKernelOptions extends KrunVmSpecCommonOptions {
  kernelFormat: KrunKernelFormat;
  /**
   * How to satisfy libkrun's root: `remount` (`krun_set_root_disk_remount` on the image disk: a
   * virtio-fs stub with no host directory behind it), or an empty host directory for `krun_set_root`
   * on a libkrun without the remount call. The agent mounts `/dev/vda` itself either way.
   */
  root: { remount: true } | { emptyDir: string };
}

/** libkrunfw's kernel: no `krun_set_kernel`; `krun_set_root` on the directory holding the agent. */
export interface KrunLibkrunfwOptions extends KrunVmSpecCommonOptions {
  /** The prepared root directory (see `prepareKrunRoot`). */
  libkrunfwRoot: string;
}

export type KrunVmSpecOptions = KrunSmolvmKernelOptions | KrunLibkrunfwOptions;

/**
 * The runner spec for `spec`. `spec.balloon` needs nothing: libkrun always attaches a virtio-balloon
 * device with free page reporting (its C API has no switch for it).
 */
export function krunVmSpec(spec: VmSpec, options: KrunVmSpecOptions): KrunVmSpec {
  const port = options.port ?? KRUN_AGENT_VSOCK_PORT;
  const libkrunfw = 'libkrunfwRoot' in options ? options : undefined;
  const smolvm = 'libkrunfwRoot' in options ? undefined : options;
  return {
    logLevel: 'error',
    vcpus: spec.cpus,
    ramMiB: spec.memoryMiB,
    // libkrunfw's kernel: no kernel call at all (libkrun loads libkrunfw's when none is configured).
    ...(smolvm ? { kernel: { path: spec.kernel, format: smolvm.kernelFormat, initramfs: spec.initramfs, cmdline: krunKernelCmdline(spec, port) } } : {}),
    // The image and a machine's disk stay virtio-blk disks (/dev/vda, /dev/vdb), mounted by the agent.
    disks: [
      { id: KRUN_ROOT_DISK_ID, path: spec.rootDisk, format: 'raw', readOnly: true },
      ...(spec.dataDisk ? [{ id: KRUN_DATA_DISK_ID, path: spec.dataDisk, format: 'raw' as const, readOnly: false }] : []),
    ],
    ...(libkrunfw
      ? { rootDir: libkrunfw.libkrunfwRoot }
      : 'remount' in smolvm!.root
        ? { rootDiskRemount: { device: '/dev/vda', fstype: 'ext4', options: 'ro' } }
        : { rootDir: smolvm!.root.emptyDir }),
    // Volumes: virtio-fs shares, mounted by the agent (read-only ones with MS_RDONLY in the guest).
    ...(spec.volumes && spec.volumes.length > 0 ? { virtiofs: spec.volumes.map((v, i) => ({ tag: volumeTag(i), path: v.hostPath })) } : {}),
    exec: libkrunfw
      ? { path: KRUN_ROOT_AGENT_PATH, argv: krunAgentArgs(spec, port), env: [...KRUN_LIBKRUNFW_ENV] }
      : { path: KRUN_AGENT_EXEC.path, argv: [...KRUN_AGENT_EXEC.argv], env: [...KRUN_AGENT_EXEC.env] },
    // Network off: an explicit vsock device without TSI, so no guest socket reaches the host's network.
    tsi: { hijackInet: false, hijackUnix: false },
    vsockPorts: [{ port, path: options.socketPath, listen: false }],
    consoleOutput: spec.consoleLog,
  };
}
