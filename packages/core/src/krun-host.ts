// Whether the libkrun engine can run on this host: a libkrun that loads and exports the calls the engine
// makes, and a hypervisor it can use. Loading libkrun here only opens the library (dlopen); no VM starts.
import { readFileSync, realpathSync } from 'node:fs';
import { basename, isAbsolute } from 'node:path';
import {
  defaultKrunfwCandidates,
  findKrunfw,
  isSmolvmError,
  libkrunInstallHint,
  loadKrun,
  type FindKrunfwResult,
  type Krun,
  type KrunFeatures,
  type KrunFunctionName,
  type KrunfwLibrary,
} from '@smolvm/krun';
import { chooseAccelerator } from './host.js';

export interface KrunHostOptions {
  /** Filesystem root for the hypervisor checks (`/dev/kvm`, `/sys/module/kvm_pvm`...); tests use a fake tree. */
  root?: string;
  /**
   * Where to look for libkrunfw, in order (names or paths). Default: `@smolvm/krun`'s
   * `defaultKrunfwCandidates` for the libkrun in use. Tests name a stand-in, or nothing.
   */
  krunfwCandidates?: readonly string[];
}

/** The environment variable that picks the guest kernel under libkrun: `libkrunfw` or `smolvm`. */
export const SMOLVM_KRUN_KERNEL_ENV = 'SMOLVM_KRUN_KERNEL';

/**
 * Which kernel the libkrun engine boots. `libkrunfw`: the kernel bundled in libkrunfw (no
 * krun_set_kernel), with libkrun's init starting our agent from a root directory of the VM's own. `smolvm`: our
 * own kernel and initramfs (krun_set_kernel), the agent as the initramfs's /init.
 */
export type KrunKernelMode = 'libkrunfw' | 'smolvm';

/** The kernel choice and why. */
export interface KrunKernelChoice {
  mode: KrunKernelMode;
  /** One phrase: why this kernel. */
  reason: string;
  /** libkrunfw as found (whatever the mode), undefined when it was not. */
  krunfw: KrunfwLibrary | undefined;
  /** Why this choice cannot work (a forced libkrunfw that is missing, an unknown SMOLVM_KRUN_KERNEL). */
  problem?: { reason: string; hint: string };
}

const KRUNFW_INSTALL_HINT =
  'Install libkrunfw (Fedora: dnf install libkrunfw; Debian: apt install libkrunfw5; Homebrew: it comes with libkrun), ' +
  `or boot smolvm's own kernel: ${SMOLVM_KRUN_KERNEL_ENV}=smolvm.`;

/**
 * The kernel for the libkrun engine: `SMOLVM_KRUN_KERNEL` (`libkrunfw` or `smolvm`) when set; else ours when
 * `SMOLVM_KERNEL` names one; else libkrunfw's when libkrunfw was found and libkrun can share a root
 * directory (`krun_set_root`); else ours.
 */
export function chooseKrunKernel(
  env: NodeJS.ProcessEnv,
  krunfw: FindKrunfwResult | undefined,
  library: { has(fn: KrunFunctionName): boolean } | undefined,
): KrunKernelChoice {
  const found = krunfw?.found;
  const where = found ? `${found.path}${found.version !== undefined ? `, version ${found.version}` : ''}` : undefined;
  const forced = env[SMOLVM_KRUN_KERNEL_ENV];
  if (forced === 'smolvm') return { mode: 'smolvm', reason: `forced by ${SMOLVM_KRUN_KERNEL_ENV}=smolvm`, krunfw: found };
  if (forced === 'libkrunfw') {
    const choice: KrunKernelChoice = { mode: 'libkrunfw', reason: `forced by ${SMOLVM_KRUN_KERNEL_ENV}=libkrunfw${where ? `: ${where}` : ''}`, krunfw: found };
    if (!found) {
      const tried = krunfw?.tried.map((t) => t.candidate).slice(0, 4).join(', ');
      choice.problem = { reason: `${SMOLVM_KRUN_KERNEL_ENV}=libkrunfw, but libkrunfw was not found${tried ? ` (tried ${tried}...)` : ''}`, hint: KRUNFW_INSTALL_HINT };
    } else if (library && !library.has('krun_set_root')) {
      choice.problem = {
        reason: `${SMOLVM_KRUN_KERNEL_ENV}=libkrunfw, but this libkrun lacks krun_set_root, which booting libkrunfw's kernel needs`,
        hint: `Use a libkrun built without TEE support, or ${SMOLVM_KRUN_KERNEL_ENV}=smolvm.`,
      };
    }
    return choice;
  }
  if (forced !== undefined && forced !== '') {
    return {
      mode: 'smolvm',
      reason: `${SMOLVM_KRUN_KERNEL_ENV}=${forced} is not a kernel choice`,
      krunfw: found,
      problem: { reason: `${SMOLVM_KRUN_KERNEL_ENV}=${forced} is not a kernel choice`, hint: `Use ${SMOLVM_KRUN_KERNEL_ENV}=libkrunfw or ${SMOLVM_KRUN_KERNEL_ENV}=smolvm, or unset it.` },
    };
  }
  if (env.SMOLVM_KERNEL) return { mode: 'smolvm', reason: 'SMOLVM_KERNEL is set', krunfw: found };
  if (!found) return { mode: 'smolvm', reason: 'libkrunfw was not found', krunfw: found };
  if (library && !library.has('krun_set_root')) {
    return { mode: 'smolvm', reason: `libkrun lacks krun_set_root, which booting libkrunfw's kernel needs`, krunfw: found };
  }
  return { mode: 'libkrunfw', reason: `default, libkrunfw found: ${where}`, krunfw: found };
}

/** Whether libkrun has a hypervisor to run on. */
export interface KrunHypervisor {
  usable: boolean;
  /** One sentence: what was found. */
  reason: string;
}

/** The libkrun library that was loaded, and what it can do. */
export interface KrunLibraryInfo {
  /** The name or path it was opened with (`libkrun.so.1`, or `SMOLVM_LIBKRUN`). */
  path: string;
  /** The file behind it, when it could be found. */
  file: string | undefined;
  /**
   * libkrun's version, read from the file name (`libkrun.so.1.19.0`): libkrun has no call that returns
   * its version. Undefined when the name does not carry it.
   */
  version: string | undefined;
  features: KrunFeatures;
  /** Functions the engine needs that this libkrun lacks (empty when it has them all). */
  missing: string[];
}

/** What {@link probeKrun} found. */
export interface KrunProbe {
  /** libkrun loads, has every function the engine needs, and a hypervisor is usable. */
  usable: boolean;
  /** One sentence: why it is usable, or the first reason it is not. */
  reason: string;
  /** What to do when it is not usable. */
  hint: string | undefined;
  /** Undefined when libkrun could not be loaded (see `libraryError`). */
  library: KrunLibraryInfo | undefined;
  /** Why libkrun could not be loaded (a coded `@smolvm/krun` error: `SMOLVM_ERR_KRUN_NOT_FOUND`...). */
  libraryError: (Error & { code: string; hint?: string }) | undefined;
  hypervisor: KrunHypervisor;
  /** The guest kernel the engine boots, when libkrun loaded. */
  kernel: KrunKernelChoice | undefined;
}

/**
 * The libkrun calls the engine makes, in groups where any one member will do (the runner falls back
 * from `krun_add_disk2` to `krun_add_disk` for raw disks, and the engine, on our kernel, from the disk
 * root remount to an empty `krun_set_root` directory). libkrunfw's kernel needs `krun_set_root` for the
 * directory holding the agent, and no `krun_set_kernel`.
 */
const REQUIRED_FUNCTIONS: readonly (readonly KrunFunctionName[])[] = [
  ['krun_add_disk2', 'krun_add_disk'],
  ['krun_disable_implicit_vsock'],
  ['krun_add_vsock'],
  ['krun_add_vsock_port2'],
  ['krun_set_console_output'],
];
const REQUIRED_BY_KERNEL: Record<KrunKernelMode, readonly (readonly KrunFunctionName[])[]> = {
  smolvm: [['krun_set_kernel'], ['krun_set_root_disk_remount', 'krun_set_root']],
  libkrunfw: [['krun_set_root']],
};

/** Whether libkrun has a hypervisor: KVM that runs standard guests on Linux, Hypervisor.framework on macOS. */
export function krunHypervisor(env: NodeJS.ProcessEnv = process.env, root = '/'): KrunHypervisor {
  if (process.platform === 'darwin') return { usable: true, reason: 'macOS Hypervisor.framework' };
  let choice;
  try {
    // The same decision QEMU makes: it refuses a PVM nested hypervisor and honours SMOLVM_ACCEL.
    choice = chooseAccelerator(env, root);
  } catch (e) {
    return { usable: false, reason: (e as Error).message };
  }
  const reason = choice.reason.replace(/: software emulation, slow$/, '');
  if (choice.accel === 'kvm') return { usable: true, reason };
  return { usable: false, reason: choice.accel === 'tcg' ? reason : `SMOLVM_ACCEL=${choice.accel} is not KVM (${reason})` };
}

// The file a library was opened from. A bare soname was found by the dynamic loader: on Linux the
// process's own memory map says which file that was.
function libraryFile(path: string): string | undefined {
  try {
    if (isAbsolute(path)) return realpathSync(path);
  } catch {
    return undefined;
  }
  if (process.platform !== 'linux') return undefined;
  const stem = path.replace(/\.so(\.[0-9.]*)?$/, '.so');
  let maps: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of maps.split('\n')) {
    const at = line.indexOf('/');
    if (at === -1) continue;
    const file = line.slice(at);
    const name = basename(file);
    if (name === stem || name.startsWith(`${stem}.`)) {
      try {
        return realpathSync(file);
      } catch {
        return file;
      }
    }
  }
  return undefined;
}

/** libkrun's version from its file name: `libkrun.so.1.19.0` (Linux), `libkrun.1.19.0.dylib` (macOS). */
export function krunVersionFromFileName(file: string): string | undefined {
  const name = basename(file);
  const m = /^libkrun\.so\.(\d+\.\d+(?:\.\d+)*)$/.exec(name) ?? /^libkrun\.(\d+\.\d+(?:\.\d+)*)\.dylib$/.exec(name);
  return m?.[1];
}

function describeLibrary(krun: Krun, mode: KrunKernelMode, file: string | undefined): KrunLibraryInfo {
  const features = krun.features();
  const missing = [...REQUIRED_FUNCTIONS, ...REQUIRED_BY_KERNEL[mode]]
    .filter((group) => !group.some((fn) => krun.has(fn)))
    .map((group) => group.join(' or '));
  return { path: krun.path, file, version: file ? krunVersionFromFileName(file) : undefined, features, missing };
}

const QEMU_INSTEAD = 'Or use the QEMU engine (unset SMOLVM_ENGINE, or set it to qemu).';

function hypervisorHint(): string {
  if (process.platform === 'darwin') return QEMU_INSTEAD;
  return `libkrun needs KVM: a /dev/kvm this user can open (the kvm group), on a CPU with vmx/svm, not a PVM nested hypervisor. ${QEMU_INSTEAD}`;
}

/**
 * Loads libkrun (honouring `SMOLVM_LIBKRUN`) and checks the hypervisor, without starting anything.
 * Never throws: what is wrong is in the result.
 */
export function probeKrun(env: NodeJS.ProcessEnv = process.env, options: KrunHostOptions = {}): KrunProbe {
  const hypervisor = krunHypervisor(env, options.root);
  let library: KrunLibraryInfo | undefined;
  let libraryError: KrunProbe['libraryError'];
  let kernel: KrunKernelChoice | undefined;
  try {
    const krun = loadKrun({ env });
    const file = libraryFile(krun.path);
    const krunfw = findKrunfw(options.krunfwCandidates ?? defaultKrunfwCandidates({ env, libkrunFile: file ?? krun.path }));
    kernel = chooseKrunKernel(env, krunfw, krun);
    library = describeLibrary(krun, kernel.mode, file);
  } catch (e) {
    libraryError = isSmolvmError(e)
      ? (e as Error & { code: string; hint?: string })
      : Object.assign(new Error(`libkrun could not be loaded: ${(e as Error).message}`, { cause: e }), {
          code: 'SMOLVM_ERR_KRUN_LOAD_FAILED',
        });
  }

  if (!library) {
    const error = libraryError!;
    return {
      usable: false,
      // The loader's message lists every candidate on the following lines; the first says what happened.
      reason: error.message.split('\n')[0]!.replace(/\s*Tried, in order:\s*$/, ''),
      hint: error.hint ?? libkrunInstallHint(),
      library,
      libraryError,
      hypervisor,
      kernel,
    };
  }
  if (library.missing.length > 0) {
    return {
      usable: false,
      reason: `${library.file ?? library.path} lacks ${library.missing.join(', ')}, which the libkrun engine calls`,
      hint: `Install a recent libkrun 1.x built with block device support (BLK=1). ${QEMU_INSTEAD}`,
      library,
      libraryError,
      hypervisor,
      kernel,
    };
  }
  if (kernel?.problem) {
    return { usable: false, reason: kernel.problem.reason, hint: `${kernel.problem.hint} ${QEMU_INSTEAD}`, library, libraryError, hypervisor, kernel };
  }
  if (!hypervisor.usable) {
    return { usable: false, reason: `no usable hypervisor: ${hypervisor.reason}`, hint: hypervisorHint(), library, libraryError, hypervisor, kernel };
  }
  return { usable: true, reason: `${library.file ?? library.path}, ${hypervisor.reason}`, hint: undefined, library, libraryError, hypervisor, kernel };
}

/** The kernel part of the doctor line: which kernel the engine boots, and why. */
export function describeKrunKernel(kernel: KrunKernelChoice): string {
  return `kernel: ${kernel.mode === 'libkrunfw' ? "libkrunfw's" : "smolvm's own"} (${kernel.reason})`;
}

/** One line for `smolvm doctor`: the library (path, version, features) and the hypervisor, or why not. */
export function describeKrunProbe(probe: KrunProbe): string {
  const lib = probe.library;
  if (!lib) return `not available: ${probe.reason}`;
  const build = Object.entries(lib.features.build)
    .filter(([, on]) => on === true)
    .map(([name]) => name);
  const parts = [
    lib.version ? `libkrun ${lib.version}` : 'version unknown (libkrun reports none; not in the file name)',
    `features: ${build.length > 0 ? build.join(', ') : 'none reported'}${lib.features.source === 'symbols' ? ' (inferred from its symbols)' : ''}`,
  ];
  if (lib.missing.length > 0) parts.push(`lacks ${lib.missing.join(', ')}`);
  if (probe.kernel) parts.push(describeKrunKernel(probe.kernel));
  parts.push(probe.hypervisor.usable ? `hypervisor: ${probe.hypervisor.reason}` : `no usable hypervisor: ${probe.hypervisor.reason}`);
  const where = lib.file && lib.file !== lib.path ? `${lib.path} -> ${lib.file}` : lib.path;
  return `${where} (${parts.join('; ')})`;
}
