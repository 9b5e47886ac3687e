#!/usr/bin/env node
// Published ports: a guest HTTP server (busybox httpd) reached through `-p`, each figure printed as a ratio
// against a baseline measured in this same process:
//   - small-request latency (a new connection and a GET of a tiny file, p50/p99) against the floor of the
//     same channel: a no-op protocol PING round trip;
//   - download throughput of a file through the published port against the same file read over the same
//     channel by `files.readStream` (cp out), and against a host-side server on loopback (the ceiling).
//   node bench/ports.mjs [--runs N] [--mib M]
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, request } from 'node:http';
import { Machine } from '../packages/core/dist/index.js';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const runs = arg('--runs', 100);
const mib = arg('--mib', 64);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const now = () => performance.now();
const fmt = (x) => x.toFixed(2);

/** GET http://127.0.0.1:port/path; resolves with the body's length and sha256 (bodies are not kept). */
function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const h = createHash('sha256');
      let n = 0;
      res.on('data', (d) => {
        n += d.length;
        h.update(d);
      });
      res.on('end', () => (res.statusCode === 200 ? resolve({ n, sha: h.digest('hex') }) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const blob = randomBytes(mib << 20);
const blobSha = createHash('sha256').update(blob).digest('hex');
const m = await Machine.boot({ memoryMiB: 512, ports: [{ hostPort: 0, guestPort: 8000 }] });
const host = createHttpServer((_req, res) => res.end(blob));
try {
  const port = m.ports[0].hostPort;
  await m.files.write('/www/blob', blob, { mkdirs: true });
  await m.files.write('/www/tiny', 'ok\n');
  const started = await m.exec(['httpd', '-p', '8000', '-h', '/www']);
  if (started.exitCode !== 0) throw new Error(`httpd: ${started.stderr}`);
  for (let i = 0; i < 10; i++) await get(port, '/tiny'); // warm-up

  const ping = [];
  const gets = [];
  for (let i = 0; i < runs; i++) {
    let t = now();
    await m.ping();
    ping.push(now() - t);
    t = now();
    await get(port, '/tiny');
    gets.push(now() - t);
  }

  await new Promise((r) => host.listen(0, '127.0.0.1', r));
  const hostPort = host.address().port;
  const timed = async (fn) => {
    const t = now();
    const r = await fn();
    return { ms: now() - t, ...r };
  };
  const viaPort = await timed(() => get(port, '/blob'));
  const viaCp = await timed(async () => {
    const h = createHash('sha256');
    let n = 0;
    for await (const d of await m.files.readStream('/www/blob')) {
      n += d.length;
      h.update(d);
    }
    return { n, sha: h.digest('hex') };
  });
  const viaHost = await timed(() => get(hostPort, '/'));
  for (const [what, r] of [['published port', viaPort], ['cp out', viaCp], ['host loopback', viaHost]]) {
    if (r.n !== blob.length || r.sha !== blobSha) throw new Error(`${what}: the ${mib} MiB file arrived damaged`);
  }
  const mbps = (r) => (r.n / 1e6) / (r.ms / 1000);

  console.log(`runs ${runs}, file ${mib} MiB`);
  console.log(`floor: PING round trip p50 ${fmt(pct(ping, 50))} ms, p99 ${fmt(pct(ping, 99))} ms`);
  console.log(`GET of a tiny file through the published port (new connection each): p50 ${fmt(pct(gets, 50))} ms (${fmt(pct(gets, 50) / pct(ping, 50))}x ping), p99 ${fmt(pct(gets, 99))} ms (${fmt(pct(gets, 99) / pct(ping, 99))}x)`);
  console.log(`download through the published port: ${fmt(mbps(viaPort))} MB/s`);
  console.log(`  vs cp out (files.readStream, same channel): ${fmt(mbps(viaCp))} MB/s -> ${fmt(mbps(viaPort) / mbps(viaCp))}x`);
  console.log(`  vs a host server on loopback (ceiling): ${fmt(mbps(viaHost))} MB/s -> ${fmt(mbps(viaPort) / mbps(viaHost))}x`);
} finally {
  host.close();
  await m.stop();
}
