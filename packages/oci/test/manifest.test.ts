// Parsers of untrusted documents and names: references, manifests, indexes, configs, auth challenges and
// credentials. Table tests for what they accept, property tests for what they must survive.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatReference,
  isOciError,
  isSmolvmError,
  parseChallenges,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  parseReference,
  resolveCredentials,
  resolveImageSource,
  selectPlatform,
  type ImageIndex,
} from '../src/index.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['library/alpine', 'docker.io/library/alpine:latest'],
    ['user/app:v1', 'docker.io/user/app:v1'],
    ['docker.io/alpine', 'docker.io/library/alpine:latest'],
    ['index.docker.io/library/alpine:1', 'docker.io/library/alpine:1'],
    ['ghcr.io/org/app@' + D, 'ghcr.io/org/app@' + D],
    ['ghcr.io/org/app:1.0@' + D, 'ghcr.io/org/app:1.0@' + D],
    ['localhost:5000/x:y', 'localhost:5000/x:y'],
    ['localhost/x', 'localhost/x:latest'],
    ['127.0.0.1:5000/a/b/c:t_1.2-3', '127.0.0.1:5000/a/b/c:t_1.2-3'],
    ['[::1]:5000/x', '[::1]:5000/x:latest'],
    ['registry.example.com:443/a__b/c-d--e/f.g:tag', 'registry.example.com:443/a__b/c-d--e/f.g:tag'],
  ])('%s', (input, want) => {
    expect(formatReference(parseReference(input))).toBe(want);
  });

  it.each(['', 'Alpine', 'alpine:', 'alpine:-x', 'alpine@sha256:abc', 'a//b', 'a/b/', '/a', 'alpine:' + 'x'.repeat(129), 'host:99999/x', 'a@md5:' + 'a'.repeat(32), 'ex ample/x'])('refuses %j', (input) => {
    expect(() => parseReference(input)).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_OCI_INVALID_REFERENCE' }));
  });

  it('never throws anything but coded errors', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          const r = parseReference(s);
          // Whatever parses must round-trip.
          expect(formatReference(parseReference(formatReference(r)))).toBe(formatReference(r));
        } catch (e) {
          if (!isOciError(e, 'SMOLVM_ERR_OCI_INVALID_REFERENCE')) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

const manifest = (extra: object = {}): Buffer =>
  Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 10 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: D, size: 20 }],
    ...extra,
  }));

describe('parseManifest', () => {
  it('reads OCI and Docker manifests and indexes', () => {
    expect(parseManifest(manifest())).toMatchObject({ kind: 'manifest', layers: [{ size: 20 }] });
    const docker = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: D, size: 1 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D, size: 2 }],
    }));
    expect(parseManifest(docker).kind).toBe('manifest');
    const list = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: D, size: 3, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } }],
    }));
    expect(parseManifest(list)).toMatchObject({ kind: 'index', manifests: [{ platform: { variant: 'v7' } }] });
  });

  it.each([
    ['not JSON', Buffer.from('{'), 'SMOLVM_ERR_OCI_MANIFEST_INVALID'],
    ['bad digest', manifest({ layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:xyz', size: 1 }] }), 'SMOLVM_ERR_OCI_MANIFEST_INVALID'],
    ['negative size', manifest({ layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: D, size: -1 }] }), 'SMOLVM_ERR_OCI_MANIFEST_INVALID'],
    ['artifact', manifest({ config: { mediaType: 'application/vnd.cncf.helm.config.v1+json', digest: D, size: 1 } }), 'SMOLVM_ERR_OCI_UNSUPPORTED'],
    ['foreign layer type', manifest({ layers: [{ mediaType: 'application/x-evil', digest: D, size: 1 }] }), 'SMOLVM_ERR_OCI_UNSUPPORTED'],
    ['schema 1', Buffer.from('{"schemaVersion":1}'), 'SMOLVM_ERR_OCI_UNSUPPORTED'],
  ])('refuses %s', (_name, bytes, code) => {
    expect(() => parseManifest(bytes)).toThrow(expect.objectContaining({ code }));
  });

  it('selects platforms, preferring an exact variant and skipping attestations', () => {
    const idx = (ps: Array<[string, string, string?]>): ImageIndex => ({
      kind: 'index',
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: ps.map(([os, architecture, variant], i) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: `sha256:${String(i).repeat(64)}`,
        size: 1,
        platform: variant ? { os, architecture, variant } : { os, architecture },
      })),
    });
    const index = idx([['unknown', 'unknown'], ['linux', 'arm64'], ['linux', 'arm', 'v6'], ['linux', 'arm', 'v7'], ['linux', 'amd64']]);
    expect(selectPlatform(index, parsePlatform('linux/amd64'))?.digest).toBe(`sha256:${'4'.repeat(64)}`);
    expect(selectPlatform(index, parsePlatform('linux/arm/v7'))?.digest).toBe(`sha256:${'3'.repeat(64)}`);
    expect(selectPlatform(index, parsePlatform('linux/arm64/v8'))?.digest).toBe(`sha256:${'1'.repeat(64)}`);
    expect(selectPlatform(index, parsePlatform('linux/s390x'))).toBeUndefined();
  });

  it('never throws anything but coded errors on arbitrary JSON', () => {
    const descriptor = fc.record({
      mediaType: fc.oneof(fc.constantFrom('application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.config.v1+json', 'application/vnd.oci.image.manifest.v1+json'), fc.string()),
      digest: fc.oneof(fc.constant(D), fc.string()),
      size: fc.oneof(fc.integer(), fc.double(), fc.string()),
      platform: fc.option(fc.record({ os: fc.oneof(fc.constant('linux'), fc.integer()), architecture: fc.string() }), { nil: undefined }),
      annotations: fc.option(fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer())), { nil: undefined }),
    }, { requiredKeys: [] });
    const doc = fc.record({
      schemaVersion: fc.oneof(fc.constant(2), fc.constant(1), fc.anything()),
      mediaType: fc.option(fc.constantFrom('application/vnd.oci.image.manifest.v1+json', 'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'x'), { nil: undefined }),
      config: fc.oneof(descriptor, fc.anything()),
      layers: fc.oneof(fc.array(descriptor, { maxLength: 4 }), fc.anything()),
      manifests: fc.oneof(fc.array(descriptor, { maxLength: 4 }), fc.anything()),
    }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(doc, fc.anything()), fc.string(), (d, ct) => {
        try {
          parseManifest(Buffer.from(JSON.stringify(d) ?? 'null'), ct);
        } catch (e) {
          if (!isSmolvmError(e)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseImageConfig', () => {
  it('exposes Env, Entrypoint, Cmd, WorkingDir and User', () => {
    const c = parseImageConfig(Buffer.from(JSON.stringify({
      architecture: 'arm64',
      variant: 'v8',
      os: 'linux',
      config: { Env: ['A=1'], Entrypoint: ['/init'], Cmd: null, WorkingDir: '/srv', User: 'app', Labels: { x: 'y' }, ExposedPorts: { '80/tcp': {} }, StopSignal: 'SIGINT' },
      rootfs: { type: 'layers', diff_ids: [D] },
    })));
    expect(c).toEqual({
      env: ['A=1'],
      entrypoint: ['/init'],
      cmd: null,
      workingDir: '/srv',
      user: 'app',
      labels: { x: 'y' },
      exposedPorts: ['80/tcp'],
      stopSignal: 'SIGINT',
      os: 'linux',
      architecture: 'arm64',
      variant: 'v8',
      diffIds: [D],
    });
  });

  it('never throws anything but coded errors', () => {
    const cfg = fc.record({
      config: fc.oneof(fc.record({ Env: fc.anything(), Entrypoint: fc.anything(), Cmd: fc.anything(), WorkingDir: fc.anything(), User: fc.anything(), Labels: fc.anything(), ExposedPorts: fc.anything() }, { requiredKeys: [] }), fc.anything()),
      rootfs: fc.oneof(fc.record({ diff_ids: fc.oneof(fc.array(fc.oneof(fc.constant(D), fc.string())), fc.anything()) }), fc.anything()),
      os: fc.anything(),
    }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(cfg, fc.anything()), (d) => {
        try {
          parseImageConfig(Buffer.from(JSON.stringify(d) ?? 'null'));
        } catch (e) {
          if (!isSmolvmError(e)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('auth inputs', () => {
  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
    ]);
    expect(parseChallenges('Basic realm="Registry Realm", Bearer realm="x\\"y"')).toEqual([
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'x"y' } },
    ]);
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      parseChallenges(s);
    }), { numRuns: 500 });
  });

  it('finds credentials in options, SMOLVM_REGISTRY_AUTH and the Docker config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'smolvm-oci-auth-'));
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') }, 'ghcr.io': { auth: Buffer.from('gh:tok').toString('base64') } } }));
      const env = { DOCKER_CONFIG: dir, SMOLVM_REGISTRY_AUTH: JSON.stringify({ 'ghcr.io': { username: 'env', password: 'wins' }, 'quay.io': { auth: Buffer.from('q:w').toString('base64') } }) };
      expect(resolveCredentials('docker.io', { env })).toEqual({ credentials: { username: 'hub', password: 'pw' }, source: join(dir, 'config.json') });
      expect(resolveCredentials('ghcr.io', { env })).toEqual({ credentials: { username: 'env', password: 'wins' }, source: 'SMOLVM_REGISTRY_AUTH' });
      expect(resolveCredentials('quay.io', { env })?.credentials).toEqual({ username: 'q', password: 'w' });
      expect(resolveCredentials('ghcr.io', { env, auth: { 'ghcr.io': 'opt:val' } })?.source).toBe('options');
      expect(resolveCredentials('nowhere.example', { env })).toBeUndefined();
      expect(() => resolveCredentials('ghcr.io', { env: { SMOLVM_REGISTRY_AUTH: JSON.stringify({ 'ghcr.io': 42 }) } })).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_OCI_AUTH_CONFIG' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resolveImageSource', () => {
  it('tells references, archives, layouts and root filesystems apart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smolvm-oci-src-'));
    try {
      writeFileSync(join(dir, 'img.tar'), '');
      expect(await resolveImageSource('alpine:3.20')).toEqual({ type: 'registry', reference: 'alpine:3.20' });
      expect(await resolveImageSource('docker://ghcr.io/a/b')).toEqual({ type: 'registry', reference: 'ghcr.io/a/b' });
      expect(await resolveImageSource(join(dir, 'img.tar'))).toEqual({ type: 'archive', path: join(dir, 'img.tar') });
      expect(await resolveImageSource('./img.tar', dir)).toEqual({ type: 'archive', path: join(dir, 'img.tar') });
      expect(await resolveImageSource(dir)).toEqual({ type: 'rootfs', path: dir });
      writeFileSync(join(dir, 'oci-layout'), '{}');
      expect(await resolveImageSource(dir)).toEqual({ type: 'oci-layout', path: dir });
      expect(await resolveImageSource(`oci-archive:${dir}/x.tar`)).toEqual({ type: 'archive', path: `${dir}/x.tar` });
      await expect(resolveImageSource(join(dir, 'missing'))).rejects.toMatchObject({ code: 'SMOLVM_ERR_OCI_NOT_FOUND' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
