#!/usr/bin/env node
// OCI pull: median wall time of @smolvm/oci's pullImage (cold cache: download, verify, store every blob)
// against `skopeo copy docker://… dir:…` of the same ~100 MB multi-layer image from the same loopback
// registry (Debian's docker-registry). Runs alternate in this one process, so the ratio holds on a noisy
// machine even when absolute times drift. Needs docker-registry and skopeo (apt), and a built
// packages/oci (built here if dist/ is missing).
//   node bench/oci-pull.mjs [--runs N] [--mib SIZE] [--layers N]
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync, constants as zc } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
};
const runs = Math.min(arg('--runs', 5), 20);
const totalMiB = Math.min(arg('--mib', 100), 1024);
const layerCount = Math.min(arg('--layers', 5), 50);
const execFileP = promisify(execFile);

if (!existsSync(join(root, 'packages/oci/dist/index.js'))) {
  const r = spawnSync('npx', ['tsc', '-b', join(root, 'packages/oci')], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) throw new Error('building packages/oci failed');
}
const { pullImage } = await import('../packages/oci/dist/index.js');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sha256 = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A tar holding one file of `size` random bytes (plus the end-of-archive blocks). */
function tarWithFile(name, data) {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  const oct = (v, len) => v.toString(8).padStart(len - 1, '0') + '\0';
  h.write(oct(0o644, 8), 100);
  h.write(oct(0, 8), 108);
  h.write(oct(0, 8), 116);
  h.write(oct(data.length, 12), 124);
  h.write(oct(1_700_000_000, 12), 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\u000000', 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(oct(sum, 7), 148);
  return Buffer.concat([h, data, Buffer.alloc((512 - (data.length % 512)) % 512), Buffer.alloc(1024)]);
}

const work = mkdtempSync(join(tmpdir(), 'smolvm-bench-oci-'));
let registry;
try {
  // 1. A loopback registry.
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(join(work, 'registry.yml'), `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'storage')}\nhttp:\n  addr: ${host}\n  secret: bench\n`);
  registry = spawn('docker-registry', ['serve', join(work, 'registry.yml')], { stdio: 'ignore' });
  registry.on('error', (e) => {
    console.error(`docker-registry: ${e.message} (apt-get install docker-registry)`);
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await globalThis.fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) })).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline || registry.exitCode !== null) throw new Error('docker-registry did not start');
    await new Promise((r) => setTimeout(r, 100));
  }

  // 2. A multi-layer image of incompressible data, written as an OCI layout and pushed with skopeo.
  const layout = join(work, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const put = (b) => {
    const d = sha256(b);
    writeFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const layerBytes = Math.floor((totalMiB * 2 ** 20) / layerCount);
  const layers = [];
  const diffIds = [];
  for (let i = 0; i < layerCount; i++) {
    const tar = tarWithFile(`data/layer-${i}.bin`, randomBytes(layerBytes));
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar, { level: zc.Z_BEST_SPEED });
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length });
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
    layers,
  }));
  const md = put(manifest);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: md, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': '1' } }] }));
  const skopeo = ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false'];
  await execFileP('skopeo', [...skopeo, `oci:${layout}:1`, `docker://${host}/bench/img:1`], { timeout: 300_000 });
  const totalBytes = layers.reduce((n, l) => n + l.size, 0);
  const ref = `${host}/bench/img:1`;
  process.stderr.write(`oci-pull: ${runs} runs each, ${layerCount} layers, ${(totalBytes / 2 ** 20).toFixed(1)} MiB compressed, registry ${host}\n`);

  // 3. Interleaved runs, cold cache / fresh destination each time.
  const mine = [];
  const theirs = [];
  const timeMine = async (i) => {
    const cacheDir = join(work, `cache-${i}`);
    const t0 = process.hrtime.bigint();
    const rec = await pullImage(ref, { cacheDir });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (rec.layers.length !== layerCount) throw new Error('pullImage returned the wrong image');
    rmSync(cacheDir, { recursive: true, force: true });
    mine.push(ms);
  };
  const timeSkopeo = async (i) => {
    const dest = join(work, `skopeo-${i}`);
    const t0 = process.hrtime.bigint();
    await execFileP('skopeo', [...skopeo, `docker://${ref}`, `dir:${dest}`], { timeout: 300_000 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    rmSync(dest, { recursive: true, force: true });
    theirs.push(ms);
  };
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      await timeMine(i);
      await timeSkopeo(i);
    } else {
      await timeSkopeo(i);
      await timeMine(i);
    }
    process.stderr.write(`  run ${i + 1}: smolvm ${mine.at(-1).toFixed(0)} ms, skopeo ${theirs.at(-1).toFixed(0)} ms\n`);
  }
  const m = median(mine);
  const s = median(theirs);
  const mibps = (ms) => (totalBytes / 2 ** 20 / (ms / 1000)).toFixed(1);
  console.log(`smolvm pullImage (cold cache)   median ${m.toFixed(0)} ms  (${mibps(m)} MiB/s)`);
  console.log(`skopeo copy docker:// dir:      median ${s.toFixed(0)} ms  (${mibps(s)} MiB/s)`);
  console.log(`ratio smolvm/skopeo             ${(m / s).toFixed(2)}x`);
} finally {
  if (registry && registry.exitCode === null) {
    const exited = new Promise((r) => registry.once('exit', r));
    registry.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (registry.exitCode === null) registry.kill('SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
}
