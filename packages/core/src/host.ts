// Facts about the host that decide how a VM is started: which accelerator works, where QEMU is.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ErrorCode, SmolvmError } from './errors.js';

export type Accelerator = 'kvm' | 'hvf' | 'tcg';

export interface AcceleratorChoice {
  accel: Accelerator;
  /** One sentence a person can read: why this accelerator. */
  reason: string;
}

function readOr(path: string, fallback = ''): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/**
 * Picks the accelerator: `SMOLVM_ACCEL` if set, `hvf` on macOS, `kvm` where /dev/kvm can run a standard
 * guest, otherwise `tcg` (software emulation). A PVM nested hypervisor (kvm_pvm) exposes /dev/kvm but cannot
 * run a standard kernel, so it counts as no KVM.
 */
export function chooseAccelerator(env: NodeJS.ProcessEnv = process.env, root = '/'): AcceleratorChoice {
  const forced = env.SMOLVM_ACCEL;
  if (forced) {
    if (forced !== 'kvm' && forced !== 'hvf' && forced !== 'tcg') {
      throw new SmolvmError(ErrorCode.INVALID_OPTION, `SMOLVM_ACCEL=${forced} is not an accelerator`, { hint: 'Use kvm, hvf or tcg, or unset it.' });
    }
    return { accel: forced, reason: `forced by SMOLVM_ACCEL=${forced}` };
  }
  if (process.platform === 'darwin') return { accel: 'hvf', reason: 'macOS Hypervisor.framework' };
  const kvm = join(root, 'dev/kvm');
  if (!existsSync(kvm)) return { accel: 'tcg', reason: '/dev/kvm does not exist (no hardware virtualization): software emulation, slow' };
  try {
    accessSync(kvm, constants.R_OK | constants.W_OK);
  } catch {
    return {
      accel: 'tcg',
      reason: '/dev/kvm is not accessible to this user (add yourself to the kvm group): software emulation, slow',
    };
  }
  if (existsSync(join(root, 'sys/module/kvm_pvm'))) {
    return {
      accel: 'tcg',
      reason: '/dev/kvm is a PVM nested hypervisor (kvm_pvm), which cannot run a standard guest kernel: software emulation, slow',
    };
  }
  const cpuinfo = readOr(join(root, 'proc/cpuinfo'));
  if (cpuinfo !== '' && !/^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo) && process.arch === 'x64') {
    return { accel: 'tcg', reason: '/dev/kvm exists but the CPU reports no vmx/svm: software emulation, slow' };
  }
  return { accel: 'kvm', reason: '/dev/kvm is usable' };
}

export interface QemuInfo {
  path: string;
  version: string;
}

/** Finds qemu-system-<arch> (`SMOLVM_QEMU` overrides); with `version`, also runs it to learn its version. */
export function findQemu(env: NodeJS.ProcessEnv = process.env, options: { version?: boolean } = {}): QemuInfo {
  const binary = `qemu-system-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}`;
  let path = env.SMOLVM_QEMU;
  if (!path) {
    for (const dir of (env.PATH ?? '').split(delimiter)) {
      if (dir && existsSync(join(dir, binary))) {
        path = join(dir, binary);
        break;
      }
    }
  }
  const hint =
    process.platform === 'darwin'
      ? 'Install QEMU: brew install qemu'
      : 'Install QEMU: apt-get install qemu-system-x86 (Debian/Ubuntu), dnf install qemu-system-x86-core (Fedora), or set SMOLVM_QEMU to its path.';
  if (!path) throw new SmolvmError(ErrorCode.QEMU_NOT_FOUND, `${binary} was not found on PATH`, { hint });
  if (!options.version) {
    // Starting VMs only needs the path; running `--version` would cost a process start on every boot.
    try {
      accessSync(path, constants.X_OK);
    } catch (e) {
      throw new SmolvmError(ErrorCode.QEMU_NOT_FOUND, `${path} is not an executable file`, { hint, cause: e });
    }
    return { path, version: 'unknown' };
  }
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) {
    throw new SmolvmError(ErrorCode.QEMU_NOT_FOUND, `${path} does not run (${r.error?.message ?? `exit ${r.status}`})`, { hint });
  }
  const version = /version ([0-9][^\s]*)/.exec(r.stdout)?.[1] ?? 'unknown';
  return { path, version };
}
