// Unit tests of the pure parts of the libkrun engine: the VmSpec -> runner spec mapping (checked with
// the runner's own validator), kernel format detection, version parsing, exit status mapping.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatRunnerError, validateKrunVmSpec } from '@smolvm/krun';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmSpec } from '../src/engine.js';
import { krunExitError } from '../src/krun-engine.js';
import { krunVersionFromFileName } from '../src/krun-host.js';
import { krunAgentArgs, krunKernelCmdline, krunKernelFormat, krunVmSpec } from '../src/krun-spec.js';
import { fakeBzImage, fakeElfKernel } from './krun-fixtures.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smolvm-krun-spec-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const SPEC: VmSpec = {
  cpus: 2,
  memoryMiB: 512,
  kernel: '/k/vmlinux',
  initramfs: '/k/initramfs.cpio',
  rootDisk: '/k/rootfs.ext4',
  consoleLog: '/run/x/console.log',
  runDir: '/run/x',
};

describe('krunVmSpec', () => {
  it('maps a VmSpec onto a spec the runner accepts: no network, agent on vsock, image read-only', () => {
    const s = krunVmSpec(SPEC, { socketPath: '/run/x/agent.sock', kernelFormat: 'elf', root: { remount: true } });
    expect(validateKrunVmSpec(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(s).toEqual({
      logLevel: 'error',
      vcpus: 2,
      ramMiB: 512,
      kernel: {
        path: '/k/vmlinux',
        format: 'elf',
        initramfs: '/k/initramfs.cpio',
        cmdline: 'console=hvc0 reboot=t panic=-1 quiet smolvm.root=/dev/vda smolvm.vsock=1024',
      },
      disks: [{ id: 'root', path: '/k/rootfs.ext4', format: 'raw', readOnly: true }],
      rootDiskRemount: { device: '/dev/vda', fstype: 'ext4', options: 'ro' },
      exec: { path: '/init', argv: [], env: ['HOME=/', 'TERM=linux'] },
      tsi: { hijackInet: false, hijackUnix: false },
      vsockPorts: [{ port: 1024, path: '/run/x/agent.sock', listen: false }],
      consoleOutput: '/run/x/console.log',
    });
    expect(s.portMap).toBeUndefined();
  });

  it('uses an empty directory as libkrun\'s root on a libkrun without the disk remount', () => {
    const s = krunVmSpec(SPEC, { socketPath: '/s', kernelFormat: 'raw', root: { emptyDir: '/run/x/krun-root' }, port: 7 });
    expect(validateKrunVmSpec(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(s.rootDir).toBe('/run/x/krun-root');
    expect(s.rootDiskRemount).toBeUndefined();
    expect(s.vsockPorts).toEqual([{ port: 7, path: '/s', listen: false }]);
    expect(s.kernel?.cmdline).toMatch(/ smolvm\.vsock=7$/);
  });

  it('adds a machine\'s writable disk as /dev/vdb and tells the agent', () => {
    const s = krunVmSpec({ ...SPEC, dataDisk: '/m/data.ext4' }, { socketPath: '/s', kernelFormat: 'elf', root: { remount: true } });
    expect(validateKrunVmSpec(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(s.disks).toEqual([
      { id: 'root', path: '/k/rootfs.ext4', format: 'raw', readOnly: true },
      { id: 'data', path: '/m/data.ext4', format: 'raw', readOnly: false },
    ]);
    expect(s.kernel?.cmdline).toBe('console=hvc0 reboot=t panic=-1 quiet smolvm.root=/dev/vda smolvm.rootrw=/dev/vdb smolvm.vsock=1024');
  });

  it('appends the extra kernel arguments', () => {
    expect(krunKernelCmdline({ kernelArgs: ['smolvm.verbose=1', 'loglevel=7'] })).toBe(
      'console=hvc0 reboot=t panic=-1 quiet smolvm.root=/dev/vda smolvm.vsock=1024 smolvm.verbose=1 loglevel=7',
    );
  });
});

describe("krunVmSpec on libkrunfw's kernel", () => {
  it('has no kernel: the prepared root directory, the agent with its options as arguments, PID 1, explicit env', () => {
    const s = krunVmSpec(
      { ...SPEC, dataDisk: '/m/data.ext4', volumes: [{ hostPath: '/h', guestPath: '/srv/data', readOnly: false }] },
      { socketPath: '/run/x/agent.sock', libkrunfwRoot: '/cache/krun-root/v1-abc' },
    );
    expect(validateKrunVmSpec(JSON.parse(JSON.stringify(s)))).toEqual(s);
    expect(s).toEqual({
      logLevel: 'error',
      vcpus: 2,
      ramMiB: 512,
      disks: [
        { id: 'root', path: '/k/rootfs.ext4', format: 'raw', readOnly: true },
        { id: 'data', path: '/m/data.ext4', format: 'raw', readOnly: false },
      ],
      rootDir: '/cache/krun-root/v1-abc',
      virtiofs: [{ tag: 'smolvm0', path: '/h' }],
      exec: {
        path: '/.smolvm/agent',
        argv: ['smolvm.root=/dev/vda', 'smolvm.rootrw=/dev/vdb', 'smolvm.vsock=1024', 'smolvm.volume=smolvm0:/srv/data:virtiofs'],
        env: ['HOME=/', 'TERM=linux', 'KRUN_INIT_PID1=1'],
      },
      tsi: { hijackInet: false, hijackUnix: false },
      vsockPorts: [{ port: 1024, path: '/run/x/agent.sock', listen: false }],
      consoleOutput: '/run/x/console.log',
    });
    expect(s.kernel).toBeUndefined();
    expect(s.rootDiskRemount).toBeUndefined();
  });

  it('passes smolvm.* kernel arguments to the agent and refuses the others', () => {
    expect(krunAgentArgs({ kernelArgs: ['smolvm.verbose=1'] }, 9)).toEqual(['smolvm.root=/dev/vda', 'smolvm.vsock=9', 'smolvm.verbose=1']);
    expect(() => krunAgentArgs({ kernelArgs: ['smolvm.verbose=1', 'loglevel=7'] })).toThrow(
      expect.objectContaining({ code: 'SMOLVM_ERR_INVALID_OPTION', message: "kernel arguments loglevel=7 cannot be passed to libkrunfw's kernel" }),
    );
  });

  it('refuses options that would not reach the agent whole (31 arguments, a short command line)', () => {
    const vol = (n: number, len = 8) => Array.from({ length: n }, (_, i) => ({ hostPath: '/h', guestPath: `/${'v'.repeat(len)}${i}`, readOnly: false }));
    expect(krunAgentArgs({ volumes: vol(29, 1) })).toHaveLength(31);
    expect(() => krunAgentArgs({ volumes: vol(30, 1) })).toThrow(/32 arguments, .* \(at most 31 arguments/);
    expect(() => krunAgentArgs({ volumes: vol(8, 200) })).toThrow(/do not fit on libkrun's kernel command line/);
  });
});

describe('krunKernelFormat', () => {
  async function file(name: string, content: Buffer | string): Promise<string> {
    const p = join(dir, name);
    await writeFile(p, content);
    return p;
  }
  const armImage = (): Buffer => {
    const b = Buffer.alloc(0x40);
    b.write('ARM\x64', 0x38, 'latin1');
    return b;
  };
  const zboot = (): Buffer => Buffer.concat([Buffer.from('MZ\0\0zimg', 'latin1'), Buffer.alloc(64)]);

  it.each([
    ['an x86-64 vmlinux on x64', () => fakeElfKernel('x64'), 'x64', 'elf'],
    ['an arm64 vmlinux on arm64', () => fakeElfKernel('arm64'), 'arm64', 'elf'],
    ['an arm64 Image', armImage, 'arm64', 'raw'],
    ['an Image.gz', () => Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]), 'arm64', 'image-gz'],
    ['an Image.bz2', () => Buffer.from('BZh91AY', 'latin1'), 'arm64', 'image-bz2'],
    ['an Image.zst', () => Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]), 'arm64', 'image-zstd'],
    ['an EFI zboot image', zboot, 'arm64', 'pe-gz'],
  ] as const)('recognises %s', async (_what, content, arch, format) => {
    expect(await krunKernelFormat(await file(`k-${format}-${arch}`, content()), arch)).toBe(format);
  });

  it.each([
    ['an x86 bzImage', fakeBzImage, 'x64', /it is an x86 bzImage, which libkrun has no loader for/],
    ['an arm64 vmlinux on x64', () => fakeElfKernel('arm64'), 'x64', /it is an ELF kernel for arm64, and this host is x64/],
    ['an Image.gz on x64', () => Buffer.from([0x1f, 0x8b, 8, 0]), 'x64', /not a kernel image format libkrun boots on this architecture/],
    ['a text file', () => Buffer.from('#!/bin/sh\n'), 'arm64', /not a kernel image format libkrun boots/],
  ] as const)('refuses %s with SMOLVM_ERR_KRUN_KERNEL_UNSUPPORTED', async (what, content, arch, message) => {
    const p = await file(`bad-${what.replace(/\W+/g, '-')}`, content());
    await expect(krunKernelFormat(p, arch)).rejects.toMatchObject({
      code: 'SMOLVM_ERR_KRUN_KERNEL_UNSUPPORTED',
      message: expect.stringMatching(message),
      hint: expect.stringMatching(/SMOLVM_KERNEL/),
    });
  });

  it('says when the kernel cannot be read', async () => {
    await expect(krunKernelFormat(join(dir, 'absent'))).rejects.toMatchObject({
      code: 'SMOLVM_ERR_KERNEL_MISSING',
      message: expect.stringMatching(/cannot read the kernel .*absent: ENOENT/),
    });
  });
});

describe('krunVersionFromFileName', () => {
  it.each([
    ['/usr/lib64/libkrun.so.1.19.0', '1.19.0'],
    ['/opt/homebrew/Cellar/libkrun/1.15.1/lib/libkrun.1.15.1.dylib', '1.15.1'],
    ['/usr/lib64/libkrun.so.1', undefined],
    ['/usr/lib/libkrun.so', undefined],
    ['/usr/lib64/libkrunfw.so.5.1.0', undefined],
    ['/tmp/fake-libkrun-full.so', undefined],
  ])('%s -> %s', (file, version) => {
    expect(krunVersionFromFileName(file)).toBe(version);
  });
});

describe('krunExitError', () => {
  it('names a signal and quotes libkrun\'s log, without the runner\'s JSON line', () => {
    const err = krunExitError({ code: null, signal: 'SIGSEGV' }, '[ERROR vmm] Building the microVM failed\n', '');
    expect(err).toMatchObject({
      code: 'SMOLVM_ERR_BOOT_FAILED',
      message: 'the libkrun VM ended before the guest agent was up (killed by SIGSEGV); libkrun said: [ERROR vmm] Building the microVM failed',
      exitCode: null,
      signal: 'SIGSEGV',
    });
  });

  it('calls a spec the runner refuses a smolvm bug', () => {
    const line = formatRunnerError({ code: 'SMOLVM_ERR_KRUN_SPEC_INVALID', message: 'Invalid VM spec: spec.vcpus must be an integer from 1 to 255.', field: 'spec.vcpus' });
    const err = krunExitError({ code: 70, signal: null }, `${line}\n`, 'console text');
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_KRUN_SPEC_INVALID', fn: undefined, hint: expect.stringMatching(/bug in smolvm/) });
    expect(err.message).toBe('libkrun could not start the VM: Invalid VM spec: spec.vcpus must be an integer from 1 to 255.');
  });

  it('keeps the last console lines in the hint of an early exit', () => {
    const err = krunExitError({ code: 1, signal: null }, '', 'Kernel panic - not syncing: VFS\n');
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_BOOT_FAILED', hint: 'Guest console:\nKernel panic - not syncing: VFS' });
    expect(err.message).toBe('the libkrun VM ended before the guest agent was up (status 1)');
  });
});
