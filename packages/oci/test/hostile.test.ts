// Registries that misbehave: every case ends in a coded error within a bounded time, with nothing bad
// in the cache; auth challenges, token services and credentials work as registries expect.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gunzipSync, gzipSync } from 'node:zlib';
import { digestOf, isOciError, pullImage, RegistryClient, parseReference, type PullOptions } from '../src/index.js';
import { fakeImage, notFound, serveImage, startFake, type FakeServer } from './helpers/fake-registry.js';
import { tarArchive } from './helpers/tar-writer.js';

let work: string;
let n = 0;
const servers: FakeServer[] = [];
const img = fakeImage();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'smolvm-oci-hostile-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function fake(handler: Parameters<typeof startFake>[0]): Promise<FakeServer> {
  const s = await startFake(handler);
  servers.push(s);
  return s;
}

const fast: PullOptions = { timeoutMs: 2000, retries: 2, retryBudgetMs: 5000, env: {} };
const opts = (extra: PullOptions = {}): PullOptions => ({ ...fast, cacheDir: join(work, `cache${n++}`), ...extra });
const pullErr = (ref: string, extra?: PullOptions): Promise<unknown> => pullImage(ref, opts(extra)).then(() => undefined, (e: unknown) => e);

describe('hostile manifests', () => {
  it('refuses malformed manifests', async () => {
    for (const body of ['{"schemaVersion":2,"layers":"nope"', '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}', '[]', '\u00ff\u00fe']) {
      const s = await fake((req, res, path) => {
        if (path.includes('/manifests/')) res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(body);
        else if (!serveImage(img, req, res, path)) notFound(res);
      });
      expect(await pullErr(`${s.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_MANIFEST_INVALID' });
    }
  });

  it('refuses schema 1 manifests as unsupported', async () => {
    const s = await fake((_req, res) => res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end('{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}'));
    expect(await pullErr(`${s.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_UNSUPPORTED' });
  });

  it('caps manifest size, with and without Content-Length', async () => {
    const huge = Buffer.alloc(5 << 20, 0x20);
    for (const chunked of [false, true]) {
      const s = await fake((_req, res) => {
        res.writeHead(200, chunked ? { 'content-type': 'application/json' } : { 'content-length': huge.length });
        res.end(huge);
      });
      expect(await pullErr(`${s.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_TOO_LARGE', registry: s.host });
    }
  });

  it('checks the manifest digest when pinned and against Docker-Content-Digest', async () => {
    const other = fakeImage('other content');
    const s = await fake((req, res, path) => {
      if (path.includes('/manifests/')) {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': img.manifestDigest }).end(other.manifest);
      } else if (!serveImage(img, req, res, path)) notFound(res);
    });
    expect(await pullErr(`${s.host}/test/app@${img.manifestDigest}`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_DIGEST_MISMATCH' });
    expect(await pullErr(`${s.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_DIGEST_MISMATCH' });
  });
});

describe('hostile blobs', () => {
  it('never caches a tampered blob', async () => {
    const bad = Buffer.from(img.layer);
    bad[20] = (bad[20] as number) ^ 1;
    const s = await fake((req, res, path) => {
      if (path.endsWith(img.layerDigest)) res.writeHead(200, { 'content-length': bad.length }).end(bad);
      else if (!serveImage(img, req, res, path)) notFound(res);
    });
    const o = opts();
    const err = await pullImage(`${s.host}/test/app:1`, o).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_OCI_DIGEST_MISMATCH', digest: img.layerDigest });
    expect(existsSync(join(o.cacheDir as string, 'blobs/sha256', img.layerDigest.slice(7)))).toBe(false);
    expect(existsSync(join(o.cacheDir as string, 'partial', `sha256-${img.layerDigest.slice(7)}`))).toBe(false);
  });

  it('refuses a blob longer than its descriptor', async () => {
    const s = await fake((req, res, path) => {
      if (path.endsWith(img.layerDigest)) res.writeHead(200).end(Buffer.concat([img.layer, Buffer.alloc(100)]));
      else if (!serveImage(img, req, res, path)) notFound(res);
    });
    expect(await pullErr(`${s.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_SIZE_MISMATCH' });
  });

  it('refuses a config larger than the cap before downloading it', async () => {
    const doc = JSON.parse(img.manifest.toString()) as { config: { size: number } };
    doc.config.size = 5 << 20;
    const manifest = Buffer.from(JSON.stringify(doc));
    const s = await fake((req, res, path) => {
      if (path.includes('/manifests/')) res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest);
      else if (!serveImage(img, req, res, path)) notFound(res);
    });
    expect(await pullErr(`${s.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_TOO_LARGE' });
    expect(s.requests.some((r) => r.path.includes('/blobs/'))).toBe(false);
  });

  it('downloads layers in parallel, within the bound', async () => {
    const layers = Array.from({ length: 6 }, (_, i) => gzipSync(tarArchive([{ name: `f${i}`, data: `layer ${i}` }])));
    const tars = layers.map((l) => gunzipSync(l));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map((t) => digestOf(t)) } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(l), size: l.length })),
    }));
    const blobs = new Map([[digestOf(config), config], ...layers.map((l) => [digestOf(l), l] as const)]);
    let inFlight = 0;
    let most = 0;
    const s = await fake(async (_req, res, path) => {
      if (path.includes('/manifests/')) {
        res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest);
        return;
      }
      const blob = blobs.get(path.split('/').pop() as string);
      if (!blob) return notFound(res);
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 150));
      inFlight--;
      res.writeHead(200, { 'content-length': blob.length }).end(blob);
    });
    const rec = await pullImage(`${s.host}/test/app:1`, opts({ concurrency: 2 }));
    expect(rec.layers).toHaveLength(6);
    expect(most).toBe(2);
  });

  it('keeps a truncated download and resumes it with Range', async () => {
    const half = Math.floor(img.layer.length / 2);
    const cut = await fake((req, res, path) => {
      if (path.endsWith(img.layerDigest)) {
        res.writeHead(200, { 'content-length': img.layer.length });
        // Let the client take in the first half before the connection drops.
        res.write(img.layer.subarray(0, half), () => setTimeout(() => res.destroy(), 100));
      } else if (!serveImage(img, req, res, path)) notFound(res);
    });
    const o = opts();
    const t0 = Date.now();
    const err = await pullImage(`${cut.host}/test/app:1`, o).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_SIZE_MISMATCH')).toBe(true);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const partial = join(o.cacheDir as string, 'partial', `sha256-${img.layerDigest.slice(7)}`);
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(half);
    // The registry comes back: only the missing part is fetched.
    const good = await fake((req, res, path) => {
      if (!serveImage(img, req, res, path)) notFound(res);
    });
    await pullImage(`${good.host}/test/app:1`, { ...o });
    const blobReqs = good.requests.filter((r) => r.path.endsWith(img.layerDigest));
    expect(blobReqs.map((r) => r.headers.range)).toEqual([`bytes=${kept}-`]);
    expect(existsSync(partial)).toBe(false);
  });

  it('gives up on a registry that never answers, within the timeout', async () => {
    const s = await fake(() => {
      /* accept the request, never answer */
    });
    const t0 = Date.now();
    const err = await pullErr(`${s.host}/test/app:1`, { timeoutMs: 300, retries: 1 });
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_OCI_TIMEOUT', registry: s.host });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('gives up on a blob that stalls half-way, within the timeout', async () => {
    const s = await fake((req, res, path) => {
      if (path.endsWith(img.layerDigest)) {
        res.writeHead(200, { 'content-length': img.layer.length });
        res.write(img.layer.subarray(0, 10));
      } else if (!serveImage(img, req, res, path)) notFound(res);
    });
    const t0 = Date.now();
    expect(await pullErr(`${s.host}/test/app:1`, { timeoutMs: 300, retries: 1 })).toMatchObject({ code: 'SMOLVM_ERR_OCI_TIMEOUT' });
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('statuses and retries', () => {
  it('retries 503 and 429 and then succeeds', async () => {
    let fails = 2;
    const s = await fake((req, res, path) => {
      if (path.includes('/manifests/') && fails-- > 0) {
        res.writeHead(fails === 1 ? 503 : 429, { 'retry-after': '0' }).end();
        return;
      }
      if (!serveImage(img, req, res, path)) notFound(res);
    });
    const rec = await pullImage(`${s.host}/test/app:1`, opts());
    expect(rec.digest).toBe(img.manifestDigest);
    expect(s.requests.filter((r) => r.path.includes('/manifests/'))).toHaveLength(3);
  });

  it('stops retrying a failing registry after a bounded number of tries', async () => {
    const s = await fake((_req, res) => res.writeHead(500).end());
    const err = await pullErr(`${s.host}/test/app:1`, { retries: 2 });
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_OCI_REGISTRY', status: 500 });
    expect(s.requests).toHaveLength(3);
    const limited = await fake((_req, res) => res.writeHead(429, { 'retry-after': '0' }).end());
    expect(await pullErr(`${limited.host}/test/app:1`, { retries: 1 })).toMatchObject({ code: 'SMOLVM_ERR_OCI_RATE_LIMITED' });
  });

  it('maps 401, 403 and 404 to coded errors that name the image and the registry', async () => {
    for (const [status, code] of [[401, 'SMOLVM_ERR_OCI_UNAUTHORIZED'], [403, 'SMOLVM_ERR_OCI_FORBIDDEN'], [404, 'SMOLVM_ERR_OCI_NOT_FOUND']] as const) {
      const s = await fake((_req, res) => (status === 404 ? notFound(res) : res.writeHead(status).end()));
      const err = await pullErr(`${s.host}/test/app:1`);
      expect(err).toMatchObject({ code, registry: s.host, image: `${s.host}/test/app:1` });
      expect((err as Error).message).toContain(s.host);
      expect((err as { hint?: string }).hint).toBeTruthy();
    }
  });
});

describe('auth', () => {
  async function tokenRegistry(user: string, pass: string): Promise<FakeServer & { tokenRequests: () => number }> {
    let tokens = 0;
    const s: FakeServer = await fake((req, res, path) => {
      if (path.startsWith('/token')) {
        tokens++;
        const url = new URL(path, 'http://x');
        const basic = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
        if (req.headers.authorization !== basic || url.searchParams.get('scope') !== 'repository:test/app:pull' || url.searchParams.get('service') !== 'fake') {
          res.writeHead(401).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'good-token', expires_in: 300 }));
        return;
      }
      if (req.headers.authorization !== 'Bearer good-token') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${s.url}/token",service="fake",scope="repository:test/app:pull"` }).end();
        return;
      }
      if (!serveImage(img, req, res, path)) notFound(res);
    });
    return Object.assign(s, { tokenRequests: () => tokens });
  }

  it('gets a bearer token with credentials from SMOLVM_REGISTRY_AUTH', async () => {
    const s = await tokenRegistry('alice', 's3cret');
    const rec = await pullImage(`${s.host}/test/app:1`, opts({ env: { SMOLVM_REGISTRY_AUTH: JSON.stringify({ [s.host]: 'alice:s3cret' }) } }));
    expect(rec.digest).toBe(img.manifestDigest);
    // One token serves the manifest and both blobs.
    expect(s.tokenRequests()).toBe(1);
  });

  it('gets a bearer token with credentials from the Docker config', async () => {
    const s = await tokenRegistry('bob', 'hunter2');
    const dir = join(work, `docker${n++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [`http://${s.host}`]: { auth: Buffer.from('bob:hunter2').toString('base64') } } }));
    const rec = await pullImage(`${s.host}/test/app:1`, opts({ env: { DOCKER_CONFIG: dir } }));
    expect(rec.digest).toBe(img.manifestDigest);
  });

  it('says where refused credentials came from, and what to do without any', async () => {
    const s = await tokenRegistry('alice', 's3cret');
    const wrong = await pullErr(`${s.host}/test/app:1`, { env: { SMOLVM_REGISTRY_AUTH: JSON.stringify({ [s.host]: { username: 'alice', password: 'nope' } }) } });
    expect(wrong).toMatchObject({ code: 'SMOLVM_ERR_OCI_UNAUTHORIZED', registry: s.host });
    expect((wrong as Error).message).toContain('SMOLVM_REGISTRY_AUTH');
    const anonymous = await pullErr(`${s.host}/test/app:1`);
    expect(anonymous).toMatchObject({ code: 'SMOLVM_ERR_OCI_UNAUTHORIZED' });
    expect((anonymous as { hint: string }).hint).toContain('SMOLVM_REGISTRY_AUTH');
    const broken = await pullErr(`${s.host}/test/app:1`, { env: { SMOLVM_REGISTRY_AUTH: '{not json' } });
    expect(broken).toMatchObject({ code: 'SMOLVM_ERR_OCI_AUTH_CONFIG' });
  });

  it('does not send credentials along a redirect to another origin', async () => {
    const cdn = await fake((req, res, path) => {
      const blob = img.blobs.get(path.slice(1));
      if (blob) res.writeHead(200, { 'content-length': blob.length }).end(blob);
      else notFound(res);
    });
    const s = await fake((req, res, path) => {
      if (req.headers.authorization !== 'Basic ' + Buffer.from('u:p').toString('base64')) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
        return;
      }
      const m = /\/blobs\/(sha256:[a-f0-9]+)$/.exec(path);
      if (m) res.writeHead(307, { location: `${cdn.url}/${m[1]}` }).end();
      else if (!serveImage(img, req, res, path)) notFound(res);
    });
    const rec = await pullImage(`${s.host}/test/app:1`, opts({ auth: { [s.host]: { username: 'u', password: 'p' } } }));
    expect(rec.digest).toBe(img.manifestDigest);
    expect(cdn.requests.length).toBe(2);
    expect(cdn.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
  });

  it('refuses plain http outside loopback: redirects and token realms', async () => {
    const redirect = await fake((req, res, path) => {
      if (path.includes('/blobs/')) res.writeHead(302, { location: 'http://blobs.example.invalid/x' }).end();
      else if (!serveImage(img, req, res, path)) notFound(res);
    });
    expect(await pullErr(`${redirect.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_INSECURE' });
    const realm = await fake((_req, res) => res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://auth.example.invalid/token",service="x"' }).end());
    expect(await pullErr(`${realm.host}/test/app:1`)).toMatchObject({ code: 'SMOLVM_ERR_OCI_INSECURE' });
    const client = new RegistryClient();
    expect(client.baseUrl('ghcr.io')).toBe('https://ghcr.io');
    expect(client.baseUrl('docker.io')).toBe('https://registry-1.docker.io');
    expect(client.baseUrl('localhost:5000')).toBe('http://localhost:5000');
    expect(client.baseUrl('[::1]:5000')).toBe('http://[::1]:5000');
    expect(new RegistryClient({ insecure: true }).baseUrl('registry.lan:5000')).toBe('http://registry.lan:5000');
    await client.close();
    expect(parseReference('localhost:5000/x:y')).toMatchObject({ registry: 'localhost:5000', repository: 'x', tag: 'y' });
  });
});

describe('cache hygiene', () => {
  it('leaves no temporary files after failures', async () => {
    const s = await fake((_req, res) => res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('{"schemaVersion":2}'));
    const o = opts();
    await pullImage(`${s.host}/test/app:1`, o).catch(() => undefined);
    expect(readdirSync(join(o.cacheDir as string, 'tmp'))).toEqual([]);
  });
});
