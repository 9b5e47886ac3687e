#!/usr/bin/env node
// Booting an OCI image machine against booting the default image, measured in this one process with the
// runs interleaved: `Machine.run({ image, cmd: ['true'] })` against `Machine.run({ cmd: ['true'] })` (boot,
// exec, stop). The image is busybox-static with its applets and the usual top-level directories, the same
// content as the default image, written here as a one-layer OCI layout; its disk is built before the timed
// runs (warm: what every boot after the first costs). Also reported: the first run of the image on an empty
// cache (import, verify, apply the layer, build the disk, boot), against the same warm default-image run.
// Needs a built packages/core (and the guest assets), busybox-static and e2fsprogs.
//   node bench/image-boot.mjs [--runs N]
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { Machine } from '../packages/core/dist/index.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const runs = Math.min(arg('--runs', 9), 50);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const now = () => performance.now();
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A ustar archive of `entries` ({ name, type: 'dir'|'file'|'symlink', data?, mode?, linkname? }). */
function tar(entries) {
  const oct = (v, len) => v.toString(8).padStart(len - 1, '0') + '\0';
  const parts = [];
  for (const e of entries) {
    const data = e.type === 'file' ? e.data : Buffer.alloc(0);
    const h = Buffer.alloc(512);
    h.write(e.name, 0);
    h.write(oct(e.mode ?? (e.type === 'dir' ? 0o755 : 0o644), 8), 100);
    h.write(oct(0, 8), 108);
    h.write(oct(0, 8), 116);
    h.write(oct(data.length, 12), 124);
    h.write(oct(1_700_000_000, 12), 136);
    h.write('        ', 148);
    h.write({ file: '0', symlink: '2', dir: '5' }[e.type], 156);
    if (e.linkname) h.write(e.linkname, 157);
    h.write('ustar\x0000', 257, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(oct(sum, 7), 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  return Buffer.concat([...parts, Buffer.alloc(1024)]);
}

/** busybox-static with every applet linked, and the directories a root file system has. */
function busyboxLayer() {
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => spawnSync(p, ['true']).status === 0);
  if (!busybox) throw new Error('busybox not found: install busybox-static');
  const entries = [];
  for (const d of ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'run', 'root', 'home', 'mnt', 'var', 'var/log', 'var/tmp', 'tmp']) {
    entries.push({ name: `${d}/`, type: 'dir', mode: d === 'tmp' || d === 'var/tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755 });
  }
  entries.push({ name: 'bin/busybox', type: 'file', data: readFileSync(busybox), mode: 0o755 });
  entries.push({ name: 'etc/passwd', type: 'file', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') });
  entries.push({ name: 'etc/group', type: 'file', data: Buffer.from('root:x:0:\n') });
  const applets = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'bin/busybox' || a.includes('..') || !a.includes('/')) continue;
    const depth = a.split('/').length - 1;
    entries.push({ name: a, type: 'symlink', linkname: a.startsWith('bin/') && depth === 1 ? 'busybox' : '../'.repeat(depth) + 'bin/busybox' });
  }
  return tar(entries);
}

function writeLayout(dir) {
  const put = (b) => {
    const d = sha256(b);
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layer = busyboxLayer();
  const gz = gzipSync(layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length }],
  }));
  const md = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
  }));
  return { dir, layerMiB: +(gz.length / 1024 / 1024).toFixed(2) };
}

const work = mkdtempSync(join(tmpdir(), 'smolvm-bench-image-'));
const env = (cache) => ({ ...process.env, SMOLVM_HOME: join(work, 'home'), SMOLVM_CACHE_DIR: cache, SMOLVM_QUIET: '1' });
const out = { bench: 'image-boot', runs };
try {
  const layout = writeLayout(join(work, 'layout'));
  out.layerMiB = layout.layerMiB;
  const warmEnv = env(join(work, 'cache'));
  const image = `oci:${layout.dir}`;
  const check = await Machine.run({ image, cmd: ['sh', '-c', 'echo ok'], hostEnv: warmEnv });
  if (check.stdout !== 'ok\n') throw new Error(`the image machine did not run: ${check.stderr}`);
  await Machine.run({ cmd: ['true'], hostEnv: warmEnv });

  const withImage = [];
  const plain = [];
  const cold = [];
  for (let i = 0; i < runs; i++) {
    let t = now();
    await Machine.run({ image, cmd: ['true'], hostEnv: warmEnv });
    withImage.push(now() - t);
    t = now();
    await Machine.run({ cmd: ['true'], hostEnv: warmEnv });
    plain.push(now() - t);
    if (i < Math.min(runs, 5)) {
      const cache = join(work, `cold-${i}`);
      t = now();
      await Machine.run({ image, cmd: ['true'], hostEnv: env(cache) });
      cold.push(now() - t);
      rmSync(cache, { recursive: true, force: true });
    }
  }
  out.imageRunMs = Math.round(median(withImage));
  out.defaultRunMs = Math.round(median(plain));
  out.ratioImageToDefault = +(median(withImage) / median(plain)).toFixed(3);
  out.imageFirstRunColdCacheMs = Math.round(median(cold));
  out.ratioColdToDefault = +(median(cold) / median(plain)).toFixed(3);

  console.log(`Machine.run(['true']), image machine (disk built)     median ${out.imageRunMs} ms`);
  console.log(`Machine.run(['true']), default image (baseline)        median ${out.defaultRunMs} ms   ratio ${out.ratioImageToDefault}x`);
  console.log(`first run of the image on an empty cache (${out.layerMiB} MiB layer) median ${out.imageFirstRunColdCacheMs} ms   ratio ${out.ratioColdToDefault}x`);
  console.log(JSON.stringify(out));
} finally {
  rmSync(work, { recursive: true, force: true });
}
