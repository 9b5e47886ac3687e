// Contract tests of the FFI layer against a stand-in libkrun (test/fixtures/fake-libkrun.c), which
// records every call with the arguments it received. They prove that every declared function binds
// and that values cross into C intact (strings, NULL-terminated string arrays, integers of each
// width, booleans, byte buffers, out-parameters) and that results come back as documented. They do
// not boot a VM and say nothing about libkrun's own behaviour.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KRUN_COMPAT_NET_FEATURES, KRUN_NET_FLAG_VFKIT } from '../src/constants.js';
import { KRUN_FUNCTION_NAMES } from '../src/symbols.js';
import type { Krun } from '../src/library.js';
import { loadKrun } from '../src/loader.js';
import { childEnv, distIndex, fixtures, packageDir, readCalls, resetFake, runNode } from './helpers.js';

let krun: Krun;
let logFile: string;
let logCount = 0;

beforeAll(() => {
  krun = loadKrun({ path: fixtures().full });
});

beforeEach(() => {
  resetFake(fixtures().full);
  logFile = join(fixtures().dir, `library-${process.pid}-${logCount++}.jsonl`);
  process.env.FAKE_KRUN_LOG = logFile;
  delete process.env.FAKE_KRUN_RESULTS;
});

const calls = () => readCalls(logFile);

interface Case {
  fn: string;
  call: (k: Krun) => unknown;
  args: unknown[];
  returns?: unknown;
}

// Context 0 throughout: it is the first id libkrun hands out, and a valid one.
const CASES: Case[] = [
  { fn: 'krun_set_vm_config', call: (k) => k.setVmConfig(0, 255, 4096), args: [0, 255, 4096] },
  { fn: 'krun_set_root', call: (k) => k.setRoot(0, '/srv/rootfs ü'), args: [0, '/srv/rootfs ü'] },
  { fn: 'krun_set_root_disk', call: (k) => k.setRootDisk(0, '/d.img'), args: [0, '/d.img'] },
  { fn: 'krun_set_data_disk', call: (k) => k.setDataDisk(0, '/data.img'), args: [0, '/data.img'] },
  { fn: 'krun_add_disk', call: (k) => k.addDisk(0, 'vda', '/a.img', true), args: [0, 'vda', '/a.img', true] },
  {
    fn: 'krun_add_disk2',
    call: (k) => k.addDisk2(0, 'vdb', '/b.qcow2', 'qcow2', false),
    args: [0, 'vdb', '/b.qcow2', 1, false],
  },
  {
    fn: 'krun_add_disk3',
    call: (k) => k.addDisk3(0, 'vdc', '/c.vmdk', 'vmdk', true, true, 'full'),
    args: [0, 'vdc', '/c.vmdk', 2, true, true, 2],
  },
  {
    fn: 'krun_set_root_disk_remount',
    call: (k) => k.setRootDiskRemount(0, '/dev/vda', 'ext4', 'ro,noatime'),
    args: [0, '/dev/vda', 'ext4', 'ro,noatime'],
  },
  {
    fn: 'krun_set_root_disk_remount',
    call: (k) => k.setRootDiskRemount(0, '/dev/vda'),
    args: [0, '/dev/vda', null, null],
  },
  { fn: 'krun_set_mapped_volumes', call: (k) => k.setMappedVolumes(0, ['/h:/g']), args: [0, ['/h:/g']] },
  { fn: 'krun_add_virtiofs', call: (k) => k.addVirtiofs(0, 'data', '/srv/data'), args: [0, 'data', '/srv/data'] },
  {
    fn: 'krun_add_virtiofs2',
    call: (k) => k.addVirtiofs2(0, 'data', '/srv', 2n ** 40n + 1n),
    args: [0, 'data', '/srv', '1099511627777'],
  },
  {
    fn: 'krun_add_virtiofs3',
    call: (k) => k.addVirtiofs3(0, 'ro', '/srv', 1 << 20, true),
    args: [0, 'ro', '/srv', '1048576', true],
  },
  {
    fn: 'krun_fs_add_overlay_file',
    call: (k) => k.fsAddOverlayFile(0, '/dev/root', 'etc/hostname', Buffer.from('box\n'), 0o100644, true),
    args: [0, '/dev/root', 'etc/hostname', '626f780a', '4', 0o100644, true],
  },
  {
    fn: 'krun_fs_add_overlay_dir',
    call: (k) => k.fsAddOverlayDir(0, '/dev/root', 'etc', 0o40755),
    args: [0, '/dev/root', 'etc', 0o40755],
  },
  {
    fn: 'krun_add_net_unixstream',
    call: (k) => k.addNetUnixstream(0, { path: '/run/passt.sock' }, '52:54:00:12:34:56', KRUN_COMPAT_NET_FEATURES, 0),
    args: [0, '/run/passt.sock', -1, [0x52, 0x54, 0, 0x12, 0x34, 0x56], KRUN_COMPAT_NET_FEATURES, 0],
  },
  {
    fn: 'krun_add_net_unixgram',
    call: (k) => k.addNetUnixgram(0, { fd: 7 }, [2, 0, 0, 0, 0, 1], 0, KRUN_NET_FLAG_VFKIT),
    args: [0, null, 7, [2, 0, 0, 0, 0, 1], 0, 1],
  },
  {
    fn: 'krun_add_net_tap',
    call: (k) => k.addNetTap(0, 'tap0', Uint8Array.from([1, 2, 3, 4, 5, 255]), 0, 0),
    args: [0, 'tap0', [1, 2, 3, 4, 5, 255], 0, 0],
  },
  { fn: 'krun_set_passt_fd', call: (k) => k.setPasstFd(0, 5), args: [0, 5] },
  { fn: 'krun_set_gvproxy_path', call: (k) => k.setGvproxyPath(0, '/run/gv.sock'), args: [0, '/run/gv.sock'] },
  {
    fn: 'krun_set_net_mac',
    call: (k) => k.setNetMac(0, 'aa-bb-cc-dd-ee-ff'),
    args: [0, [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]],
  },
  {
    fn: 'krun_set_port_map',
    call: (k) => k.setPortMap(0, ['8080:80', '2222:22']),
    args: [0, ['8080:80', '2222:22']],
  },
  // An empty array is not NULL: for libkrun it means "expose no port".
  { fn: 'krun_set_port_map', call: (k) => k.setPortMap(0, []), args: [0, []] },
  { fn: 'krun_set_gpu_options', call: (k) => k.setGpuOptions(0, 1 | 64), args: [0, 65] },
  { fn: 'krun_set_gpu_options2', call: (k) => k.setGpuOptions2(0, 1, 2 ** 33), args: [0, 1, '8589934592'] },
  { fn: 'krun_add_display', call: (k) => k.addDisplay(0, 1920, 1080), args: [0, 1920, 1080], returns: 0 },
  {
    fn: 'krun_display_set_edid',
    call: (k) => k.displaySetEdid(0, 0, Uint8Array.from([0, 255, 255, 0])),
    args: [0, 0, '00ffff00', '4'],
  },
  { fn: 'krun_display_set_dpi', call: (k) => k.displaySetDpi(0, 0, 96), args: [0, 0, 96] },
  {
    fn: 'krun_display_set_physical_size',
    call: (k) => k.displaySetPhysicalSize(0, 3, 65535, 300),
    args: [0, 3, 65535, 300],
  },
  { fn: 'krun_display_set_refresh_rate', call: (k) => k.displaySetRefreshRate(0, 0, 60), args: [0, 0, 60] },
  {
    fn: 'krun_set_display_backend',
    call: (k) => k.setDisplayBackend(0, Uint8Array.from([1, 2, 3])),
    args: [0, '010203', '3'],
  },
  {
    fn: 'krun_add_input_device',
    call: (k) => k.addInputDevice(0, Uint8Array.from([1]), Uint8Array.from([2, 3])),
    args: [0, '01', '1', '0203', '2'],
  },
  { fn: 'krun_add_input_device_fd', call: (k) => k.addInputDeviceFd(0, 9), args: [0, 9] },
  {
    fn: 'krun_add_vhost_user_device',
    call: (k) => k.addVhostUserDevice(0, 'rng', '/run/rng.sock'),
    args: [0, 4, '/run/rng.sock', null, 0, null],
  },
  {
    fn: 'krun_add_vhost_user_device',
    call: (k) => k.addVhostUserDevice(0, 'snd', '/run/snd.sock', { name: 'vhost-snd', numQueues: 2, queueSizes: [256, 512] }),
    args: [0, 25, '/run/snd.sock', 'vhost-snd', 2, [256, 512]],
  },
  {
    // numQueues 0: libkrun reads the sizes up to a 0 sentinel, which the wrapper appends.
    fn: 'krun_add_vhost_user_device',
    call: (k) => k.addVhostUserDevice(0, 36, '/s', { queueSizes: [512] }),
    args: [0, 36, '/s', null, 0, [512]],
  },
  { fn: 'krun_set_rlimits', call: (k) => k.setRlimits(0, ['6=4096:8192']), args: [0, ['6=4096:8192']] },
  {
    fn: 'krun_set_smbios_oem_strings',
    call: (k) => k.setSmbiosOemStrings(0, ['a', 'b']),
    args: [0, ['a', 'b']],
  },
  { fn: 'krun_set_workdir', call: (k) => k.setWorkdir(0, '/work dir'), args: [0, '/work dir'] },
  {
    fn: 'krun_set_exec',
    call: (k) => k.setExec(0, '/bin/sh', ['-c', 'echo "hi" \\ ünï ✓ 🚀 \t', ''], ['A=1', 'EMPTY=', 'UNI=ñ日本']),
    args: [0, '/bin/sh', ['-c', 'echo "hi" \\ ünï ✓ 🚀 \t', ''], ['A=1', 'EMPTY=', 'UNI=ñ日本']],
  },
  // Empty argv and env arrive as empty NULL-terminated arrays, never as NULL.
  { fn: 'krun_set_exec', call: (k) => k.setExec(0, '/bin/true', [], []), args: [0, '/bin/true', [], []] },
  { fn: 'krun_set_env', call: (k) => k.setEnv(0, ['X=1']), args: [0, ['X=1']] },
  { fn: 'krun_set_env', call: (k) => k.setEnv(0, []), args: [0, []] },
  { fn: 'krun_set_firmware', call: (k) => k.setFirmware(0, '/fw.bin'), args: [0, '/fw.bin'] },
  {
    fn: 'krun_set_kernel',
    call: (k) => k.setKernel(0, '/vmlinux', 'elf', '/initrd.img', 'console=hvc0 quiet'),
    args: [0, '/vmlinux', 1, '/initrd.img', 'console=hvc0 quiet'],
  },
  { fn: 'krun_set_kernel', call: (k) => k.setKernel(0, '/Image', 'image-zstd'), args: [0, '/Image', 5, null, null] },
  { fn: 'krun_set_kernel_console', call: (k) => k.setKernelConsole(0, 'hvc0'), args: [0, 'hvc0'] },
  { fn: 'krun_set_tee_config_file', call: (k) => k.setTeeConfigFile(0, '/tee.json'), args: [0, '/tee.json'] },
  { fn: 'krun_add_vsock_port', call: (k) => k.addVsockPort(0, 1024, '/tmp/a.sock'), args: [0, 1024, '/tmp/a.sock'] },
  {
    fn: 'krun_add_vsock_port2',
    call: (k) => k.addVsockPort2(0, 2 ** 32 - 1, '/tmp/b.sock', true),
    args: [0, 4294967295, '/tmp/b.sock', true],
  },
  { fn: 'krun_add_vsock_port2', call: (k) => k.addVsockPort2(0, 5, '/c', false), args: [0, 5, '/c', false] },
  { fn: 'krun_add_vsock', call: (k) => k.addVsock(0, { hijackInet: true, hijackUnix: false }), args: [0, 1] },
  { fn: 'krun_add_vsock', call: (k) => k.addVsock(0, { hijackInet: false, hijackUnix: true }), args: [0, 2] },
  { fn: 'krun_add_vsock', call: (k) => k.addVsock(0, { hijackInet: false, hijackUnix: false }), args: [0, 0] },
  { fn: 'krun_disable_implicit_vsock', call: (k) => k.disableImplicitVsock(0), args: [0] },
  { fn: 'krun_get_shutdown_eventfd', call: (k) => k.getShutdownEventfd(0), args: [0], returns: 42 },
  { fn: 'krun_set_console_output', call: (k) => k.setConsoleOutput(0, '/tmp/console.log'), args: [0, '/tmp/console.log'] },
  { fn: 'krun_disable_implicit_console', call: (k) => k.disableImplicitConsole(0), args: [0] },
  { fn: 'krun_add_virtio_console_default', call: (k) => k.addVirtioConsoleDefault(0, 0, 1, 2), args: [0, 0, 1, 2] },
  { fn: 'krun_add_serial_console_default', call: (k) => k.addSerialConsoleDefault(0, -1, 1), args: [0, -1, 1] },
  { fn: 'krun_add_virtio_console_multiport', call: (k) => k.addVirtioConsoleMultiport(0), args: [0], returns: 0 },
  { fn: 'krun_add_console_port_tty', call: (k) => k.addConsolePortTty(0, 0, '', 3), args: [0, 0, '', 3] },
  {
    fn: 'krun_add_console_port_inout',
    call: (k) => k.addConsolePortInout(0, 0, 'krun-data', 4, 5),
    args: [0, 0, 'krun-data', 4, 5],
  },
  { fn: 'krun_setuid', call: (k) => k.setuid(0, 4294967294), args: [0, 4294967294] },
  { fn: 'krun_setgid', call: (k) => k.setgid(0, 1000), args: [0, 1000] },
  { fn: 'krun_set_nested_virt', call: (k) => k.setNestedVirt(0, true), args: [0, true] },
  { fn: 'krun_set_nested_virt', call: (k) => k.setNestedVirt(0, false), args: [0, false] },
  { fn: 'krun_check_nested_virt', call: (k) => k.checkNestedVirt(), args: [], returns: true },
  { fn: 'krun_has_feature', call: (k) => k.hasFeature('blk'), args: ['1'], returns: true },
  { fn: 'krun_has_feature', call: (k) => k.hasFeature('gpu'), args: ['2'], returns: false },
  { fn: 'krun_get_max_vcpus', call: (k) => k.getMaxVcpus(), args: [], returns: 8 },
  { fn: 'krun_split_irqchip', call: (k) => k.splitIrqchip(0, true), args: [0, true] },
  { fn: 'krun_disable_implicit_init', call: (k) => k.disableImplicitInit(0), args: [0] },
  {
    fn: 'krun_get_default_init',
    call: (k) => Buffer.from(k.getDefaultInit()).toString('hex'),
    args: ['ptr', 'ptr'],
    // The fake's built-in "init": 0x7f "ELF fake init" 0xff 0x00 0x01 (a NUL inside: length, not strlen).
    returns: Buffer.concat([Buffer.from('\x7fELF fake init ', 'latin1'), Buffer.from([0xff, 0, 1])]).toString('hex'),
  },
];

// Functions exercised elsewhere: logging (once per process: in a child below), create/free/start.
const ELSEWHERE = ['krun_set_log_level', 'krun_init_log', 'krun_create_ctx', 'krun_free_ctx', 'krun_start_enter'];

describe('declarations', () => {
  it('bind every function of the full stand-in, and the stand-in exports exactly those', () => {
    const features = krun.features();
    expect(features.missing).toEqual([]);
    expect(features.available).toEqual([...KRUN_FUNCTION_NAMES]);
    expect(KRUN_FUNCTION_NAMES).toHaveLength(67);
    if (process.platform === 'linux') {
      const exported = execFileSync('nm', ['-D', '--defined-only', fixtures().full], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.trim().split(/\s+/)[2])
        .filter((name): name is string => name !== undefined && name.startsWith('krun_'));
      expect(new Set(exported)).toEqual(new Set(KRUN_FUNCTION_NAMES));
    }
  });

  it('are all listed in docs/krun.md', () => {
    const doc = readFileSync(join(packageDir, '../../docs/krun.md'), 'utf8');
    const undocumented = KRUN_FUNCTION_NAMES.filter((name) => {
      // The doc's method table abbreviates families: `krun_add_virtiofs`, `2`, `3`.
      const family = name.replace(/[23]$/, '');
      return !doc.includes(`\`${name}\``) && !(doc.includes(`\`${family}\``) && family !== name);
    });
    expect(undocumented).toEqual([]);
  });

  it('has a case below for every declared function', () => {
    const covered = new Set([...CASES.map((c) => c.fn), ...ELSEWHERE]);
    expect([...KRUN_FUNCTION_NAMES].filter((n) => !covered.has(n))).toEqual([]);
  });
});

describe('arguments reach C intact', () => {
  it.each(CASES.map((c, i) => [`${c.fn} #${i}`, c] as const))('%s', (_name, c) => {
    expect(krun.createCtx()).toBe(0);
    const returned = c.call(krun);
    const recorded = calls();
    expect(recorded.map((r) => r.fn)).toEqual(['krun_create_ctx', c.fn]);
    expect(recorded[1]!.args).toEqual(c.args);
    expect(returned).toEqual(c.returns);
  });

  it('returns ids as numbers: displays and consoles count from 0', () => {
    const ctx = krun.createCtx();
    expect([krun.addDisplay(ctx, 640, 480), krun.addDisplay(ctx, 800, 600)]).toEqual([0, 1]);
    expect([krun.addVirtioConsoleMultiport(ctx), krun.addVirtioConsoleMultiport(ctx)]).toEqual([0, 1]);
  });
});

describe('contexts', () => {
  it('treats context id 0 as a valid context', () => {
    const ctx = krun.createCtx();
    expect(ctx).toBe(0);
    krun.setVmConfig(ctx, 1, 128);
    krun.setRoot(ctx, '/');
    expect(calls().map((c) => [c.fn, c.args[0], c.ret])).toEqual([
      ['krun_create_ctx', undefined, 0],
      ['krun_set_vm_config', 0, 0],
      ['krun_set_root', 0, 0],
    ]);
  });

  it('hands out increasing ids and frees them', () => {
    expect([krun.createCtx(), krun.createCtx()]).toEqual([0, 1]);
    krun.freeCtx(0);
    expect(() => krun.setRoot(0, '/')).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_KRUN_CALL_FAILED', errnoName: 'ENOENT' }));
    krun.setRoot(1, '/');
    expect(calls().at(-1)).toMatchObject({ fn: 'krun_set_root', args: [1, '/'], ret: 0 });
  });

  it('keeps overlay file memory alive and unchanged after the caller reuses its buffer', () => {
    const ctx = krun.createCtx();
    const data = Buffer.from('hello overlay');
    krun.fsAddOverlayFile(ctx, '/dev/root', 'etc/motd', data, 0o100644, false);
    krun.fsAddOverlayFile(ctx, '/dev/root', 'empty', Buffer.alloc(0), 0o100600, true);
    data.fill(0);
    process.env.FAKE_KRUN_RESULTS = `krun_start_enter=-${osConstants.errno.EINVAL}`;
    expect(() => krun.startEnter(ctx)).toThrow(expect.objectContaining({ fn: 'krun_start_enter', errnoName: 'EINVAL' }));
    // The fake re-reads the overlay pointers at start: second argument of its start record.
    expect(calls().at(-1)!.args).toEqual([0, [Buffer.from('hello overlay').toString('hex'), '']]);
  });
});

describe('errors', () => {
  const errnos = ['ENOENT', 'EINVAL', 'ENOTSUP', 'EEXIST', 'EACCES', 'ENOMEM', 'EBUSY'] as const;

  it.each(errnos)('maps -%s to a coded error with the errno name', (name) => {
    const value = osConstants.errno[name];
    process.env.FAKE_KRUN_RESULTS = `krun_set_exec=-${value}`;
    const ctx = krun.createCtx();
    let caught: unknown;
    try {
      krun.setExec(ctx, '/bin/true', [], []);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({
      name: 'KrunError',
      code: 'SMOLVM_ERR_KRUN_CALL_FAILED',
      fn: 'krun_set_exec',
      errno: value,
      errnoName: name,
    });
    expect((caught as Error).message).toContain(`krun_set_exec failed with ${name} (-${value})`);
  });

  it('maps a failing krun_create_ctx too (its success value 0 is not a failure)', () => {
    process.env.FAKE_KRUN_RESULTS = `krun_create_ctx=-${osConstants.errno.ENOMEM}`;
    expect(() => krun.createCtx()).toThrow(expect.objectContaining({ fn: 'krun_create_ctx', errnoName: 'ENOMEM' }));
  });

  it('says when krun_start_enter returns without an error', () => {
    const ctx = krun.createCtx();
    process.env.FAKE_KRUN_RESULTS = 'krun_start_enter=0';
    expect(() => krun.startEnter(ctx)).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_KRUN_START_RETURNED' }));
  });

  const invalid: [string, (k: Krun) => unknown][] = [
    ['a NUL inside a string', (k) => k.setRoot(0, '/a\0b')],
    ['a NUL inside an array item', (k) => k.setExec(0, '/bin/sh', ['a\0'], [])],
    ['a non-string array item', (k) => k.setExec(0, '/bin/sh', [1 as unknown as string], [])],
    ['null instead of an env array', (k) => k.setExec(0, '/bin/sh', [], null as unknown as string[])],
    ['null instead of a port map', (k) => k.setPortMap(0, null as unknown as string[])],
    ['0 vCPUs', (k) => k.setVmConfig(0, 0, 128)],
    ['256 vCPUs (uint8)', (k) => k.setVmConfig(0, 256, 128)],
    ['a negative context', (k) => k.setRoot(-1, '/')],
    ['a fractional context', (k) => k.setRoot(0.5, '/')],
    ['a string context', (k) => k.setRoot('0' as unknown as number, '/')],
    ['a context past uint32', (k) => k.setRoot(2 ** 32, '/')],
    ['a 5-byte MAC', (k) => k.setNetMac(0, [1, 2, 3, 4, 5])],
    ['a malformed MAC string', (k) => k.setNetMac(0, '52:54:00:12:34')],
    ['a 64-bit value past 2^64', (k) => k.addVirtiofs2(0, 't', '/p', 2n ** 64n)],
    ['an unknown disk format', (k) => k.addDisk2(0, 'vda', '/a', 'vhdx' as 'raw', false)],
    ['queue sizes not matching numQueues', (k) => k.addVhostUserDevice(0, 'rng', '/s', { numQueues: 2, queueSizes: [1] })],
    ['a uint16 past 65535', (k) => k.displaySetPhysicalSize(0, 0, 65536, 1)],
    ['a net endpoint with both path and fd', (k) => k.addNetUnixstream(0, { path: '/s', fd: 3 } as never, '02:00:00:00:00:01', 0, 0)],
  ];

  it.each(invalid)('refuses %s before calling C', (_name, call) => {
    krun.createCtx();
    expect(() => call(krun)).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_KRUN_INVALID_ARGUMENT' }));
    expect(calls().map((c) => c.fn)).toEqual(['krun_create_ctx']);
  });
});

describe('logging', () => {
  // In a child process: the logger may be initialised once per process, and the stand-in aborts the
  // process on a second initialisation, like libkrun.
  const script = (body: string) => `
    import { loadKrun, krunLoaderState } from ${JSON.stringify(distIndex)};
    const krun = loadKrun();
    const out = [];
    const attempt = (f) => { try { f(); out.push('ok'); } catch (e) { out.push({ code: e.code, fn: e.fn, message: e.message }); } };
    ${body}
    out.push(krunLoaderState().logInitialisedBy);
    console.log(JSON.stringify(out));`;

  it('initialises once, then refuses with a coded error instead of aborting', async () => {
    const log = join(fixtures().dir, `log-once-${process.pid}.jsonl`);
    const result = await runNode(
      [
        '--input-type=module',
        '-e',
        script(`
          attempt(() => krun.initLog({ level: 'debug', style: 'never', noEnv: true, targetFd: 2 }));
          attempt(() => krun.setLogLevel('trace'));
          attempt(() => krun.initLog({ level: 1 }));`),
      ],
      { env: childEnv({ SMOLVM_LIBKRUN: fixtures().full, FAKE_KRUN_LOG: log }) },
    );
    expect(result).toMatchObject({ code: 0, signal: null });
    const out = JSON.parse(result.stdout) as unknown[];
    expect(out[0]).toBe('ok');
    expect(out[1]).toMatchObject({ code: 'SMOLVM_ERR_KRUN_LOG_ALREADY_INITIALISED', fn: 'krun_set_log_level' });
    expect((out[1] as { message: string }).message).toContain('already initialised in this process by krun_init_log');
    expect(out[2]).toMatchObject({ code: 'SMOLVM_ERR_KRUN_LOG_ALREADY_INITIALISED', fn: 'krun_init_log' });
    expect(out[3]).toBe('krun_init_log');
    expect(readCalls(log)).toEqual([{ fn: 'krun_init_log', args: [2, 4, 2, 1], ret: 0 }]);
  });

  it('passes krun_set_log_level its level, and checks it before claiming the logger', async () => {
    const log = join(fixtures().dir, `log-level-${process.pid}.jsonl`);
    const result = await runNode(
      ['--input-type=module', '-e', script(`attempt(() => krun.setLogLevel(9)); attempt(() => krun.setLogLevel('warn'));`)],
      { env: childEnv({ SMOLVM_LIBKRUN: fixtures().full, FAKE_KRUN_LOG: log }) },
    );
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as unknown[];
    expect(out[0]).toMatchObject({ code: 'SMOLVM_ERR_KRUN_INVALID_ARGUMENT' });
    expect(out.slice(1)).toEqual(['ok', 'krun_set_log_level']);
    expect(readCalls(log)).toEqual([{ fn: 'krun_set_log_level', args: [2], ret: 0 }]);
  });

  it('would abort without the guard (the stand-in behaves like libkrun)', async () => {
    const result = await runNode(
      [
        '-e',
        `const k = require('koffi').load(${JSON.stringify(fixtures().full)});
         const f = k.func('int32_t krun_set_log_level(uint32_t)'); f(1); f(1);`,
      ],
      { env: childEnv({}) },
    );
    expect(result.signal).toBe('SIGABRT');
  });
});
