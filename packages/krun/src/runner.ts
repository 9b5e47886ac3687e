// Applies a plain JSON VM spec to libkrun in a fixed order and enters the VM. Meant for the runner
// process (runner-main.ts): krun_start_enter never returns on success and ends the process.
import {
  KRUN_DISK_FORMATS,
  KRUN_KERNEL_FORMATS,
  KRUN_LOG_LEVELS,
  KRUN_MAX_EXEC_ARGS,
  KRUN_MAX_EXEC_ENV,
  type KrunDiskFormat,
  type KrunKernelFormat,
  type KrunLogLevel,
} from './constants.js';
import { KrunError } from './errors.js';
import type { Krun, KrunTsiFeatures } from './library.js';

/** A disk image attached to the VM (`krun_add_disk2`). */
export interface KrunDiskSpec {
  /** Block id (partition name) of the disk. */
  id: string;
  /** Host path of the image. */
  path: string;
  /** Image format; always explicit (libkrun never probes, and neither should the caller). */
  format: KrunDiskFormat;
  readOnly: boolean;
}

/** Root on a disk: libkrun's init starts from a virtio-fs stub, then switches to `device`. */
export interface KrunRootDiskRemountSpec {
  /** Guest device, e.g. `/dev/vda` (a disk of `disks`). */
  device: string;
  /** Filesystem type; omitted: `auto`. */
  fstype?: string;
  /** Comma-separated mount options. */
  options?: string;
}

/** A kernel to boot instead of libkrunfw's. */
export interface KrunKernelSpec {
  path: string;
  format: KrunKernelFormat;
  initramfs?: string;
  cmdline?: string;
}

/** The program libkrun's init runs. */
export interface KrunExecSpec {
  /** Path inside the guest root. */
  path: string;
  /** Arguments after the program name (libkrun's argv excludes it); at most 32. */
  argv: string[];
  /** Environment, "KEY=value" each; at most 32. Always passed (libkrun would copy the host's for NULL). */
  env: string[];
  /** Working directory inside the guest. */
  workdir?: string;
}

/** A host directory shared with the guest under a virtio-fs tag. */
export interface KrunVirtiofsSpec {
  tag: string;
  path: string;
}

/** A vsock port bridged to a host unix socket (`krun_add_vsock_port2`). */
export interface KrunVsockPortSpec {
  port: number;
  /** Host unix socket path. */
  path: string;
  /**
   * false: the guest connects to CID 2 on `port`; libkrun connects to a socket already listening at
   * `path`. true: libkrun creates the socket at `path` (must not exist); host connections reach a guest
   * listening on `port`.
   */
  listen: boolean;
}

/**
 * Everything the runner needs to configure and start one VM. Plain JSON: the engine writes it to the
 * runner process. Unknown keys are refused (an engine/runner version mismatch shows up as an error).
 */
export interface KrunVmSpec {
  /** 1..255 vCPUs. */
  vcpus: number;
  /** RAM in MiB. */
  ramMiB: number;
  /** Host directory used as root (`krun_set_root`). Exactly one of `rootDir` and `rootDiskRemount`. */
  rootDir?: string;
  /** Disk images, attached in order (`/dev/vda`, `/dev/vdb`...). */
  disks?: KrunDiskSpec[];
  /** Root on one of `disks`. */
  rootDiskRemount?: KrunRootDiskRemountSpec;
  /** Kernel to boot; omitted: libkrunfw's. */
  kernel?: KrunKernelSpec;
  exec: KrunExecSpec;
  /** "RESOURCE=CUR:MAX" each, set in the guest before the program starts. */
  rlimits?: string[];
  /** Extra virtio-fs shares. */
  virtiofs?: KrunVirtiofsSpec[];
  /**
   * The vsock device's TSI features. Omitted: libkrun's implicit vsock device, whose TSI gives the
   * guest outbound network through the host's sockets. Set (e.g. both false for no network) to
   * replace it with an explicit one (`krun_disable_implicit_vsock` + `krun_add_vsock`).
   */
  tsi?: KrunTsiFeatures;
  vsockPorts?: KrunVsockPortSpec[];
  /**
   * TSI port map, "hostPort:guestPort" each. Omitted while TSI inet is on: an empty map is passed (no
   * guest port exposed) rather than libkrun's default of exposing every listening guest port.
   */
  portMap?: string[];
  /** File the implicit console writes to (stdin is then ignored). */
  consoleOutput?: string;
  /** Request nested virtualization (true) or explicitly not (false); omitted: not called. */
  nestedVirt?: boolean;
  /** libkrun's log level, set before the context is created (once per process). */
  logLevel?: KrunLogLevel;
}

// ---- validation --------------------------------------------------------------------------------

function fail(field: string, message: string): never {
  throw new KrunError('SMOLVM_ERR_KRUN_SPEC_INVALID', `Invalid VM spec: ${field} ${message}`, {
    field,
    hint: 'The engine and the runner come from the same @smolvm/krun; check that they match.',
  });
}

type Obj = Record<string, unknown>;

function object(field: string, value: unknown, allowed: readonly string[]): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'must be an object.');
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${field}.${key}`, `is not a known key (known: ${allowed.join(', ')}).`);
  }
  return value as Obj;
}

function string(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, 'must be a string.');
  if (value.includes('\0')) fail(field, 'must not contain a NUL character.');
  return value;
}

function nonEmpty(field: string, value: unknown): string {
  const s = string(field, value);
  if (s.length === 0) fail(field, 'must not be empty.');
  return s;
}

function optional<T>(obj: Obj, key: string, field: string, check: (field: string, value: unknown) => T): T | undefined {
  return obj[key] === undefined ? undefined : check(`${field}.${key}`, obj[key]);
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `must be an integer from ${min} to ${max}.`);
  }
  return value;
}

function boolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(field, 'must be true or false.');
  return value;
}

function array<T>(field: string, value: unknown, item: (field: string, value: unknown) => T, max?: number): T[] {
  if (!Array.isArray(value)) fail(field, 'must be an array.');
  if (max !== undefined && value.length > max) fail(field, `has ${value.length} entries; libkrun passes at most ${max}.`);
  return value.map((v, i) => item(`${field}[${i}]`, v));
}

function oneOf<T extends string>(field: string, value: unknown, table: Record<T, number>): T {
  if (typeof value !== 'string' || !Object.hasOwn(table, value)) {
    fail(field, `must be one of ${Object.keys(table).join(', ')}.`);
  }
  return value as T;
}

function unique(field: string, values: readonly (string | number)[]): void {
  const seen = new Set<string | number>();
  for (const v of values) {
    if (seen.has(v)) fail(field, `lists ${JSON.stringify(v)} twice.`);
    seen.add(v);
  }
}

const PORT_MAP_ENTRY = /^(\d{1,5}):(\d{1,5})$/;

/**
 * Checks that `value` is a {@link KrunVmSpec} (shape, ranges, libkrun's limits, consistency) and
 * returns it typed. Throws `SMOLVM_ERR_KRUN_SPEC_INVALID` naming the field.
 */
export function validateKrunVmSpec(value: unknown): KrunVmSpec {
  const s = object('spec', value, [
    'vcpus',
    'ramMiB',
    'rootDir',
    'disks',
    'rootDiskRemount',
    'kernel',
    'exec',
    'rlimits',
    'virtiofs',
    'tsi',
    'vsockPorts',
    'portMap',
    'consoleOutput',
    'nestedVirt',
    'logLevel',
  ]);
  const spec: KrunVmSpec = {
    vcpus: integer('spec.vcpus', s.vcpus, 1, 255),
    ramMiB: integer('spec.ramMiB', s.ramMiB, 1, 0xffffffff),
    exec: (() => {
      const e = object('spec.exec', s.exec, ['path', 'argv', 'env', 'workdir']);
      const exec: KrunExecSpec = {
        path: nonEmpty('spec.exec.path', e.path),
        argv: array('spec.exec.argv', e.argv, string, KRUN_MAX_EXEC_ARGS),
        env: array(
          'spec.exec.env',
          e.env,
          (field, v) => {
            const entry = string(field, v);
            if (entry.indexOf('=') < 1) fail(field, 'must look like KEY=value.');
            return entry;
          },
          KRUN_MAX_EXEC_ENV,
        ),
      };
      const workdir = optional(e, 'workdir', 'spec.exec', nonEmpty);
      if (workdir !== undefined) exec.workdir = workdir;
      return exec;
    })(),
  };

  const rootDir = optional(s, 'rootDir', 'spec', nonEmpty);
  if (rootDir !== undefined) spec.rootDir = rootDir;

  if (s.disks !== undefined) {
    spec.disks = array('spec.disks', s.disks, (field, v) => {
      const d = object(field, v, ['id', 'path', 'format', 'readOnly']);
      return {
        id: nonEmpty(`${field}.id`, d.id),
        path: nonEmpty(`${field}.path`, d.path),
        format: oneOf(`${field}.format`, d.format, KRUN_DISK_FORMATS),
        readOnly: boolean(`${field}.readOnly`, d.readOnly),
      };
    });
    unique('spec.disks (id)', spec.disks.map((d) => d.id));
  }

  if (s.rootDiskRemount !== undefined) {
    const r = object('spec.rootDiskRemount', s.rootDiskRemount, ['device', 'fstype', 'options']);
    const remount: KrunRootDiskRemountSpec = { device: nonEmpty('spec.rootDiskRemount.device', r.device) };
    const fstype = optional(r, 'fstype', 'spec.rootDiskRemount', nonEmpty);
    if (fstype !== undefined) remount.fstype = fstype;
    const options = optional(r, 'options', 'spec.rootDiskRemount', string);
    if (options !== undefined) remount.options = options;
    spec.rootDiskRemount = remount;
  }

  if ((spec.rootDir === undefined) === (spec.rootDiskRemount === undefined)) {
    fail('spec.rootDir', 'or spec.rootDiskRemount: exactly one of them must be set.');
  }
  if (spec.rootDiskRemount && !spec.disks?.length) fail('spec.disks', 'must list the disk that rootDiskRemount uses.');

  if (s.kernel !== undefined) {
    const k = object('spec.kernel', s.kernel, ['path', 'format', 'initramfs', 'cmdline']);
    const kernel: KrunKernelSpec = {
      path: nonEmpty('spec.kernel.path', k.path),
      format: oneOf('spec.kernel.format', k.format, KRUN_KERNEL_FORMATS),
    };
    const initramfs = optional(k, 'initramfs', 'spec.kernel', nonEmpty);
    if (initramfs !== undefined) kernel.initramfs = initramfs;
    const cmdline = optional(k, 'cmdline', 'spec.kernel', string);
    if (cmdline !== undefined) kernel.cmdline = cmdline;
    spec.kernel = kernel;
  }

  if (s.rlimits !== undefined) spec.rlimits = array('spec.rlimits', s.rlimits, nonEmpty);

  if (s.virtiofs !== undefined) {
    spec.virtiofs = array('spec.virtiofs', s.virtiofs, (field, v) => {
      const f = object(field, v, ['tag', 'path']);
      return { tag: nonEmpty(`${field}.tag`, f.tag), path: nonEmpty(`${field}.path`, f.path) };
    });
    unique('spec.virtiofs (tag)', spec.virtiofs.map((f) => f.tag));
  }

  if (s.tsi !== undefined) {
    const t = object('spec.tsi', s.tsi, ['hijackInet', 'hijackUnix']);
    spec.tsi = {
      hijackInet: boolean('spec.tsi.hijackInet', t.hijackInet),
      hijackUnix: boolean('spec.tsi.hijackUnix', t.hijackUnix),
    };
  }

  if (s.vsockPorts !== undefined) {
    spec.vsockPorts = array('spec.vsockPorts', s.vsockPorts, (field, v) => {
      const p = object(field, v, ['port', 'path', 'listen']);
      return {
        port: integer(`${field}.port`, p.port, 0, 0xffffffff),
        path: nonEmpty(`${field}.path`, p.path),
        listen: boolean(`${field}.listen`, p.listen),
      };
    });
    unique('spec.vsockPorts (port)', spec.vsockPorts.map((p) => p.port));
  }

  if (s.portMap !== undefined) {
    spec.portMap = array('spec.portMap', s.portMap, (field, v) => {
      const entry = string(field, v);
      const m = PORT_MAP_ENTRY.exec(entry);
      if (!m || [m[1], m[2]].some((p) => Number(p) < 1 || Number(p) > 65535)) {
        fail(field, 'must look like hostPort:guestPort (1..65535 each).');
      }
      return entry;
    });
    if (spec.portMap.length > 0 && spec.tsi && !spec.tsi.hijackInet) {
      fail('spec.portMap', 'needs TSI inet (spec.tsi.hijackInet), which this spec turns off.');
    }
  }

  const consoleOutput = optional(s, 'consoleOutput', 'spec', nonEmpty);
  if (consoleOutput !== undefined) spec.consoleOutput = consoleOutput;
  const nestedVirt = optional(s, 'nestedVirt', 'spec', boolean);
  if (nestedVirt !== undefined) spec.nestedVirt = nestedVirt;
  if (s.logLevel !== undefined) {
    spec.logLevel =
      typeof s.logLevel === 'number'
        ? integer('spec.logLevel', s.logLevel, 0, 5)
        : oneOf('spec.logLevel', s.logLevel, KRUN_LOG_LEVELS);
  }
  return spec;
}

// ---- running -----------------------------------------------------------------------------------

/**
 * Applies `spec` to `api` and enters the VM. Order: log level, `krun_create_ctx`,
 * `krun_set_vm_config`, kernel, root (`krun_set_root`, or disks then `krun_set_root_disk_remount`),
 * `krun_set_exec` + workdir + rlimits, devices (virtio-fs, vsock/TSI, vsock ports, port map,
 * console output, nested virt), then `krun_start_enter`.
 *
 * On success it never returns: libkrun ends the process with the workload's status. Every failure
 * before that throws a KrunError (the context is left configured up to the failing call; the process
 * is meant to exit right after).
 */
export function runVm(spec: KrunVmSpec, api: Krun): never {
  const s = validateKrunVmSpec(spec);

  if (s.logLevel !== undefined) api.setLogLevel(s.logLevel);
  const ctx = api.createCtx();
  api.setVmConfig(ctx, s.vcpus, s.ramMiB);

  if (s.kernel) api.setKernel(ctx, s.kernel.path, s.kernel.format, s.kernel.initramfs, s.kernel.cmdline);

  if (s.rootDir !== undefined) api.setRoot(ctx, s.rootDir);
  for (const disk of s.disks ?? []) {
    // An old libkrun with BLK but without the format-aware call can still take raw images.
    if (disk.format === 'raw' && !api.has('krun_add_disk2') && api.has('krun_add_disk')) {
      api.addDisk(ctx, disk.id, disk.path, disk.readOnly);
    } else {
      api.addDisk2(ctx, disk.id, disk.path, disk.format, disk.readOnly);
    }
  }
  if (s.rootDiskRemount) {
    api.setRootDiskRemount(ctx, s.rootDiskRemount.device, s.rootDiskRemount.fstype, s.rootDiskRemount.options);
  }

  api.setExec(ctx, s.exec.path, s.exec.argv, s.exec.env);
  if (s.exec.workdir !== undefined) api.setWorkdir(ctx, s.exec.workdir);
  if (s.rlimits !== undefined) api.setRlimits(ctx, s.rlimits);

  for (const share of s.virtiofs ?? []) api.addVirtiofs(ctx, share.tag, share.path);
  if (s.tsi) {
    api.disableImplicitVsock(ctx);
    api.addVsock(ctx, s.tsi);
  }
  for (const port of s.vsockPorts ?? []) api.addVsockPort2(ctx, port.port, port.path, port.listen);
  const tsiInet = s.tsi ? s.tsi.hijackInet : true;
  if (s.portMap !== undefined) api.setPortMap(ctx, s.portMap);
  else if (tsiInet) api.setPortMap(ctx, []);
  if (s.consoleOutput !== undefined) api.setConsoleOutput(ctx, s.consoleOutput);
  if (s.nestedVirt !== undefined) api.setNestedVirt(ctx, s.nestedVirt);

  return api.startEnter(ctx);
}
