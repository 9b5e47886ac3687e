// Volume options: parsing and checks (no VM), and how the QEMU engine passes them on.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qemuArgs } from '../src/qemu-engine.js';
import { checkVolumeHostDirs, normalizeVolumes, volumeKernelArgs } from '../src/volumes.js';
import type { VmSpec } from '../src/engine.js';

describe('normalizeVolumes', () => {
  it('takes strings and objects, resolving relative host paths against cwd', () => {
    expect(normalizeVolumes(['./data:/data', '/srv:/var/www/:ro', { hostPath: 'x', guestPath: '/x' }], '/home/u')).toEqual([
      { hostPath: '/home/u/data', guestPath: '/data', readOnly: false },
      { hostPath: '/srv', guestPath: '/var/www', readOnly: true },
      { hostPath: '/home/u/x', guestPath: '/x', readOnly: false },
    ]);
  });

  it.each([
    ['/a:/data/../etc', /must not contain "\.\."/],
    ['/a:data', /must be absolute/],
    ['/a:/', /root directory/],
    ['/a:/b:rx', /unknown option/],
  ])('refuses %s with SMOLVM_ERR_INVALID_VOLUME', (spec, message) => {
    expect(() => normalizeVolumes([spec])).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_INVALID_VOLUME', message: expect.stringMatching(message) }));
  });

  it('refuses guest paths the kernel command line cannot carry, duplicates, and bad shapes', () => {
    for (const guestPath of ['/my data', '/a\tb', '/a"b', '/a/..', '/x/../../y']) {
      expect(() => normalizeVolumes([{ hostPath: '/a', guestPath }])).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_INVALID_VOLUME' }));
    }
    expect(() => normalizeVolumes(['/a:/d', '/b:/d/'])).toThrow(/two volumes are mounted on \/d/);
    expect(() => normalizeVolumes([{ hostPath: '', guestPath: '/d' }])).toThrow(/hostPath/);
    expect(() => normalizeVolumes([42 as unknown as string])).toThrow(/HOST:GUEST/);
    expect(() => normalizeVolumes(Array.from({ length: 17 }, (_, i) => `/a:/d${i}`))).toThrow(/too many volumes/);
  });
});

describe('checkVolumeHostDirs', () => {
  it('names a missing host directory and a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smolvm-vol-'));
    try {
      await writeFile(join(dir, 'f'), '');
      await expect(checkVolumeHostDirs([{ hostPath: dir, guestPath: '/d', readOnly: false }])).resolves.toBeUndefined();
      await expect(checkVolumeHostDirs([{ hostPath: join(dir, 'nope'), guestPath: '/d', readOnly: false }])).rejects.toMatchObject({
        code: 'SMOLVM_ERR_VOLUME_NOT_FOUND',
        message: `volume host directory ${join(dir, 'nope')} does not exist`,
      });
      await expect(checkVolumeHostDirs([{ hostPath: join(dir, 'f'), guestPath: '/d', readOnly: false }])).rejects.toMatchObject({
        code: 'SMOLVM_ERR_VOLUME_NOT_FOUND',
        message: `volume host path ${join(dir, 'f')} is not a directory`,
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('volumes under QEMU', () => {
  const spec: VmSpec = { cpus: 1, memoryMiB: 256, kernel: '/k', initramfs: '/i', rootDisk: '/r', consoleLog: '/c', runDir: '/run' };
  const tcg = { accel: 'tcg', reason: 'test' } as Parameters<typeof qemuArgs>[1];

  it('adds a 9p fsdev + device per volume, and the agent\'s cmdline entry', () => {
    const args = qemuArgs({ ...spec, volumes: [{ hostPath: '/h,1', guestPath: '/data', readOnly: false }, { hostPath: '/ro', guestPath: '/srv', readOnly: true }] }, tcg, '/s');
    const joined = args.join(' ');
    expect(joined).toContain('-fsdev local,id=vol0,path=/h,,1,security_model=none -device virtio-9p-device,fsdev=vol0,mount_tag=smolvm0');
    expect(joined).toContain('-fsdev local,id=vol1,path=/ro,security_model=none,readonly=on -device virtio-9p-device,fsdev=vol1,mount_tag=smolvm1');
    expect(args[args.indexOf('-append') + 1]).toContain('smolvm.volume=smolvm0:/data smolvm.volume=smolvm1:/srv:ro');
    // The fifth virtio-mmio slot (IRQ 8, the RTC's) holds a placeholder.
    const devices = args.filter((_, i) => args[i - 1] === '-device' && !args[i].startsWith('virtserialport'));
    expect(devices[4]).toBe('virtio-rng-device,id=irq8-placeholder');
  });

  it('refuses more volumes than microvm has device slots for', () => {
    const volumes = Array.from({ length: 5 }, (_, i) => ({ hostPath: '/h', guestPath: `/d${i}`, readOnly: false }));
    expect(() => qemuArgs({ ...spec, volumes }, tcg, '/s')).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_INVALID_VOLUME' }));
    expect(() => qemuArgs({ ...spec, volumes: volumes.slice(0, 4) }, tcg, '/s')).not.toThrow();
    expect(() => qemuArgs({ ...spec, dataDisk: '/d', balloon: true, volumes: volumes.slice(0, 3) }, tcg, '/s')).toThrow(/at most 2/);
  });

  it('marks volumes for virtiofs under libkrun', () => {
    expect(volumeKernelArgs([{ hostPath: '/h', guestPath: '/d', readOnly: false }], 'virtiofs')).toEqual(['smolvm.volume=smolvm0:/d:virtiofs']);
  });
});
