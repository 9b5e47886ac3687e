import { describe, expect, it } from 'vitest';
import { checkSmolfile, parseSmolfile, type Smolfile } from '../src/index.js';

const FULL = `
image = "ghcr.io/acme/api:1.4"
entrypoint = ["/usr/local/bin/api"]
cmd = ["--listen", "0.0.0.0:8080"]
env = ["RUST_LOG=info", "EMPTY=", "EQUALS=a=b"]
workdir = "/srv/app/"
user = "1000:1000"
cpus = 2
memory = 2048
net = true
ports = ["8080:8080", "0.0.0.0:9090:90", "[::1]:7070:70"]
volumes = ["./data:/data", "/srv/static:/static:ro", "../shared:/shared:rw"]
init = ["apk add --no-cache curl", "mkdir -p /data/cache"]
storage = 20

[network]
allow_hosts = ["api.github.com", "*.NPMJS.org", "registry.example.com."]
allow_cidrs = ["10.0.0.0/8", "2001:DB8::/32", "192.0.2.7"]

[auth]
ssh_agent = true
ssh_keys = ["SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s", "deploy@ci"]

[health]
exec = ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
interval = "10s"
timeout = "3s"
retries = 5
startup_grace = "1m30s"

[restart]
policy = "on-failure"
max_retries = 5
max_backoff = "30s"

[dev]
volumes = ["./src:/srv/app/src"]
env = ["RUST_LOG=debug"]
init = ["cargo build"]
workdir = "/srv/app/src"
ports = ["5005:5005"]

[pack]
entrypoint = ["/usr/local/bin/api", "--packed"]
cmd = []
env = ["MODE=packed"]
workdir = "/srv"
user = "app"
init = ["true"]
cpus = 1
memory = 256
storage = 4

[secrets]
GITHUB_TOKEN = { from_env = "GH_TOKEN" }
DB_PASSWORD = { from_file = "/run/secrets/db" }
`;

describe('valid Smolfiles', () => {
  it('parses every key into its typed form', () => {
    const smolfile = parseSmolfile(FULL, { path: '/projects/api/Smolfile' });
    const expected: Smolfile = {
      image: 'ghcr.io/acme/api:1.4',
      entrypoint: ['/usr/local/bin/api'],
      cmd: ['--listen', '0.0.0.0:8080'],
      env: [
        { name: 'RUST_LOG', value: 'info' },
        { name: 'EMPTY', value: '' },
        { name: 'EQUALS', value: 'a=b' },
      ],
      workdir: '/srv/app',
      user: '1000:1000',
      cpus: 2,
      memoryMiB: 2048,
      net: true,
      ports: [
        { hostPort: 8080, guestPort: 8080 },
        { hostPort: 9090, guestPort: 90, hostAddress: '0.0.0.0' },
        { hostPort: 7070, guestPort: 70, hostAddress: '::1' },
      ],
      volumes: [
        { hostPath: '/projects/api/data', guestPath: '/data', readOnly: false },
        { hostPath: '/srv/static', guestPath: '/static', readOnly: true },
        { hostPath: '/projects/shared', guestPath: '/shared', readOnly: false },
      ],
      init: ['apk add --no-cache curl', 'mkdir -p /data/cache'],
      storageGiB: 20,
      network: {
        allowHosts: [
          { pattern: 'api.github.com', domain: 'api.github.com', wildcard: false },
          { pattern: '*.npmjs.org', domain: 'npmjs.org', wildcard: true },
          { pattern: 'registry.example.com', domain: 'registry.example.com', wildcard: false },
        ],
        allowCidrs: [
          { family: 4, address: '10.0.0.0', prefixLength: 8, cidr: '10.0.0.0/8' },
          { family: 6, address: '2001:db8::', prefixLength: 32, cidr: '2001:db8::/32' },
          { family: 4, address: '192.0.2.7', prefixLength: 32, cidr: '192.0.2.7/32' },
        ],
      },
      auth: { sshAgent: true, sshKeys: ['SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s', 'deploy@ci'] },
      health: {
        exec: ['curl', '-fsS', 'http://127.0.0.1:8080/healthz'],
        intervalMs: 10_000,
        timeoutMs: 3_000,
        retries: 5,
        startupGraceMs: 90_000,
      },
      restart: { policy: 'on-failure', maxRetries: 5, maxBackoffMs: 30_000 },
      dev: {
        volumes: [{ hostPath: '/projects/api/src', guestPath: '/srv/app/src', readOnly: false }],
        env: [{ name: 'RUST_LOG', value: 'debug' }],
        init: ['cargo build'],
        workdir: '/srv/app/src',
        ports: [{ hostPort: 5005, guestPort: 5005 }],
      },
      pack: {
        entrypoint: ['/usr/local/bin/api', '--packed'],
        cmd: [],
        env: [{ name: 'MODE', value: 'packed' }],
        workdir: '/srv',
        user: 'app',
        init: ['true'],
        cpus: 1,
        memoryMiB: 256,
        storageGiB: 4,
      },
      secrets: {
        GITHUB_TOKEN: { from: 'env', variable: 'GH_TOKEN' },
        DB_PASSWORD: { from: 'file', path: '/run/secrets/db' },
      },
    };
    expect(smolfile).toEqual(expected);
  });

  it('accepts an empty file', () => {
    expect(checkSmolfile('')).toMatchObject({ ok: true, problems: [] });
    expect(checkSmolfile('# only a comment\n\n').ok).toBe(true);
  });

  it('fills table defaults', () => {
    const smolfile = parseSmolfile('[health]\nexec = "pg_isready"\n[restart]\n[network]\n[auth]\n');
    expect(smolfile.health).toEqual({ exec: ['/bin/sh', '-c', 'pg_isready'], intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startupGraceMs: 0 });
    expect(smolfile.restart).toEqual({ policy: 'never', maxBackoffMs: 60_000 });
    expect(smolfile.network).toEqual({ allowHosts: [], allowCidrs: [] });
    expect(smolfile.auth).toEqual({ sshAgent: false, sshKeys: [] });
  });

  it.each([
    ['dotted keys', 'health.exec = "true"\nhealth.interval = "5s"\nnetwork.allow_hosts = ["a.example"]'],
    ['inline tables', 'health = { exec = "true", interval = "5s" }\nnetwork = { allow_hosts = ["a.example"] }'],
    ['literal strings', "health.exec = 'true'\nhealth.interval = '5s'\nnetwork.allow_hosts = ['a.example']"],
    ['multi-line arrays with comments', 'network.allow_hosts = [\n  # the only one\n  "a.example", # trailing comment\n]\nhealth.exec = """true"""\nhealth.interval = "5s"'],
    ['CRLF line ends', '[health]\r\nexec = "true"\r\ninterval = "5s"\r\n[network]\r\nallow_hosts = ["a.example"]\r\n'],
    ['a byte order mark', '\uFEFF[health]\nexec = "true"\ninterval = "5s"\n[network]\nallow_hosts = ["a.example"]\n'],
  ])('reads %s the same way', (_name, text) => {
    const smolfile = parseSmolfile(text);
    expect(smolfile.health).toMatchObject({ exec: ['/bin/sh', '-c', 'true'], intervalMs: 5000 });
    expect(smolfile.network?.allowHosts.map((host) => host.pattern)).toEqual(['a.example']);
  });

  it('resolves relative volume paths against baseDir, then the file\'s directory, then the current directory', () => {
    const text = 'volumes = ["data:/data"]';
    expect(parseSmolfile(text, { path: '/a/Smolfile', baseDir: '/b' }).volumes?.[0]?.hostPath).toBe('/b/data');
    expect(parseSmolfile(text, { path: '/a/Smolfile' }).volumes?.[0]?.hostPath).toBe('/a/data');
    expect(parseSmolfile(text).volumes?.[0]?.hostPath).toBe(`${process.cwd()}/data`);
  });

  it('keeps env values as the strings written, including TOML escapes', () => {
    const smolfile = parseSmolfile('env = ["MULTI=a\\nb", "QUOTE=\\"x\\"", \'RAW=C:\\\\path\']');
    expect(smolfile.env).toEqual([
      { name: 'MULTI', value: 'a\nb' },
      { name: 'QUOTE', value: '"x"' },
      { name: 'RAW', value: 'C:\\\\path' },
    ]);
  });

  it('accepts the bounds themselves', () => {
    const low = parseSmolfile('cpus = 1\nmemory = 64\nstorage = 1');
    expect([low.cpus, low.memoryMiB, low.storageGiB]).toEqual([1, 64, 1]);
    const high = parseSmolfile('cpus = 64\nmemory = 262144\nstorage = 2048\nports = ["65535:1"]');
    expect([high.cpus, high.memoryMiB, high.storageGiB, high.ports?.[0]?.hostPort]).toEqual([64, 262_144, 2048, 65_535]);
  });

  it('accepts a timeout equal to the interval, and allow-lists with net unset', () => {
    expect(checkSmolfile('[health]\nexec = "true"\ninterval = "5s"\ntimeout = "5s"').ok).toBe(true);
    expect(checkSmolfile('[network]\nallow_hosts = ["a.example"]').ok).toBe(true);
    expect(checkSmolfile('net = false\n[network]\nallow_hosts = []').ok).toBe(true);
  });

  it('accepts image references of every form', () => {
    for (const image of [
      'alpine',
      'alpine:3.20',
      'library/alpine:latest',
      'ghcr.io/org/team/app:v1.2.3-rc.1',
      'localhost:5000/app',
      'localhost/app',
      '[::1]:5000/app:1',
      `alpine@sha256:${'a'.repeat(64)}`,
      `registry.example.com:443/a__b/c-d.e:tag_1@sha256:${'0'.repeat(64)}`,
    ]) {
      expect(checkSmolfile(`image = ${JSON.stringify(image)}`).ok, image).toBe(true);
    }
  });
});
