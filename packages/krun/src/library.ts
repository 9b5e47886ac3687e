// Typed wrappers over the koffi-bound libkrun functions. Each method checks its arguments before
// calling into C (a wrong type or range would otherwise be truncated or crash), maps a negative
// errno to a coded KrunError, and documents the C semantics it relies on.
import type * as KoffiTypes from 'koffi';
import {
  KRUN_DISK_FORMATS,
  KRUN_FEATURES,
  KRUN_KERNEL_FORMATS,
  KRUN_LOG_LEVELS,
  KRUN_LOG_OPTION_NO_ENV,
  KRUN_LOG_STYLES,
  KRUN_LOG_TARGET_DEFAULT,
  KRUN_SYNC_MODES,
  KRUN_TSI_HIJACK_INET,
  KRUN_TSI_HIJACK_UNIX,
  KRUN_VIRTIO_DEVICES,
  type KrunDiskFormat,
  type KrunFeatureName,
  type KrunKernelFormat,
  type KrunLogLevel,
  type KrunLogStyle,
  type KrunSyncMode,
  type KrunVirtioDevice,
} from './constants.js';
import { callFailed, KrunError } from './errors.js';
import { claimLogger } from './log-guard.js';
import { availabilityHint, KRUN_SYMBOLS, type KrunFunctionName } from './symbols.js';

/** A function bound by koffi. */
export type KoffiFunction = (...args: unknown[]) => unknown;
type KoffiModule = typeof KoffiTypes;

/** A MAC address: six bytes, or `"52:54:00:12:34:56"`. */
export type KrunMacAddress = Uint8Array | readonly number[] | string;

/** Where a userspace network proxy is reached: a socket path, or an already connected fd. */
export type KrunNetEndpoint = { path: string; fd?: undefined } | { fd: number; path?: undefined };

/** Options of {@link Krun.initLog}. */
export interface KrunInitLogOptions {
  /** File descriptor to log to; default `KRUN_LOG_TARGET_DEFAULT` (-1: stderr). */
  targetFd?: number;
  level: KrunLogLevel;
  /** Terminal colours; default `auto`. */
  style?: KrunLogStyle;
  /** Forbid environment variables (RUST_LOG...) from overriding these settings; default false. */
  noEnv?: boolean;
}

/** TSI features of {@link Krun.addVsock}: which guest sockets libkrun forwards through the host. */
export interface KrunTsiFeatures {
  /** Forward guest AF_INET/AF_INET6 sockets through the host (`KRUN_TSI_HIJACK_INET`). */
  hijackInet: boolean;
  /** Forward guest AF_UNIX sockets through the host (`KRUN_TSI_HIJACK_UNIX`). */
  hijackUnix: boolean;
}

/** Options of {@link Krun.addVhostUserDevice}. */
export interface KrunVhostUserOptions {
  /** Device name for libkrun's logs; default: generated from the device type. */
  name?: string;
  /** Number of queues; 0 (default) asks the backend. */
  numQueues?: number;
  /** One size per queue (exactly `numQueues` of them when `numQueues` > 0); default 256 each. */
  queueSizes?: readonly number[];
}

/** What a loaded libkrun can do. */
export interface KrunFeatures {
  /** The name or path the library was opened with. */
  libraryPath: string;
  /** Declared functions the library exports. */
  available: KrunFunctionName[];
  /** Declared functions it lacks (calling one throws `SMOLVM_ERR_KRUN_SYMBOL_MISSING`). */
  missing: KrunFunctionName[];
  /**
   * Where `build` comes from: `krun_has_feature` (libkrun 1.17.3+), or `symbols` (inferred from the
   * exported functions of an older libkrun; `null` where that says nothing).
   */
  source: 'krun_has_feature' | 'symbols';
  /** Build features (`KRUN_FEATURE_*`): true, false, or null when unknown. */
  build: Record<KrunFeatureName, boolean | null>;
}

const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

function invalid(fn: string, message: string): KrunError {
  return new KrunError('SMOLVM_ERR_KRUN_INVALID_ARGUMENT', `${fn}: ${message}`, { fn });
}

function int(fn: string, name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(fn, `${name} must be an integer from ${min} to ${max}, got ${String(value)}.`);
  }
  return value;
}

const u32 = (fn: string, name: string, value: unknown): number => int(fn, name, value, 0, U32_MAX);
const i32 = (fn: string, name: string, value: unknown): number => int(fn, name, value, -0x80000000, 0x7fffffff);
/** Context ids are uint32 and start at 0: 0 is a valid id, never "no context". */
const ctxId = (fn: string, value: unknown): number => u32(fn, 'ctx', value);

function u64(fn: string, name: string, value: unknown): number | bigint {
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw invalid(fn, `${name} must fit in 64 unsigned bits, got ${value}.`);
    return value;
  }
  return int(fn, name, value, 0, Number.MAX_SAFE_INTEGER);
}

function cstr(fn: string, name: string, value: unknown): string {
  if (typeof value !== 'string') throw invalid(fn, `${name} must be a string, got ${typeof value}.`);
  // A NUL byte would silently cut the C string short.
  if (value.includes('\0')) throw invalid(fn, `${name} contains a NUL character, which C strings cannot carry.`);
  return value;
}

function optCstr(fn: string, name: string, value: unknown): string | null {
  return value === undefined || value === null ? null : cstr(fn, name, value);
}

/** A NULL-terminated `const char *const *`: a JS array of strings ending in `null`. */
function cstrArray(fn: string, name: string, value: unknown): (string | null)[] {
  if (!Array.isArray(value)) throw invalid(fn, `${name} must be an array of strings (NULL is not offered).`);
  const out: (string | null)[] = value.map((item, i) => cstr(fn, `${name}[${i}]`, item));
  out.push(null);
  return out;
}

function bytes(fn: string, name: string, value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(fn, `${name} must be a Uint8Array or Buffer.`);
  return value;
}

function mac(fn: string, value: unknown): Uint8Array {
  let octets: number[];
  if (typeof value === 'string') {
    const parts = value.split(/[:-]/);
    if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
      throw invalid(fn, `mac must look like 52:54:00:12:34:56, got ${JSON.stringify(value)}.`);
    }
    octets = parts.map((p) => Number.parseInt(p, 16));
  } else if (value instanceof Uint8Array || Array.isArray(value)) {
    octets = Array.from(value as ArrayLike<number>);
  } else {
    throw invalid(fn, 'mac must be six bytes or a string like 52:54:00:12:34:56.');
  }
  if (octets.length !== 6) throw invalid(fn, `mac must have 6 bytes, got ${octets.length}.`);
  octets.forEach((o, i) => int(fn, `mac[${i}]`, o, 0, 255));
  return Uint8Array.from(octets);
}

function named<T extends Record<string, number>>(fn: string, what: string, table: T, value: unknown): number {
  if (typeof value === 'string' && Object.hasOwn(table, value)) return table[value as keyof T] as number;
  if (typeof value === 'number' && Object.values(table).includes(value)) return value;
  throw invalid(fn, `${what} must be one of ${Object.keys(table).join(', ')}, got ${JSON.stringify(value)}.`);
}

function logLevel(fn: string, value: unknown): number {
  if (typeof value === 'number') return int(fn, 'level', value, 0, 5);
  return named(fn, 'level', KRUN_LOG_LEVELS, value);
}

/**
 * A loaded libkrun. Obtain one with `loadKrun()`; the library stays loaded for the process.
 *
 * Every method calls one C function (named in its doc) and throws `SMOLVM_ERR_KRUN_CALL_FAILED`
 * (with `fn`, `errno`, `errnoName`) when it returns a negative errno, `SMOLVM_ERR_KRUN_SYMBOL_MISSING`
 * when this library lacks the function, and `SMOLVM_ERR_KRUN_INVALID_ARGUMENT` for an argument C
 * could not receive intact. String arrays are passed NULL-terminated; `null` for a whole array (which
 * means "inherit the host environment" or "expose every port" to libkrun) is deliberately not offered.
 */
export class Krun {
  readonly #koffi: KoffiModule;
  readonly #fns: ReadonlyMap<KrunFunctionName, KoffiFunction>;
  readonly #missing: readonly KrunFunctionName[];
  /** Memory libkrun keeps pointers to (overlay files, backends), per context, kept alive until freeCtx. */
  readonly #retained = new Map<number, unknown[]>();
  /** Build features, queried once (they cannot change while the library is loaded). */
  #build: Pick<KrunFeatures, 'source' | 'build'> | undefined;
  /** The name or path this library was opened with. */
  readonly path: string;

  /** @internal Use `loadKrun()`. */
  constructor(
    koffi: KoffiModule,
    path: string,
    fns: ReadonlyMap<KrunFunctionName, KoffiFunction>,
    missing: readonly KrunFunctionName[],
  ) {
    this.#koffi = koffi;
    this.path = path;
    this.#fns = fns;
    this.#missing = missing;
  }

  /** Whether this library exports `fn`. */
  has(fn: KrunFunctionName): boolean {
    return this.#fns.has(fn);
  }

  /** What this library can do: exported and missing functions, and its build features. */
  features(): KrunFeatures {
    const available = KRUN_SYMBOLS.map((s) => s.name).filter((n) => this.#fns.has(n));
    this.#build ??= this.#buildFeatures();
    return {
      libraryPath: this.path,
      available,
      missing: [...this.#missing],
      source: this.#build.source,
      build: { ...this.#build.build },
    };
  }

  #buildFeatures(): Pick<KrunFeatures, 'source' | 'build'> {
    const build = {} as Record<KrunFeatureName, boolean | null>;
    if (this.has('krun_has_feature')) {
      for (const [name, value] of Object.entries(KRUN_FEATURES) as [KrunFeatureName, number][]) {
        // A negative result (-EINVAL) means this libkrun predates the constant: unknown.
        const result = this.#fns.get('krun_has_feature')!(value) as number;
        build[name] = result < 0 ? null : result > 0;
      }
      return { source: 'krun_has_feature', build };
    }
    const any = (...fns: KrunFunctionName[]): boolean => fns.some((f) => this.has(f));
    for (const name of Object.keys(KRUN_FEATURES) as KrunFeatureName[]) build[name] = null;
    build.net = any('krun_add_net_unixstream', 'krun_add_net_unixgram', 'krun_add_net_tap', 'krun_set_passt_fd');
    build.blk = any('krun_add_disk', 'krun_add_disk2', 'krun_add_disk3', 'krun_set_root_disk');
    build.gpu = any('krun_set_gpu_options', 'krun_set_gpu_options2');
    build.input = any('krun_add_input_device', 'krun_add_input_device_fd');
    build.tee = any('krun_set_tee_config_file');
    return { source: 'symbols', build };
  }

  #fn(fn: KrunFunctionName): KoffiFunction {
    const f = this.#fns.get(fn);
    if (!f) {
      const symbol = KRUN_SYMBOLS.find((s) => s.name === fn);
      throw new KrunError(
        'SMOLVM_ERR_KRUN_SYMBOL_MISSING',
        `${fn} is not exported by the libkrun loaded from ${this.path}.`,
        { fn, hint: symbol ? availabilityHint(symbol.availability) : undefined, libraryPath: this.path },
      );
    }
    return f;
  }

  /** Calls `fn`; a negative result becomes a coded error, any other is returned. */
  #call(fn: KrunFunctionName, ...args: unknown[]): number {
    const f = this.#fn(fn);
    let result: unknown;
    try {
      result = f(...args);
    } catch (cause) {
      // koffi refused to convert an argument: a wrapper let through something it should not have.
      throw new KrunError('SMOLVM_ERR_KRUN_INVALID_ARGUMENT', `${fn}: koffi could not pass the arguments.`, {
        fn,
        cause,
      });
    }
    const value = Number(result);
    if (value < 0) throw callFailed(fn, value, this.path);
    return value;
  }

  /** Copies `data` into memory koffi will not move or free, kept until `freeCtx(ctx)`. */
  #stable(ctx: number, data: Uint8Array): unknown {
    const ptr = this.#koffi.alloc('uint8_t', Math.max(1, data.byteLength));
    if (data.byteLength > 0) new Uint8Array(this.#koffi.view(ptr, data.byteLength)).set(data);
    const list = this.#retained.get(ctx) ?? [];
    list.push(ptr);
    this.#retained.set(ctx, list);
    return ptr;
  }

  // ---- logging ---------------------------------------------------------------------------------

  /**
   * `krun_set_log_level(level)`: initialises libkrun's logger at `level` (stderr).
   * At most once per process, counting {@link initLog}: a second call throws
   * `SMOLVM_ERR_KRUN_LOG_ALREADY_INITIALISED` instead of letting libkrun abort the process.
   */
  setLogLevel(level: KrunLogLevel): void {
    const fn = 'krun_set_log_level';
    const value = logLevel(fn, level);
    this.#fn(fn);
    claimLogger(fn);
    this.#call(fn, value);
  }

  /** `krun_init_log(target_fd, level, style, options)`: like {@link setLogLevel}, with a target fd and style. */
  initLog(options: KrunInitLogOptions): void {
    const fn = 'krun_init_log';
    const target = i32(fn, 'targetFd', options.targetFd ?? KRUN_LOG_TARGET_DEFAULT);
    const level = logLevel(fn, options.level);
    const style = named(fn, 'style', KRUN_LOG_STYLES, options.style ?? 'auto');
    this.#fn(fn);
    claimLogger(fn);
    this.#call(fn, target, level, style, options.noEnv ? KRUN_LOG_OPTION_NO_ENV : 0);
  }

  // ---- context and VM --------------------------------------------------------------------------

  /** `krun_create_ctx()`: a new configuration context. Ids start at 0, and 0 is a valid id. */
  createCtx(): number {
    return this.#call('krun_create_ctx');
  }

  /** `krun_free_ctx(ctx)`: frees a context that was not started, and the memory retained for it. */
  freeCtx(ctx: number): void {
    this.#call('krun_free_ctx', ctxId('krun_free_ctx', ctx));
    for (const ptr of this.#retained.get(ctx) ?? []) this.#koffi.free(ptr);
    this.#retained.delete(ctx);
  }

  /** `krun_set_vm_config(ctx, num_vcpus, ram_mib)`: vCPUs (1..255, a uint8) and RAM in MiB. */
  setVmConfig(ctx: number, vcpus: number, ramMiB: number): void {
    const fn = 'krun_set_vm_config';
    this.#call(fn, ctxId(fn, ctx), int(fn, 'vcpus', vcpus, 1, 255), int(fn, 'ramMiB', ramMiB, 1, U32_MAX));
  }

  // ---- root and disks --------------------------------------------------------------------------

  /** `krun_set_root(ctx, path)`: host directory shared as the root (virtio-fs tag `/dev/root`). */
  setRoot(ctx: number, path: string): void {
    const fn = 'krun_set_root';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  /** `krun_set_root_disk(ctx, path)`: deprecated raw root disk; use {@link addDisk2}. */
  setRootDisk(ctx: number, path: string): void {
    const fn = 'krun_set_root_disk';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  /** `krun_set_data_disk(ctx, path)`: deprecated raw data disk; use {@link addDisk2}. */
  setDataDisk(ctx: number, path: string): void {
    const fn = 'krun_set_data_disk';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  /** `krun_add_disk(ctx, block_id, path, read_only)`: a raw disk image. */
  addDisk(ctx: number, blockId: string, path: string, readOnly: boolean): void {
    const fn = 'krun_add_disk';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'blockId', blockId), cstr(fn, 'path', path), readOnly === true);
  }

  /**
   * `krun_add_disk2(ctx, block_id, path, format, read_only)`: a disk image of an explicit format.
   * Never probe the format of an image a guest could have written: a guest can turn a raw image into
   * a qcow2 that references host files (libkrun's security note).
   */
  addDisk2(ctx: number, blockId: string, path: string, format: KrunDiskFormat, readOnly: boolean): void {
    const fn = 'krun_add_disk2';
    this.#call(
      fn,
      ctxId(fn, ctx),
      cstr(fn, 'blockId', blockId),
      cstr(fn, 'path', path),
      named(fn, 'format', KRUN_DISK_FORMATS, format),
      readOnly === true,
    );
  }

  /** `krun_add_disk3(ctx, block_id, path, format, read_only, direct_io, sync_mode)`. */
  addDisk3(
    ctx: number,
    blockId: string,
    path: string,
    format: KrunDiskFormat,
    readOnly: boolean,
    directIo: boolean,
    syncMode: KrunSyncMode,
  ): void {
    const fn = 'krun_add_disk3';
    this.#call(
      fn,
      ctxId(fn, ctx),
      cstr(fn, 'blockId', blockId),
      cstr(fn, 'path', path),
      named(fn, 'format', KRUN_DISK_FORMATS, format),
      readOnly === true,
      directIo === true,
      named(fn, 'syncMode', KRUN_SYNC_MODES, syncMode),
    );
  }

  /**
   * `krun_set_root_disk_remount(ctx, device, fstype, options)`: boot from libkrun's virtio-fs init,
   * then switch root to `device` (e.g. `/dev/vda`, a disk added before). `fstype` null/`auto` probes.
   */
  setRootDiskRemount(ctx: number, device: string, fstype?: string | null, options?: string | null): void {
    const fn = 'krun_set_root_disk_remount';
    this.#call(
      fn,
      ctxId(fn, ctx),
      cstr(fn, 'device', device),
      optCstr(fn, 'fstype', fstype),
      optCstr(fn, 'options', options),
    );
  }

  /** `krun_set_mapped_volumes(ctx, volumes)`: no longer supported by libkrun; kept for completeness. */
  setMappedVolumes(ctx: number, volumes: readonly string[]): void {
    const fn = 'krun_set_mapped_volumes';
    this.#call(fn, ctxId(fn, ctx), cstrArray(fn, 'volumes', volumes));
  }

  // ---- virtio-fs -------------------------------------------------------------------------------

  /** `krun_add_virtiofs(ctx, tag, path)`: shares a host directory under `tag`. */
  addVirtiofs(ctx: number, tag: string, path: string): void {
    const fn = 'krun_add_virtiofs';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'tag', tag), cstr(fn, 'path', path));
  }

  /** `krun_add_virtiofs2(ctx, tag, path, shm_size)`: with a DAX window of `shmSizeBytes`. */
  addVirtiofs2(ctx: number, tag: string, path: string, shmSizeBytes: number | bigint): void {
    const fn = 'krun_add_virtiofs2';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'tag', tag), cstr(fn, 'path', path), u64(fn, 'shmSizeBytes', shmSizeBytes));
  }

  /** `krun_add_virtiofs3(ctx, tag, path, shm_size, read_only)`. */
  addVirtiofs3(ctx: number, tag: string, path: string, shmSizeBytes: number | bigint, readOnly: boolean): void {
    const fn = 'krun_add_virtiofs3';
    this.#call(
      fn,
      ctxId(fn, ctx),
      cstr(fn, 'tag', tag),
      cstr(fn, 'path', path),
      u64(fn, 'shmSizeBytes', shmSizeBytes),
      readOnly === true,
    );
  }

  /**
   * `krun_fs_add_overlay_file(ctx, fs_tag, path, data, len, mode, one_shot)`: a file backed by host
   * memory in a virtio-fs device. libkrun does not copy `data`: it is copied here into memory that
   * stays allocated until `freeCtx(ctx)` (or the end of the process once started).
   */
  fsAddOverlayFile(ctx: number, fsTag: string, path: string, data: Uint8Array, mode: number, oneShot: boolean): void {
    const fn = 'krun_fs_add_overlay_file';
    const id = ctxId(fn, ctx);
    const tag = cstr(fn, 'fsTag', fsTag);
    const p = cstr(fn, 'path', path);
    const content = bytes(fn, 'data', data);
    const m = u32(fn, 'mode', mode);
    this.#fn(fn); // before allocating: a missing symbol must not leave memory behind
    this.#call(fn, id, tag, p, this.#stable(id, content), content.byteLength, m, oneShot === true);
  }

  /** `krun_fs_add_overlay_dir(ctx, fs_tag, path, mode)`: an empty read-only directory. */
  fsAddOverlayDir(ctx: number, fsTag: string, path: string, mode: number): void {
    const fn = 'krun_fs_add_overlay_dir';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'fsTag', fsTag), cstr(fn, 'path', path), u32(fn, 'mode', mode));
  }

  // ---- network ---------------------------------------------------------------------------------

  #netEndpoint(fn: string, endpoint: KrunNetEndpoint): [string | null, number] {
    // libkrun takes either a path (fd -1) or an fd (path NULL), never both.
    if (endpoint?.path !== undefined && endpoint.fd === undefined) {
      return [cstr(fn, 'endpoint.path', endpoint.path), -1];
    }
    if (endpoint?.fd !== undefined && endpoint.path === undefined) {
      return [null, int(fn, 'endpoint.fd', endpoint.fd, 0, 0x7fffffff)];
    }
    throw invalid(fn, 'endpoint must have exactly one of path or fd.');
  }

  /**
   * `krun_add_net_unixstream(ctx, path, fd, mac, features, flags)`: a virtio-net device on a
   * stream-socket proxy (passt, socket_vmnet). Adding a NIC disables TSI; call it before setPortMap.
   */
  addNetUnixstream(
    ctx: number,
    endpoint: KrunNetEndpoint,
    macAddress: KrunMacAddress,
    features: number,
    flags: number,
  ): void {
    const fn = 'krun_add_net_unixstream';
    const [path, fd] = this.#netEndpoint(fn, endpoint);
    const id = ctxId(fn, ctx);
    this.#call(fn, id, path, fd, mac(fn, macAddress), u32(fn, 'features', features), u32(fn, 'flags', flags));
  }

  /** `krun_add_net_unixgram(ctx, path, fd, mac, features, flags)`: on a datagram proxy (gvproxy, vmnet-helper). */
  addNetUnixgram(
    ctx: number,
    endpoint: KrunNetEndpoint,
    macAddress: KrunMacAddress,
    features: number,
    flags: number,
  ): void {
    const fn = 'krun_add_net_unixgram';
    const [path, fd] = this.#netEndpoint(fn, endpoint);
    const id = ctxId(fn, ctx);
    this.#call(fn, id, path, fd, mac(fn, macAddress), u32(fn, 'features', features), u32(fn, 'flags', flags));
  }

  /** `krun_add_net_tap(ctx, tap_name, mac, features, flags)`: on a host tap device. */
  addNetTap(ctx: number, tapName: string, macAddress: KrunMacAddress, features: number, flags: number): void {
    const fn = 'krun_add_net_tap';
    this.#call(
      fn,
      ctxId(fn, ctx),
      cstr(fn, 'tapName', tapName),
      mac(fn, macAddress),
      u32(fn, 'features', features),
      u32(fn, 'flags', flags),
    );
  }

  /** `krun_set_passt_fd(ctx, fd)`: deprecated; use {@link addNetUnixstream}. */
  setPasstFd(ctx: number, fd: number): void {
    const fn = 'krun_set_passt_fd';
    this.#call(fn, ctxId(fn, ctx), int(fn, 'fd', fd, 0, 0x7fffffff));
  }

  /** `krun_set_gvproxy_path(ctx, path)`: deprecated; use {@link addNetUnixgram}. */
  setGvproxyPath(ctx: number, path: string): void {
    const fn = 'krun_set_gvproxy_path';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  /** `krun_set_net_mac(ctx, mac)`: MAC of the passt device. */
  setNetMac(ctx: number, macAddress: KrunMacAddress): void {
    const fn = 'krun_set_net_mac';
    this.#call(fn, ctxId(fn, ctx), mac(fn, macAddress));
  }

  /**
   * `krun_set_port_map(ctx, ["host:guest", ...])`: TSI TCP port map. An empty array exposes no guest
   * port; libkrun's default when this is never called is to try to expose every listening guest port.
   * Refused (ENOTSUP) once a NIC was added. Not a firewall: recent libkrun may expose unmapped ports.
   */
  setPortMap(ctx: number, portMap: readonly string[]): void {
    const fn = 'krun_set_port_map';
    this.#call(fn, ctxId(fn, ctx), cstrArray(fn, 'portMap', portMap));
  }

  // ---- GPU and display -------------------------------------------------------------------------

  /** `krun_set_gpu_options(ctx, virgl_flags)`: enables virtio-gpu. */
  setGpuOptions(ctx: number, virglFlags: number): void {
    const fn = 'krun_set_gpu_options';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'virglFlags', virglFlags));
  }

  /** `krun_set_gpu_options2(ctx, virgl_flags, shm_size)`: with a host window of `shmSizeBytes`. */
  setGpuOptions2(ctx: number, virglFlags: number, shmSizeBytes: number | bigint): void {
    const fn = 'krun_set_gpu_options2';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'virglFlags', virglFlags), u64(fn, 'shmSizeBytes', shmSizeBytes));
  }

  /** `krun_add_display(ctx, width, height)`: returns the display id (0..15). */
  addDisplay(ctx: number, width: number, height: number): number {
    const fn = 'krun_add_display';
    return this.#call(fn, ctxId(fn, ctx), u32(fn, 'width', width), u32(fn, 'height', height));
  }

  /** `krun_display_set_edid(ctx, display_id, blob, size)`. */
  displaySetEdid(ctx: number, displayId: number, edid: Uint8Array): void {
    const fn = 'krun_display_set_edid';
    const blob = bytes(fn, 'edid', edid);
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'displayId', displayId), blob, blob.byteLength);
  }

  /** `krun_display_set_dpi(ctx, display_id, dpi)`. */
  displaySetDpi(ctx: number, displayId: number, dpi: number): void {
    const fn = 'krun_display_set_dpi';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'displayId', displayId), u32(fn, 'dpi', dpi));
  }

  /** `krun_display_set_physical_size(ctx, display_id, width_mm, height_mm)` (uint16 each). */
  displaySetPhysicalSize(ctx: number, displayId: number, widthMm: number, heightMm: number): void {
    const fn = 'krun_display_set_physical_size';
    this.#call(
      fn,
      ctxId(fn, ctx),
      u32(fn, 'displayId', displayId),
      int(fn, 'widthMm', widthMm, 0, 0xffff),
      int(fn, 'heightMm', heightMm, 0, 0xffff),
    );
  }

  /** `krun_display_set_refresh_rate(ctx, display_id, hz)`. */
  displaySetRefreshRate(ctx: number, displayId: number, refreshRateHz: number): void {
    const fn = 'krun_display_set_refresh_rate';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'displayId', displayId), u32(fn, 'refreshRateHz', refreshRateHz));
  }

  /**
   * `krun_set_display_backend(ctx, backend, size)`: `backend` is the bytes of a
   * `struct krun_display_backend` (libkrun_display.h), copied into memory kept until `freeCtx`.
   */
  setDisplayBackend(ctx: number, backend: Uint8Array): void {
    const fn = 'krun_set_display_backend';
    const id = ctxId(fn, ctx);
    const data = bytes(fn, 'backend', backend);
    this.#fn(fn);
    this.#call(fn, id, this.#stable(id, data), data.byteLength);
  }

  // ---- input and vhost-user --------------------------------------------------------------------

  /**
   * `krun_add_input_device(ctx, config, config_size, events, events_size)`: the bytes of a
   * `krun_input_config` and a `krun_input_event_provider`, copied into memory kept until `freeCtx`.
   */
  addInputDevice(ctx: number, config: Uint8Array, events: Uint8Array): void {
    const fn = 'krun_add_input_device';
    const id = ctxId(fn, ctx);
    const c = bytes(fn, 'config', config);
    const e = bytes(fn, 'events', events);
    this.#fn(fn);
    this.#call(fn, id, this.#stable(id, c), c.byteLength, this.#stable(id, e), e.byteLength);
  }

  /** `krun_add_input_device_fd(ctx, fd)`: passes a host /dev/input/* device through. */
  addInputDeviceFd(ctx: number, fd: number): void {
    const fn = 'krun_add_input_device_fd';
    this.#call(fn, ctxId(fn, ctx), int(fn, 'fd', fd, 0, 0x7fffffff));
  }

  /**
   * `krun_add_vhost_user_device(ctx, type, socket_path, name, num_queues, queue_sizes)`. With
   * `numQueues` 0 the sizes are passed 0-terminated, as libkrun reads them then.
   */
  addVhostUserDevice(
    ctx: number,
    deviceType: KrunVirtioDevice | number,
    socketPath: string,
    options: KrunVhostUserOptions = {},
  ): void {
    const fn = 'krun_add_vhost_user_device';
    const type =
      typeof deviceType === 'number'
        ? u32(fn, 'deviceType', deviceType)
        : named(fn, 'deviceType', KRUN_VIRTIO_DEVICES, deviceType);
    const numQueues = int(fn, 'numQueues', options.numQueues ?? 0, 0, 0xffff);
    let sizes: Uint16Array | null = null;
    if (options.queueSizes !== undefined) {
      const list = options.queueSizes.map((s, i) => int(fn, `queueSizes[${i}]`, s, 1, 0xffff));
      if (numQueues > 0 && list.length !== numQueues) {
        throw invalid(fn, `queueSizes must have exactly numQueues (${numQueues}) entries, got ${list.length}.`);
      }
      sizes = Uint16Array.from(numQueues > 0 ? list : [...list, 0]);
    }
    const id = ctxId(fn, ctx);
    const socket = cstr(fn, 'socketPath', socketPath);
    this.#call(fn, id, type, socket, optCstr(fn, 'name', options.name), numQueues, sizes);
  }

  // ---- workload --------------------------------------------------------------------------------

  /** `krun_set_rlimits(ctx, ["RESOURCE=CUR:MAX", ...])`: rlimits set in the guest before the program. */
  setRlimits(ctx: number, rlimits: readonly string[]): void {
    const fn = 'krun_set_rlimits';
    this.#call(fn, ctxId(fn, ctx), cstrArray(fn, 'rlimits', rlimits));
  }

  /** `krun_set_smbios_oem_strings(ctx, strings)`. */
  setSmbiosOemStrings(ctx: number, strings: readonly string[]): void {
    const fn = 'krun_set_smbios_oem_strings';
    this.#call(fn, ctxId(fn, ctx), cstrArray(fn, 'strings', strings));
  }

  /** `krun_set_workdir(ctx, path)`: working directory of the program, inside the guest root. */
  setWorkdir(ctx: number, path: string): void {
    const fn = 'krun_set_workdir';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  /**
   * `krun_set_exec(ctx, path, argv, envp)`: the program libkrun's init runs. `argv` excludes the
   * program name. `env` is always passed as an array ("KEY=value"): libkrun would copy the whole host
   * environment for NULL, so NULL is not offered. Everything travels on the kernel command line: at
   * most 32 arguments and 32 variables reach the program, and the line is short (2048 bytes on aarch64).
   */
  setExec(ctx: number, path: string, argv: readonly string[], env: readonly string[]): void {
    const fn = 'krun_set_exec';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path), cstrArray(fn, 'argv', argv), cstrArray(fn, 'env', env));
  }

  /** `krun_set_env(ctx, envp)`: environment of the program (always an array; see {@link setExec}). */
  setEnv(ctx: number, env: readonly string[]): void {
    const fn = 'krun_set_env';
    this.#call(fn, ctxId(fn, ctx), cstrArray(fn, 'env', env));
  }

  // ---- kernel, firmware, TEE -------------------------------------------------------------------

  /** `krun_set_firmware(ctx, path)`. */
  setFirmware(ctx: number, path: string): void {
    const fn = 'krun_set_firmware';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  /**
   * `krun_set_kernel(ctx, path, format, initramfs, cmdline)`: boot this kernel instead of
   * libkrunfw's. `initramfs` and `cmdline` may be omitted (NULL).
   */
  setKernel(
    ctx: number,
    path: string,
    format: KrunKernelFormat,
    initramfs?: string | null,
    cmdline?: string | null,
  ): void {
    const fn = 'krun_set_kernel';
    this.#call(
      fn,
      ctxId(fn, ctx),
      cstr(fn, 'path', path),
      named(fn, 'format', KRUN_KERNEL_FORMATS, format),
      optCstr(fn, 'initramfs', initramfs),
      optCstr(fn, 'cmdline', cmdline),
    );
  }

  /** `krun_set_kernel_console(ctx, console_id)`: the `console=` kernel argument. */
  setKernelConsole(ctx: number, consoleId: string): void {
    const fn = 'krun_set_kernel_console';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'consoleId', consoleId));
  }

  /** `krun_set_tee_config_file(ctx, path)`: TEE flavours of libkrun only. */
  setTeeConfigFile(ctx: number, path: string): void {
    const fn = 'krun_set_tee_config_file';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  // ---- vsock -----------------------------------------------------------------------------------

  /** `krun_add_vsock_port(ctx, port, path)`: like {@link addVsockPort2} with `listen` false. */
  addVsockPort(ctx: number, port: number, path: string): void {
    const fn = 'krun_add_vsock_port';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'port', port), cstr(fn, 'path', path));
  }

  /**
   * `krun_add_vsock_port2(ctx, port, path, listen)`. `listen` false: the guest connects to CID 2 on
   * `port` and libkrun connects to a host unix socket already listening at `path`. `listen` true:
   * libkrun creates the socket at `path` (which must not exist) and host connections reach a guest
   * listening on `port`.
   */
  addVsockPort2(ctx: number, port: number, path: string, listen: boolean): void {
    const fn = 'krun_add_vsock_port2';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'port', port), cstr(fn, 'path', path), listen === true);
  }

  /**
   * `krun_add_vsock(ctx, tsi_features)`: the vsock device with exactly these TSI features (both false:
   * vsock without network). Call {@link disableImplicitVsock} first; one vsock device at most.
   */
  addVsock(ctx: number, tsi: KrunTsiFeatures): void {
    const fn = 'krun_add_vsock';
    if (typeof tsi !== 'object' || tsi === null) throw invalid(fn, 'tsi must be { hijackInet, hijackUnix }.');
    const flags = (tsi.hijackInet ? KRUN_TSI_HIJACK_INET : 0) | (tsi.hijackUnix ? KRUN_TSI_HIJACK_UNIX : 0);
    this.#call(fn, ctxId(fn, ctx), flags);
  }

  /** `krun_disable_implicit_vsock(ctx)`: no implicit vsock device (and so no implicit TSI). */
  disableImplicitVsock(ctx: number): void {
    const fn = 'krun_disable_implicit_vsock';
    this.#call(fn, ctxId(fn, ctx));
  }

  /** `krun_get_shutdown_eventfd(ctx)`: an eventfd that asks the guest to shut down; call before start. */
  getShutdownEventfd(ctx: number): number {
    const fn = 'krun_get_shutdown_eventfd';
    return this.#call(fn, ctxId(fn, ctx));
  }

  // ---- consoles --------------------------------------------------------------------------------

  /** `krun_set_console_output(ctx, path)`: the implicit console ignores stdin and writes to `path`. */
  setConsoleOutput(ctx: number, path: string): void {
    const fn = 'krun_set_console_output';
    this.#call(fn, ctxId(fn, ctx), cstr(fn, 'path', path));
  }

  /** `krun_disable_implicit_console(ctx)`. */
  disableImplicitConsole(ctx: number): void {
    const fn = 'krun_disable_implicit_console';
    this.#call(fn, ctxId(fn, ctx));
  }

  /** `krun_add_virtio_console_default(ctx, in, out, err)`: a console on these fds (TTY-aware). */
  addVirtioConsoleDefault(ctx: number, inputFd: number, outputFd: number, errFd: number): void {
    const fn = 'krun_add_virtio_console_default';
    this.#call(fn, ctxId(fn, ctx), i32(fn, 'inputFd', inputFd), i32(fn, 'outputFd', outputFd), i32(fn, 'errFd', errFd));
  }

  /** `krun_add_serial_console_default(ctx, in, out)`: a legacy serial console on these fds. */
  addSerialConsoleDefault(ctx: number, inputFd: number, outputFd: number): void {
    const fn = 'krun_add_serial_console_default';
    this.#call(fn, ctxId(fn, ctx), i32(fn, 'inputFd', inputFd), i32(fn, 'outputFd', outputFd));
  }

  /** `krun_add_virtio_console_multiport(ctx)`: returns the console id for the port calls. */
  addVirtioConsoleMultiport(ctx: number): number {
    const fn = 'krun_add_virtio_console_multiport';
    return this.#call(fn, ctxId(fn, ctx));
  }

  /** `krun_add_console_port_tty(ctx, console_id, name, tty_fd)`. */
  addConsolePortTty(ctx: number, consoleId: number, name: string, ttyFd: number): void {
    const fn = 'krun_add_console_port_tty';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'consoleId', consoleId), cstr(fn, 'name', name), i32(fn, 'ttyFd', ttyFd));
  }

  /** `krun_add_console_port_inout(ctx, console_id, name, in, out)`. */
  addConsolePortInout(ctx: number, consoleId: number, name: string, inputFd: number, outputFd: number): void {
    const fn = 'krun_add_console_port_inout';
    this.#call(
      fn,
      ctxId(fn, ctx),
      u32(fn, 'consoleId', consoleId),
      cstr(fn, 'name', name),
      i32(fn, 'inputFd', inputFd),
      i32(fn, 'outputFd', outputFd),
    );
  }

  // ---- identity, virtualization, features ------------------------------------------------------

  /** `krun_setuid(ctx, uid)`: uid the VMM switches to right before starting the VM. */
  setuid(ctx: number, uid: number): void {
    const fn = 'krun_setuid';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'uid', uid));
  }

  /** `krun_setgid(ctx, gid)`: gid the VMM switches to right before starting the VM. */
  setgid(ctx: number, gid: number): void {
    const fn = 'krun_setgid';
    this.#call(fn, ctxId(fn, ctx), u32(fn, 'gid', gid));
  }

  /** `krun_set_nested_virt(ctx, enabled)`: request nested virtualization (success is not support). */
  setNestedVirt(ctx: number, enabled: boolean): void {
    const fn = 'krun_set_nested_virt';
    this.#call(fn, ctxId(fn, ctx), enabled === true);
  }

  /** `krun_check_nested_virt()`: whether this host supports nested virtualization. */
  checkNestedVirt(): boolean {
    return this.#call('krun_check_nested_virt') === 1;
  }

  /** `krun_has_feature(feature)`: whether libkrun was built with it; throws for a constant it predates. */
  hasFeature(feature: KrunFeatureName): boolean {
    const fn = 'krun_has_feature';
    return this.#call(fn, named(fn, 'feature', KRUN_FEATURES, feature)) === 1;
  }

  /** `krun_get_max_vcpus()`: the most vCPUs the hypervisor allows. */
  getMaxVcpus(): number {
    return this.#call('krun_get_max_vcpus');
  }

  /** `krun_split_irqchip(ctx, enable)`. */
  splitIrqchip(ctx: number, enable: boolean): void {
    const fn = 'krun_split_irqchip';
    this.#call(fn, ctxId(fn, ctx), enable === true);
  }

  /** `krun_disable_implicit_init(ctx)`: do not inject /init.krun; call before setRoot. */
  disableImplicitInit(ctx: number): void {
    const fn = 'krun_disable_implicit_init';
    this.#call(fn, ctxId(fn, ctx));
  }

  /** `krun_get_default_init(&data, &len)`: a copy of libkrun's built-in init binary. */
  getDefaultInit(): Uint8Array {
    const dataOut: unknown[] = [null];
    const lenOut: (number | bigint)[] = [0];
    this.#call('krun_get_default_init', dataOut, lenOut);
    const len = Number(lenOut[0]);
    if (len === 0 || dataOut[0] === null) return new Uint8Array(0);
    return new Uint8Array(this.#koffi.view(dataOut[0], len).slice(0));
  }

  // ---- start -----------------------------------------------------------------------------------

  /**
   * `krun_start_enter(ctx)`: starts the VM on this thread. On success it never returns: libkrun runs
   * the VM and ends the process with `_exit(workload status)` (no exit handlers, no flushing). Call
   * it only in a process made for one VM: the runner (`runnerPath`). Returns only by throwing.
   */
  startEnter(ctx: number): never {
    const fn = 'krun_start_enter';
    const result = this.#call(fn, ctxId(fn, ctx));
    throw new KrunError('SMOLVM_ERR_KRUN_START_RETURNED', `${fn} returned ${result} instead of running the VM.`, {
      fn,
      hint: 'This libkrun does not behave as documented; check its version.',
      libraryPath: this.path,
    });
  }
}
