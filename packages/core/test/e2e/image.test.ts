// End-to-end: machines booted from OCI images. Test images are built here (busybox-static plus files over
// three layers, a whiteout, a symlink, a file owned by uid 1000, no /proc, /sys, /dev, /tmp or /run),
// pushed by skopeo to Debian's docker-registry on 127.0.0.1, and booted under QEMU. Nothing is mocked.
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Machine,
  imageCommand,
  isSmolvmError,
  listImages,
  parsePinnedImage,
  pruneImages,
  pullImage,
  removeImage,
  type ImageProgressEvent,
} from '../../src/index.js';
import { isolateTmp, removeMachinesAndCheck } from './helpers.js';
import { EXPECTED_PROBE, NAMED_CONFIG, PROBE, parseProbe, pushTestImages, startRegistry, writeDockerArchive, writeTestLayout, type TestRegistry } from './image-fixtures.js';

const T = 120_000;
let tmp: ReturnType<typeof isolateTmp>;
let reg: TestRegistry;
let work: string;
let env: NodeJS.ProcessEnv;
let registryStopped = false;
let images: { ref: string; multi: string; layout: string };

const disks = (): string[] => readdirSync(join(work, 'cache', 'oci', 'disks')).filter((n) => n.endsWith('.ext4'));

beforeAll(async () => {
  tmp = isolateTmp();
  work = mkdtempSync(join(tmp.dir, 'work-'));
  env = { ...process.env, SMOLVM_HOME: join(work, 'home'), SMOLVM_CACHE_DIR: join(work, 'cache'), SMOLVM_QUIET: '1' };
  reg = await startRegistry(join(work, 'registry'));
  images = await pushTestImages(reg.host, work);
}, T);

afterAll(async () => {
  if (!registryStopped) await reg?.stop();
  await removeMachinesAndCheck(env, tmp, () => rmSync(work, { recursive: true, force: true }));
}, T);

describe('the run command and pinned images (no VM)', () => {
  const config = { entrypoint: ['/ep', '-x'], cmd: ['default', 'args'] };
  it.each([
    ['no cmd: Entrypoint + Cmd', config, undefined, undefined, ['/ep', '-x', 'default', 'args']],
    ['cmd replaces Cmd only', config, ['mine'], undefined, ['/ep', '-x', 'mine']],
    ['entrypoint replaces Entrypoint and drops Cmd', config, undefined, ['sh'], ['sh']],
    ['entrypoint and cmd', config, ['-c', 'id'], ['sh'], ['sh', '-c', 'id']],
    ['an empty entrypoint clears it', config, ['id'], [], ['id']],
    ['no Entrypoint in the image', { entrypoint: null, cmd: ['/bin/sh'] }, ['ls'], undefined, ['ls']],
    ['nothing at all', { entrypoint: null, cmd: null }, undefined, undefined, []],
    ['no image', null, ['true'], undefined, ['true']],
  ] as const)('%s', (_name, cfg, cmd, entrypoint, want) => {
    expect(imageCommand(cfg, cmd, entrypoint)).toEqual(want);
  });

  const d = `sha256:${'ab'.repeat(32)}`;
  it.each([
    [`docker.io/library/alpine:3.20@${d}`, { source: 'docker.io/library/alpine:3.20', digest: d }],
    [`oci:/srv/layout@${d}`, { source: 'oci:/srv/layout', digest: d }],
    [`rootfs:/a@b/dir@${d}`, { source: 'rootfs:/a@b/dir', digest: d }],
    [`-@${d}`, { source: '-', digest: d }],
    ['alpine:3.20', undefined],
    [`alpine@sha256:${'ab'.repeat(31)}`, undefined],
    [`alpine@sha512:${'ab'.repeat(64)}`, undefined],
  ])('parsePinnedImage(%s)', (input, want) => {
    expect(parsePinnedImage(input)).toEqual(want);
  });
});

describe('Machine.run with an image from a registry', () => {
  it('boots the image: files, owners, whiteout, symlink, env, workdir and user from the image', async () => {
    const events: ImageProgressEvent[] = [];
    // The image's Entrypoint is /bin/sh -c: cmd is the shell line (as with docker run).
    const r = await Machine.run({ image: images.ref, cmd: [PROBE], hostEnv: env, onProgress: (e) => events.push(e) });
    expect(r.stderr).toBe('');
    expect(parseProbe(r.stdout)).toEqual(EXPECTED_PROBE);
    // Progress per layer (three layers), then the disk build.
    const layers = new Set(events.filter((e) => e.type === 'blob' && e.kind === 'layer' && e.state === 'done').map((e) => (e as { index: number }).index));
    expect([...layers].sort()).toEqual([0, 1, 2]);
    expect(events.filter((e) => e.type === 'disk').map((e) => (e as { state: string }).state)).toEqual(['building', 'ready']);
  }, T);

  it("runs the image's Entrypoint + Cmd when no command is given, and the caller's options win", async () => {
    const r = await Machine.run({ image: images.ref, hostEnv: env });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'hello from the image|/srv/app|1000:1000\n' });
    // cmd becomes the Entrypoint's arguments (Entrypoint is /bin/sh -c), as with docker run.
    const args = await Machine.run({ image: images.ref, cmd: ['echo "$GREETING" $(id -u)'], env: { GREETING: 'mine' }, user: '0', cwd: '/etc', hostEnv: env });
    expect(args.stdout).toBe('mine 0\n');
    const ep = await Machine.run({ image: images.ref, entrypoint: ['pwd'], hostEnv: env });
    expect(ep.stdout).toBe('/srv/app\n');
  }, T);

  it('builds the disk once per digest and shares it read-only', async () => {
    expect(disks()).toHaveLength(1);
    const disk = join(work, 'cache', 'oci', 'disks', disks()[0]!);
    const before = statSync(disk);
    expect(before.mode & 0o777).toBe(0o444);
    // Two machines of the image at once: both boot the same file, nobody rebuilds it.
    const [a, b] = await Promise.all([
      Machine.run({ image: images.ref, cmd: ['cat /etc/greeting'], hostEnv: env }),
      Machine.run({ image: images.ref, cmd: ['cat /etc/greeting'], hostEnv: env }),
    ]);
    expect([a.stdout, b.stdout]).toEqual(['layer three\n', 'layer three\n']);
    expect(disks()).toHaveLength(1);
    expect(statSync(disk).mtimeMs).toBe(before.mtimeMs);
    // Writes go to the machine's own overlay layer, never to the shared disk.
    const w = await Machine.run({ image: images.ref, cmd: ['echo changed > /etc/greeting; cat /etc/greeting'], user: '0', hostEnv: env });
    expect(w.stdout).toBe('changed\n');
    expect((await Machine.run({ image: images.ref, entrypoint: ['cat', '/etc/greeting'], hostEnv: env })).stdout).toBe('layer three\n');
  }, T);

  it('refuses an image for another CPU before booting, and picks the host platform from an index', async () => {
    const err = await Machine.run({ image: images.multi, platform: 'linux/arm64', cmd: ['true'], hostEnv: env }).catch((e: unknown) => e);
    expect(isSmolvmError(err) && err.code).toBe('SMOLVM_ERR_INVALID_OPTION');
    expect((err as Error).message).toMatch(/built for linux\/arm64/);
    const r = await Machine.run({ image: images.multi, cmd: ['cat /etc/greeting'], hostEnv: env });
    expect(r.stdout).toBe('layer three\n');
  }, T);
});

describe('other image sources', () => {
  it('boots an OCI layout, a docker-archive stream and a root filesystem directory', async () => {
    const layout = await Machine.run({ image: images.layout, cmd: [PROBE], hostEnv: env });
    expect(parseProbe(layout.stdout)).toEqual(EXPECTED_PROBE);

    const archive = await writeDockerArchive(images.layout, join(work, 'img.tar'));
    const fromStream = await Machine.run({ image: { type: 'archive', stream: createReadStream(archive) }, cmd: ['cat /etc/greeting'], hostEnv: env });
    expect(fromStream.stdout).toBe('layer three\n');

    // An unpacked root filesystem: files the builder (here root) owns are root's; no config, so no workdir.
    const rootfs = join(work, 'rootfs');
    for (const d of ['bin', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    writeFileSync(join(rootfs, 'etc', 'greeting'), 'from a directory\n');
    const { copyFileSync, symlinkSync } = await import('node:fs');
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
    symlinkSync('busybox', join(rootfs, 'bin', 'cat'));
    const dir = await Machine.run({ image: `rootfs:${rootfs}`, cmd: ['sh', '-c', 'cat /etc/greeting; echo $PWD'], hostEnv: env });
    expect(dir.stdout).toBe('from a directory\n/\n');
  }, T);
});

describe('user names and a missing WorkingDir', () => {
  it('looks the image user up in its /etc/passwd and makes the WorkingDir', async (ctx) => {
    const layout = writeTestLayout(join(work, 'named'), NAMED_CONFIG);
    await using m = await Machine.boot({ image: layout, hostEnv: env });
    // Both need the agent's file operations (reading /etc/passwd, mkdir); an older agent has none.
    const supported = await m.files.stat('/').then(() => true, (e: Error) => !/does not support file operations/.test(e.message));
    if (!supported) ctx.skip('the built guest agent has no file operations yet (rebuild packages/guest)');
    const r = await m.exec(['sh', '-c', 'echo "$(id -u):$(id -g) $(pwd)"']);
    expect(r.stdout).toBe('1000:1000 /made/by/runtime\n');
  }, T);
});

describe('persistent machines of an image', () => {
  it('pullImage builds the disk ahead of time; removeImage forgets it', async () => {
    const events: ImageProgressEvent[] = [];
    const pulled = await pullImage(images.ref, { hostEnv: env, onProgress: (e) => events.push(e) });
    expect(pulled.pinned).toBe(`${images.ref}@${pulled.digest}`);
    expect(statSync(pulled.diskPath).isFile()).toBe(true);
    expect(pulled.config).toMatchObject({ workingDir: '/srv/app', user: '1000:1000', entrypoint: ['/bin/sh', '-c'] });
    const removed = await removeImage(images.ref, { hostEnv: env });
    expect(removed.map((r) => r.digest)).toEqual([pulled.digest]);
  }, T);

  it('record the digest, apply the image config to exec, and keep the image from prune', async () => {
    const m = await Machine.create('img-m', { image: images.ref, memoryMiB: 256, storageGiB: 1, hostEnv: env });
    const info = await m.inspect();
    const pin = parsePinnedImage(info.image!);
    expect(pin?.source).toBe(images.ref);
    const listed = await listImages({ hostEnv: env });
    const mine = listed.find((i) => i.digest === pin!.digest);
    expect(mine?.machines).toEqual(['img-m']);

    await m.start();
    try {
      const r = await m.exec(['/bin/sh', '-c', PROBE]);
      expect(parseProbe(r.stdout)).toEqual(EXPECTED_PROBE);
      const asRoot = await m.exec(['id', '-u'], { user: '0' });
      expect(asRoot.stdout).toBe('0\n');
    } finally {
      await m.stop();
    }

    // In use: rm refuses; prune --all keeps it (and its disk) while dropping the images nobody uses.
    const refused = await removeImage(images.ref, { hostEnv: env }).catch((e: unknown) => e);
    expect(isSmolvmError(refused) && refused.code).toBe('SMOLVM_ERR_IMAGE_IN_USE');
    const pruned = await pruneImages({ hostEnv: env, all: true, graceMs: 0 });
    expect(pruned.removedImages.map((r) => r.digest)).not.toContain(pin!.digest);
    expect((await listImages({ hostEnv: env })).map((i) => i.digest)).toContain(pin!.digest);

    // The machine starts again from the store (the registry is not asked: it is stopped for good here).
    await reg.stop();
    registryStopped = true;
    await m.start();
    expect((await m.exec(['cat', '/etc/greeting'])).stdout).toBe('layer three\n');
    await m.stop();

    await m.remove();
    const after = await pruneImages({ hostEnv: env, all: true, graceMs: 0 });
    expect(after.removedImages.map((r) => r.digest)).toContain(pin!.digest);
    expect(after.removedDisks).toBeGreaterThan(0);
    expect(await listImages({ hostEnv: env })).toEqual([]);
  }, T);
});
