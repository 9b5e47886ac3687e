// resolveGuestAssets against assets directories made here (SMOLVM_GUEST_ASSETS), without building anything.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveGuestAssets } from '../src/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function assetsDir(manifest: object): string {
  const dir = mkdtempSync(join(tmpdir(), 'smolvm-assets-test-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'initramfs.cpio'), 'cpio');
  writeFileSync(join(dir, 'rootfs.ext4'), 'ext4');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ initramfs: 'initramfs.cpio', rootfs: 'rootfs.ext4', agentVersion: '9.9.9', ...manifest }));
  return dir;
}

describe('resolveGuestAssets', () => {
  it('fails without a built kernel unless the engine brings its own', async () => {
    const dir = assetsDir({});
    const env = { SMOLVM_GUEST_ASSETS: dir };
    await expect(resolveGuestAssets(env)).rejects.toMatchObject({ code: 'SMOLVM_ERR_KERNEL_MISSING' });
    await expect(resolveGuestAssets(env, { requireKernel: false })).resolves.toEqual({
      kernel: '',
      kernelSource: 'none',
      initramfs: join(dir, 'initramfs.cpio'),
      rootfs: join(dir, 'rootfs.ext4'),
      agentVersion: '9.9.9',
    });
  });

  it('still checks a kernel that is named, even when none is required', async () => {
    const dir = assetsDir({});
    const bogus = join(dir, 'not-a-kernel');
    writeFileSync(bogus, 'hello');
    await expect(resolveGuestAssets({ SMOLVM_GUEST_ASSETS: dir, SMOLVM_KERNEL: bogus }, { requireKernel: false })).rejects.toMatchObject({
      code: 'SMOLVM_ERR_KERNEL_INVALID',
    });
  });

  it('says the guest is not built when the manifest is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smolvm-assets-test-'));
    dirs.push(dir);
    await expect(resolveGuestAssets({ SMOLVM_GUEST_ASSETS: dir }, { requireKernel: false })).rejects.toMatchObject({ code: 'SMOLVM_ERR_GUEST_NOT_BUILT' });
  });
});
