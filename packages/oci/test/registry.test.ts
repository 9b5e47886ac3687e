// Against a real registry (Debian's docker-registry on loopback), with images pushed by skopeo (a real,
// independent client) from OCI layouts the test writes; the disks are read back with debugfs.
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestOf,
  ensureImageDisk,
  isOciError,
  listImages,
  pruneImages,
  pullImage,
  removeImage,
  type OciProgressEvent,
} from '../src/index.js';
import { imageCat, imageStat } from './helpers/ext4.js';
import { expectTestImage, layerFiles } from './helpers/layers.js';
import { writeOciLayout, type WrittenImage } from './helpers/layout.js';
import { skopeoCopy, startRegistry, type TestRegistry } from './helpers/registry.js';
import { tarArchive } from './helpers/tar-writer.js';

let work: string;
let reg: TestRegistry;
let layoutDir: string;
let written: WrittenImage;
/** What skopeo pushed: it gzips uncompressed layers on the way, so digests differ from the layout's. */
let pushed: { digest: string; layers: Array<{ digest: string; size: number }> };
let caches = 0;
const cache = (): string => join(work, `cache${caches++}`);
const imageConfig = { Env: ['PATH=/usr/bin:/bin', 'GREETING=hi there'], Entrypoint: ['/bin/sh', '-c'], Cmd: ['echo $GREETING'], WorkingDir: '/home/user', User: '1000:1000' };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'smolvm-oci-reg-'));
  reg = await startRegistry(join(work, 'registry'));
  const { layers, diffIds } = layerFiles();
  layoutDir = join(work, 'layout');
  [written] = writeOciLayout(layoutDir, '1', [{ layers, diffIds, config: imageConfig }]) as [WrittenImage];
  await skopeoCopy(`oci:${layoutDir}:1`, `docker://${reg.host}/test/img:1`);
  pushed = await registryManifest('test/img', '1');
  const armLayer = tarArchive([{ name: 'arch', data: 'arm64' }]);
  const multiDir = join(work, 'multi');
  writeOciLayout(multiDir, 'multi', [
    { layers, diffIds, config: imageConfig, architecture: 'amd64' },
    { layers: [armLayer], diffIds: [digestOf(armLayer)], architecture: 'arm64' },
  ], { index: true });
  await skopeoCopy(`oci:${multiDir}:multi`, `docker://${reg.host}/test/multi:1`, { all: true });
}, 120_000);

async function registryManifest(repo: string, tag: string): Promise<typeof pushed> {
  const res = await fetch(`http://${reg.host}/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const bytes = Buffer.from(await res.arrayBuffer());
  const doc = JSON.parse(bytes.toString()) as { layers: Array<{ digest: string; size: number }> };
  return { digest: digestOf(bytes), layers: doc.layers };
}

function registryBlob(digest: string): string {
  const hex = digest.slice(7);
  return join(reg.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('pull from a real registry', () => {
  it('pulls every layer with progress and exposes the image config', async () => {
    const events: OciProgressEvent[] = [];
    const cacheDir = cache();
    const rec = await pullImage(`${reg.host}/test/img:1`, { cacheDir, onProgress: (e) => events.push(e) });
    expect(rec.reference).toBe(`${reg.host}/test/img:1`);
    expect(rec.digest).toBe(pushed.digest);
    expect(rec.layers).toHaveLength(3);
    expect(rec.config).toMatchObject({
      env: imageConfig.Env,
      entrypoint: imageConfig.Entrypoint,
      cmd: imageConfig.Cmd,
      workingDir: '/home/user',
      user: '1000:1000',
    });
    for (const [i, l] of rec.layers.entries()) {
      const mine = events.filter((e) => e.type === 'blob' && e.kind === 'layer' && e.index === i);
      expect(mine.at(-1)).toMatchObject({ state: 'done', bytes: l.size, totalBytes: l.size });
      expect(existsSync(join(cacheDir, 'blobs', 'sha256', l.digest.slice(7)))).toBe(true);
    }
    // A second pull finds everything cached.
    const again: OciProgressEvent[] = [];
    await pullImage(`${reg.host}/test/img:1`, { cacheDir, onProgress: (e) => again.push(e) });
    expect(again.filter((e) => e.type === 'blob' && e.kind === 'layer').every((e) => e.type === 'blob' && e.state === 'cached')).toBe(true);
  });

  it('builds the root disk once and shares it', async () => {
    const cacheDir = cache();
    const [a, b] = await Promise.all([
      ensureImageDisk(`${reg.host}/test/img:1`, { cacheDir }),
      ensureImageDisk(`${reg.host}/test/img:1`, { cacheDir }),
    ]);
    expect(a.diskPath).toBe(b.diskPath);
    expect([a.built, b.built].sort()).toEqual([false, true]);
    expect(a.digest).toBe(pushed.digest);
    expect(a.config.user).toBe('1000:1000');
    expectTestImage(a.diskPath);
    const c = await ensureImageDisk(`${reg.host}/test/img:1`, { cacheDir, pull: 'never' });
    expect(c).toMatchObject({ diskPath: a.diskPath, built: false });
    expect(readdirSync(join(cacheDir, 'disks'))).toEqual([a.diskPath.split('/').pop()]);
  });

  it('picks the platform from an index', async () => {
    const cacheDir = cache();
    const arm = await pullImage(`${reg.host}/test/multi:1`, { cacheDir, platform: 'linux/arm64' });
    expect(arm.platform).toBe('linux/arm64');
    expect(arm.layers).toHaveLength(1);
    expect(arm.indexDigest).toMatch(/^sha256:/);
    if (arch() === 'x64') {
      const host = await pullImage(`${reg.host}/test/multi:1`, { cacheDir });
      expect(host.platform).toBe('linux/amd64');
      expect(host.layers).toHaveLength(3);
    }
    const err = await pullImage(`${reg.host}/test/multi:1`, { cacheDir, platform: 'linux/s390x' }).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_PLATFORM_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('linux/arm64');
  });

  it('lists, removes and prunes', async () => {
    const cacheDir = cache();
    const disk = await ensureImageDisk(`${reg.host}/test/img:1`, { cacheDir });
    expect((await listImages({ cacheDir })).map((r) => r.reference)).toEqual([`${reg.host}/test/img:1`]);
    // In use: the disk survives even with the record gone.
    await removeImage(`${reg.host}/test/img:1`, { cacheDir });
    expect(await listImages({ cacheDir })).toEqual([]);
    const kept = await pruneImages(new Set([disk.digest]), { cacheDir, graceMs: 0 });
    expect(kept.removedDisks).toBe(0);
    expect(kept.removedBlobs).toBeGreaterThan(0);
    expect(existsSync(disk.diskPath)).toBe(true);
    const gone = await pruneImages(new Set(), { cacheDir, graceMs: 0 });
    expect(gone.removedDisks).toBe(1);
    expect(existsSync(disk.diskPath)).toBe(false);
    expect(readdirSync(join(cacheDir, 'blobs', 'sha256'))).toEqual([]);
    const err = await removeImage('nothing:here', { cacheDir }).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_IMAGE_UNKNOWN')).toBe(true);
  });

  it('says which image and registry a 404 is about', async () => {
    for (const ref of [`${reg.host}/test/img:nope`, `${reg.host}/no/such/repo:1`]) {
      const err = await pullImage(ref, { cacheDir: cache() }).catch((e: unknown) => e);
      expect(isOciError(err, 'SMOLVM_ERR_OCI_NOT_FOUND')).toBe(true);
      expect((err as Error).message).toContain(reg.host);
      expect((err as Error).message).toContain(ref.split('/').slice(1).join('/').split(':')[0]);
      expect((err as { hint?: string }).hint).toBeTruthy();
    }
  });

  it('never caches a blob the registry serves tampered', async () => {
    const layer = tarArchive([{ name: 'unique', data: randomBytes(4096) }]);
    const dir = join(work, 'tamper-layout');
    writeOciLayout(dir, '1', [{ layers: [layer], diffIds: [digestOf(layer)] }]);
    await skopeoCopy(`oci:${dir}:1`, `docker://${reg.host}/test/tamper:1`);
    const digest = (await registryManifest('test/tamper', '1')).layers[0]?.digest as string;
    const hex = digest.slice(7);
    const data = registryBlob(digest);
    const bytes = readFileSync(data);
    bytes[1000] = (bytes[1000] as number) ^ 0xff;
    writeFileSync(data, bytes);
    const cacheDir = cache();
    const err = await pullImage(`${reg.host}/test/tamper:1`, { cacheDir }).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_DIGEST_MISMATCH')).toBe(true);
    expect(existsSync(join(cacheDir, 'blobs', 'sha256', hex))).toBe(false);
    expect(existsSync(join(cacheDir, 'partial', `sha256-${hex}`))).toBe(false);
  });

  it('resumes an interrupted download', async () => {
    const cacheDir = cache();
    const big = pushed.layers[0]?.digest as string;
    const full = readFileSync(registryBlob(big));
    const half = Math.floor(full.length / 2);
    mkdirSync(join(cacheDir, 'partial'), { recursive: true });
    writeFileSync(join(cacheDir, 'partial', `sha256-${big.slice(7)}`), full.subarray(0, half));
    const events: OciProgressEvent[] = [];
    await pullImage(`${reg.host}/test/img:1`, { cacheDir, onProgress: (e) => events.push(e) });
    const seen = events.filter((e) => e.type === 'blob' && e.digest === big && e.bytes > 0).map((e) => (e.type === 'blob' ? e.bytes : 0));
    expect(Math.min(...seen)).toBeGreaterThan(half);
    expect(readFileSync(join(cacheDir, 'blobs', 'sha256', big.slice(7))).equals(full)).toBe(true);
  });
});

describe('local sources', () => {
  it('imports a docker save archive (file and stream) made by skopeo', async () => {
    const tar = join(work, 'docker-archive.tar');
    await skopeoCopy(`docker://${reg.host}/test/img:1`, `docker-archive:${tar}:test/img:1`);
    const cacheDir = cache();
    const disk = await ensureImageDisk({ type: 'archive', path: tar }, { cacheDir });
    expectTestImage(disk.diskPath);
    expect(disk.config.cmd).toEqual(imageConfig.Cmd);
    expect(disk.reference).toBe('docker.io/test/img:1');
    const rec = await pullImage({ type: 'archive', stream: createReadStream(tar) }, { cacheDir: cache() });
    expect(rec).toMatchObject({ source: 'docker-archive', digest: disk.digest, reference: 'docker.io/test/img:1' });
  });

  it('imports an OCI archive made by skopeo and an OCI layout directory', async () => {
    const tar = join(work, 'oci-archive.tar');
    await skopeoCopy(`oci:${layoutDir}:1`, `oci-archive:${tar}:1`);
    const cacheDir = cache();
    const fromTar = await ensureImageDisk(`oci-archive:${tar}`, { cacheDir });
    // skopeo gzips the layers into the archive just as it did when pushing.
    expect(fromTar.digest).toBe(pushed.digest);
    expectTestImage(fromTar.diskPath);
    const fromDir = await ensureImageDisk(`oci:${layoutDir}`, { cacheDir });
    expect(fromDir).toMatchObject({ digest: written.manifestDigest, built: true });
    expectTestImage(fromDir.diskPath);
  });

  it('does not read an unchanged local archive again, and does when it changed', async () => {
    const tar = join(work, 'docker-archive-again.tar');
    await skopeoCopy(`docker://${reg.host}/test/img:1`, `docker-archive:${tar}:test/img:1`);
    const cacheDir = cache();
    const first = await ensureImageDisk({ type: 'archive', path: tar }, { cacheDir });
    // Same size, same content length, unreadable as an archive: were it read again, the import would fail.
    const st = statSync(tar);
    const fd = openSync(tar, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x41), 0, 4096, 0);
    closeSync(fd);
    utimesSync(tar, st.atime, st.mtime);
    // ctime moved with the write, so this is a different file as far as the note goes: it is read again.
    await expect(ensureImageDisk({ type: 'archive', path: tar }, { cacheDir })).rejects.toThrow();
    // Restored: the note taken at import time matches again only after a fresh import.
    rmSync(tar);
    await skopeoCopy(`docker://${reg.host}/test/img:1`, `docker-archive:${tar}:test/img:1`);
    const again = await ensureImageDisk({ type: 'archive', path: tar }, { cacheDir });
    expect(again).toMatchObject({ digest: first.digest, built: false });
    // Now unchanged: served from the note, without reading the archive again.
    const events: OciProgressEvent[] = [];
    expect(await ensureImageDisk({ type: 'archive', path: tar }, { cacheDir, onProgress: (e) => events.push(e) })).toMatchObject({ digest: first.digest, built: false });
    expect(events).toEqual([]);
    // Whereas a changed one is read (and says so).
    utimesSync(tar, new Date(), new Date());
    const reread: OciProgressEvent[] = [];
    await ensureImageDisk({ type: 'archive', path: tar }, { cacheDir, onProgress: (e) => reread.push(e) });
    expect(reread.filter((e) => e.type === 'import').map((e) => (e.type === 'import' ? e.state : ''))).toEqual(['reading', 'done']);
    // A prune that drops the image drops the note too, and the next use imports again.
    await pruneImages(new Set(), { cacheDir, all: true, graceMs: 0 });
    expect(readdirSync(join(cacheDir, 'local'))).toEqual([]);
    expect((await ensureImageDisk({ type: 'archive', path: tar }, { cacheDir })).digest).toBe(first.digest);
  });

  it('builds a disk from an unpacked root filesystem directory', async () => {
    const dir = join(work, 'rootfs');
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(join(dir, 'bin', 'hello'), 'hello', { mode: 0o755 });
    const cacheDir = cache();
    const disk = await ensureImageDisk(`rootfs:${dir}`, { cacheDir });
    expect(imageCat(disk.diskPath, '/bin/hello').toString()).toBe('hello');
    expect(imageStat(disk.diskPath, '/bin/hello')).toMatchObject({ uid: 0, mode: 0o755 });
    expect((await ensureImageDisk(`rootfs:${dir}`, { cacheDir })).built).toBe(false);
  });
});
