// The koffi declaration of every function of libkrun's public header (include/libkrun.h, v1 API).
//
// Spelling rules, learnt the hard way (see docs/krun.md):
// - `const char *const *argv`, never `const char *const argv[]`, and `uint8_t *mac`, never
//   `uint8_t *const mac`: those array/const-pointer spellings aborted the Node process inside koffi.
// - `char *` parameters that libkrun only reads are declared `const char *` (same ABI), so that koffi
//   converts JS strings for them.
// - `uid_t`/`gid_t` are `uint32_t`; `int` is `int32_t` (libkrun only targets LP64 hosts).
// - Out-parameters carry `_Out_` and are passed as one-element arrays.

/** Why a symbol may be absent from a given libkrun. */
export type KrunSymbolAvailability =
  /** Present in every libkrun: loading fails without it. */
  | 'core'
  /** Only in builds with `NET=1`. */
  | 'net'
  /** Only in builds with `BLK=1`. */
  | 'blk'
  /** Only in builds with `GPU=1`. */
  | 'gpu'
  /** Only in builds with input device support. */
  | 'input'
  /** Only in the TEE flavours (libkrun-sev, libkrun-tdx...). */
  | 'tee'
  /** In ordinary libkrun builds for years; optional here all the same. */
  | 'common'
  /** Absent from the TEE flavours. */
  | 'non-tee'
  /** Added in a later libkrun release than some distributions ship. */
  | 'recent';

export interface KrunSymbol {
  readonly name: KrunFunctionName;
  readonly prototype: string;
  readonly availability: KrunSymbolAvailability;
}

const S = (availability: KrunSymbolAvailability, prototype: string): [KrunSymbolAvailability, string] => [
  availability,
  prototype,
];

/** Every exported function of libkrun.h, in header order. */
const TABLE = {
  // logging
  krun_set_log_level: S('core', 'int32_t krun_set_log_level(uint32_t level)'),
  krun_init_log: S(
    'recent',
    'int32_t krun_init_log(int32_t target_fd, uint32_t level, uint32_t style, uint32_t options)',
  ),
  // context and VM
  krun_create_ctx: S('core', 'int32_t krun_create_ctx(void)'),
  krun_free_ctx: S('core', 'int32_t krun_free_ctx(uint32_t ctx_id)'),
  krun_set_vm_config: S('core', 'int32_t krun_set_vm_config(uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib)'),
  // root and disks
  krun_set_root: S('non-tee', 'int32_t krun_set_root(uint32_t ctx_id, const char *root_path)'),
  krun_set_root_disk: S('blk', 'int32_t krun_set_root_disk(uint32_t ctx_id, const char *disk_path)'),
  krun_set_data_disk: S('blk', 'int32_t krun_set_data_disk(uint32_t ctx_id, const char *disk_path)'),
  krun_add_disk: S(
    'blk',
    'int32_t krun_add_disk(uint32_t ctx_id, const char *block_id, const char *disk_path, bool read_only)',
  ),
  krun_add_disk2: S(
    'blk',
    'int32_t krun_add_disk2(uint32_t ctx_id, const char *block_id, const char *disk_path, uint32_t disk_format, bool read_only)',
  ),
  krun_add_disk3: S(
    'blk',
    'int32_t krun_add_disk3(uint32_t ctx_id, const char *block_id, const char *disk_path, uint32_t disk_format, bool read_only, bool direct_io, uint32_t sync_mode)',
  ),
  krun_set_mapped_volumes: S(
    'non-tee',
    'int32_t krun_set_mapped_volumes(uint32_t ctx_id, const char *const *mapped_volumes)',
  ),
  // virtio-fs
  krun_add_virtiofs: S('recent', 'int32_t krun_add_virtiofs(uint32_t ctx_id, const char *c_tag, const char *c_path)'),
  krun_add_virtiofs2: S(
    'recent',
    'int32_t krun_add_virtiofs2(uint32_t ctx_id, const char *c_tag, const char *c_path, uint64_t shm_size)',
  ),
  krun_add_virtiofs3: S(
    'recent',
    'int32_t krun_add_virtiofs3(uint32_t ctx_id, const char *c_tag, const char *c_path, uint64_t shm_size, bool read_only)',
  ),
  // network
  krun_add_net_unixstream: S(
    'net',
    'int32_t krun_add_net_unixstream(uint32_t ctx_id, const char *c_path, int32_t fd, uint8_t *c_mac, uint32_t features, uint32_t flags)',
  ),
  krun_add_net_unixgram: S(
    'net',
    'int32_t krun_add_net_unixgram(uint32_t ctx_id, const char *c_path, int32_t fd, uint8_t *c_mac, uint32_t features, uint32_t flags)',
  ),
  krun_add_net_tap: S(
    'net',
    'int32_t krun_add_net_tap(uint32_t ctx_id, const char *c_tap_name, uint8_t *c_mac, uint32_t features, uint32_t flags)',
  ),
  krun_set_passt_fd: S('net', 'int32_t krun_set_passt_fd(uint32_t ctx_id, int32_t fd)'),
  krun_set_gvproxy_path: S('net', 'int32_t krun_set_gvproxy_path(uint32_t ctx_id, const char *c_path)'),
  krun_set_net_mac: S('net', 'int32_t krun_set_net_mac(uint32_t ctx_id, uint8_t *c_mac)'),
  krun_set_port_map: S('common', 'int32_t krun_set_port_map(uint32_t ctx_id, const char *const *port_map)'),
  // GPU and display
  krun_set_gpu_options: S('gpu', 'int32_t krun_set_gpu_options(uint32_t ctx_id, uint32_t virgl_flags)'),
  krun_set_gpu_options2: S(
    'gpu',
    'int32_t krun_set_gpu_options2(uint32_t ctx_id, uint32_t virgl_flags, uint64_t shm_size)',
  ),
  krun_add_display: S('gpu', 'int32_t krun_add_display(uint32_t ctx_id, uint32_t width, uint32_t height)'),
  krun_display_set_edid: S(
    'gpu',
    'int32_t krun_display_set_edid(uint32_t ctx_id, uint32_t display_id, const uint8_t *edid_blob, size_t blob_size)',
  ),
  krun_display_set_dpi: S(
    'gpu',
    'int32_t krun_display_set_dpi(uint32_t ctx_id, uint32_t display_id, uint32_t dpi)',
  ),
  krun_display_set_physical_size: S(
    'gpu',
    'int32_t krun_display_set_physical_size(uint32_t ctx_id, uint32_t display_id, uint16_t width_mm, uint16_t height_mm)',
  ),
  krun_display_set_refresh_rate: S(
    'gpu',
    'int32_t krun_display_set_refresh_rate(uint32_t ctx_id, uint32_t display_id, uint32_t refresh_rate)',
  ),
  krun_set_display_backend: S(
    'gpu',
    'int32_t krun_set_display_backend(uint32_t ctx_id, const void *display_backend, size_t backend_size)',
  ),
  // input and vhost-user
  krun_add_input_device: S(
    'input',
    'int32_t krun_add_input_device(uint32_t ctx_id, const void *config_backend, size_t config_backend_size, const void *events_backend, size_t events_backend_size)',
  ),
  krun_add_input_device_fd: S('input', 'int32_t krun_add_input_device_fd(uint32_t ctx_id, int32_t input_fd)'),
  krun_add_vhost_user_device: S(
    'recent',
    'int32_t krun_add_vhost_user_device(uint32_t ctx_id, uint32_t device_type, const char *socket_path, const char *name, uint16_t num_queues, const uint16_t *queue_sizes)',
  ),
  // workload
  krun_set_rlimits: S('common', 'int32_t krun_set_rlimits(uint32_t ctx_id, const char *const *rlimits)'),
  krun_set_smbios_oem_strings: S(
    'recent',
    'int32_t krun_set_smbios_oem_strings(uint32_t ctx_id, const char *const *oem_strings)',
  ),
  krun_set_workdir: S('common', 'int32_t krun_set_workdir(uint32_t ctx_id, const char *workdir_path)'),
  krun_set_exec: S(
    'core',
    'int32_t krun_set_exec(uint32_t ctx_id, const char *exec_path, const char *const *argv, const char *const *envp)',
  ),
  // kernel, firmware, environment, TEE
  krun_set_firmware: S('recent', 'int32_t krun_set_firmware(uint32_t ctx_id, const char *firmware_path)'),
  krun_set_kernel: S(
    'recent',
    'int32_t krun_set_kernel(uint32_t ctx_id, const char *kernel_path, uint32_t kernel_format, const char *initramfs, const char *cmdline)',
  ),
  krun_set_env: S('common', 'int32_t krun_set_env(uint32_t ctx_id, const char *const *envp)'),
  krun_set_tee_config_file: S('tee', 'int32_t krun_set_tee_config_file(uint32_t ctx_id, const char *filepath)'),
  // vsock
  krun_add_vsock_port: S(
    'common',
    'int32_t krun_add_vsock_port(uint32_t ctx_id, uint32_t port, const char *c_filepath)',
  ),
  krun_add_vsock_port2: S(
    'recent',
    'int32_t krun_add_vsock_port2(uint32_t ctx_id, uint32_t port, const char *c_filepath, bool listen)',
  ),
  krun_add_vsock: S('recent', 'int32_t krun_add_vsock(uint32_t ctx_id, uint32_t tsi_features)'),
  krun_get_shutdown_eventfd: S('recent', 'int32_t krun_get_shutdown_eventfd(uint32_t ctx_id)'),
  // console, identity, virtualization
  krun_set_console_output: S('recent', 'int32_t krun_set_console_output(uint32_t ctx_id, const char *c_filepath)'),
  krun_setuid: S('recent', 'int32_t krun_setuid(uint32_t ctx_id, uint32_t uid)'),
  krun_setgid: S('recent', 'int32_t krun_setgid(uint32_t ctx_id, uint32_t gid)'),
  krun_set_nested_virt: S('recent', 'int32_t krun_set_nested_virt(uint32_t ctx_id, bool enabled)'),
  krun_check_nested_virt: S('recent', 'int32_t krun_check_nested_virt(void)'),
  krun_has_feature: S('recent', 'int32_t krun_has_feature(uint64_t feature)'),
  krun_get_max_vcpus: S('recent', 'int32_t krun_get_max_vcpus(void)'),
  krun_split_irqchip: S('recent', 'int32_t krun_split_irqchip(uint32_t ctx_id, bool enable)'),
  // implicit devices and init
  krun_disable_implicit_console: S('recent', 'int32_t krun_disable_implicit_console(uint32_t ctx_id)'),
  krun_disable_implicit_init: S('recent', 'int32_t krun_disable_implicit_init(uint32_t ctx_id)'),
  krun_get_default_init: S(
    'recent',
    'int32_t krun_get_default_init(_Out_ const uint8_t **data_out, _Out_ size_t *len_out)',
  ),
  krun_fs_add_overlay_file: S(
    'recent',
    'int32_t krun_fs_add_overlay_file(uint32_t ctx_id, const char *fs_tag, const char *path, const uint8_t *data, size_t data_len, uint32_t mode, bool one_shot)',
  ),
  krun_fs_add_overlay_dir: S(
    'recent',
    'int32_t krun_fs_add_overlay_dir(uint32_t ctx_id, const char *fs_tag, const char *path, uint32_t mode)',
  ),
  krun_disable_implicit_vsock: S('recent', 'int32_t krun_disable_implicit_vsock(uint32_t ctx_id)'),
  krun_set_kernel_console: S('recent', 'int32_t krun_set_kernel_console(uint32_t ctx_id, const char *console_id)'),
  // consoles
  krun_add_virtio_console_default: S(
    'recent',
    'int32_t krun_add_virtio_console_default(uint32_t ctx_id, int32_t input_fd, int32_t output_fd, int32_t err_fd)',
  ),
  krun_add_serial_console_default: S(
    'recent',
    'int32_t krun_add_serial_console_default(uint32_t ctx_id, int32_t input_fd, int32_t output_fd)',
  ),
  krun_add_virtio_console_multiport: S('recent', 'int32_t krun_add_virtio_console_multiport(uint32_t ctx_id)'),
  krun_add_console_port_tty: S(
    'recent',
    'int32_t krun_add_console_port_tty(uint32_t ctx_id, uint32_t console_id, const char *name, int32_t tty_fd)',
  ),
  krun_add_console_port_inout: S(
    'recent',
    'int32_t krun_add_console_port_inout(uint32_t ctx_id, uint32_t console_id, const char *name, int32_t input_fd, int32_t output_fd)',
  ),
  krun_set_root_disk_remount: S(
    'blk',
    'int32_t krun_set_root_disk_remount(uint32_t ctx_id, const char *device, const char *fstype, const char *options)',
  ),
  // start
  krun_start_enter: S('core', 'int32_t krun_start_enter(uint32_t ctx_id)'),
} as const;

/** The name of a libkrun C function. */
export type KrunFunctionName = keyof typeof TABLE;

/** Every libkrun function this package declares, in header order. */
export const KRUN_SYMBOLS: readonly KrunSymbol[] = Object.entries(TABLE).map(([name, [availability, prototype]]) => ({
  name: name as KrunFunctionName,
  prototype,
  availability,
}));

/** Names of every libkrun function this package declares. */
export const KRUN_FUNCTION_NAMES: readonly KrunFunctionName[] = KRUN_SYMBOLS.map((s) => s.name);

/** What to say when an optional symbol is missing. */
export function availabilityHint(availability: KrunSymbolAvailability): string {
  switch (availability) {
    case 'core':
      return 'Every libkrun exports it: the library loaded is not a usable libkrun.';
    case 'common':
      return 'Ordinary libkrun builds export it; this one (a TEE flavour or an unusual build) does not.';
    case 'net':
      return 'It exists only in libkrun builds with network support (NET=1); install a build that has it.';
    case 'blk':
      return 'It exists only in libkrun builds with block device support (BLK=1); install a build that has it.';
    case 'gpu':
      return 'It exists only in libkrun builds with GPU support (GPU=1).';
    case 'input':
      return 'It exists only in libkrun builds with input device support.';
    case 'tee':
      return 'It exists only in the TEE flavours of libkrun (libkrun-sev, libkrun-tdx).';
    case 'non-tee':
      return 'The TEE flavours of libkrun (libkrun-sev, libkrun-tdx) do not have it; use the plain libkrun.';
    case 'recent':
      return 'It was added in a later libkrun release; upgrade libkrun.';
  }
}
