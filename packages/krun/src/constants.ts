// Values of libkrun's public header (include/libkrun.h), under names a TypeScript caller can read.

/** Log levels of `krun_set_log_level` / `krun_init_log` (`KRUN_LOG_LEVEL_*`). */
export const KRUN_LOG_LEVELS = { off: 0, error: 1, warn: 2, info: 3, debug: 4, trace: 5 } as const;
export type KrunLogLevelName = keyof typeof KRUN_LOG_LEVELS;
/** A level name, or its number 0..5. */
export type KrunLogLevel = KrunLogLevelName | number;

/** `KRUN_LOG_STYLE_*`: terminal colours in libkrun's log. */
export const KRUN_LOG_STYLES = { auto: 0, always: 1, never: 2 } as const;
export type KrunLogStyle = keyof typeof KRUN_LOG_STYLES;

/** `KRUN_LOG_TARGET_DEFAULT`: libkrun's default log target (stderr). */
export const KRUN_LOG_TARGET_DEFAULT = -1;
/** `KRUN_LOG_OPTION_NO_ENV`: environment variables may not override the log settings. */
export const KRUN_LOG_OPTION_NO_ENV = 1;

/** `KRUN_DISK_FORMAT_*` (`vmdk`: FLAT/ZERO only, no delta links). */
export const KRUN_DISK_FORMATS = { raw: 0, qcow2: 1, vmdk: 2 } as const;
export type KrunDiskFormat = keyof typeof KRUN_DISK_FORMATS;

/** `KRUN_SYNC_*` modes of `krun_add_disk3`. */
export const KRUN_SYNC_MODES = { none: 0, relaxed: 1, full: 2 } as const;
export type KrunSyncMode = keyof typeof KRUN_SYNC_MODES;

/** `KRUN_KERNEL_FORMAT_*` of `krun_set_kernel`. */
export const KRUN_KERNEL_FORMATS = {
  raw: 0,
  elf: 1,
  'pe-gz': 2,
  'image-bz2': 3,
  'image-gz': 4,
  'image-zstd': 5,
} as const;
export type KrunKernelFormat = keyof typeof KRUN_KERNEL_FORMATS;

/** `KRUN_FEATURE_*` build features queried with `krun_has_feature`. */
export const KRUN_FEATURES = {
  net: 0,
  blk: 1,
  gpu: 2,
  input: 4,
  tee: 6,
  'amd-sev': 7,
  'intel-tdx': 8,
  'aws-nitro': 9,
  'virgl-resource-map2': 10,
  'init-blob': 11,
} as const;
export type KrunFeatureName = keyof typeof KRUN_FEATURES;

/** `KRUN_TSI_HIJACK_*` flags of `krun_add_vsock`. */
export const KRUN_TSI_HIJACK_INET = 1 << 0;
export const KRUN_TSI_HIJACK_UNIX = 1 << 1;

/** `NET_FLAG_*` flags of the `krun_add_net_*` calls. */
export const KRUN_NET_FLAG_VFKIT = 1 << 0;
export const KRUN_NET_FLAG_DHCP_CLIENT = 1 << 1;

/** `NET_FEATURE_*` virtio-net feature bits of the `krun_add_net_*` calls. */
export const KRUN_NET_FEATURES = {
  csum: 1 << 0,
  guestCsum: 1 << 1,
  guestTso4: 1 << 7,
  guestTso6: 1 << 8,
  guestUfo: 1 << 10,
  hostTso4: 1 << 11,
  hostTso6: 1 << 12,
  hostUfo: 1 << 14,
} as const;

/** `COMPAT_NET_FEATURES`: what the deprecated passt/gvproxy calls enable. */
export const KRUN_COMPAT_NET_FEATURES =
  KRUN_NET_FEATURES.csum |
  KRUN_NET_FEATURES.guestCsum |
  KRUN_NET_FEATURES.guestTso4 |
  KRUN_NET_FEATURES.guestUfo |
  KRUN_NET_FEATURES.hostTso4 |
  KRUN_NET_FEATURES.hostUfo;

/** `KRUN_VIRTIO_DEVICE_*` device types of `krun_add_vhost_user_device`. */
export const KRUN_VIRTIO_DEVICES = {
  console: 3,
  rng: 4,
  gpu: 16,
  rtc: 17,
  input: 18,
  vsock: 19,
  snd: 25,
  can: 36,
} as const;
export type KrunVirtioDevice = keyof typeof KRUN_VIRTIO_DEVICES;

/** `KRUN_FS_ROOT_TAG`: the virtio-fs tag `krun_set_root` uses. */
export const KRUN_FS_ROOT_TAG = '/dev/root';
/** `KRUN_MAX_DISPLAYS`. */
export const KRUN_MAX_DISPLAYS = 16;

/**
 * Limits of libkrun's own init: program, arguments, environment and workdir travel on the kernel
 * command line, and at most this many arguments and environment variables reach the program.
 */
export const KRUN_MAX_EXEC_ARGS = 32;
export const KRUN_MAX_EXEC_ENV = 32;
