// End-to-end: `smolvm machine run --image`, `machine create --image` and `smolvm image pull|ls|rm|prune`
// with the built binary, a real registry (Debian's docker-registry on 127.0.0.1, images pushed by skopeo)
// and real VMs. The test images come from packages/core/test/e2e/image-fixtures.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesMentioning } from '@smolvm/test-utils';
import { main } from '../../src/main.js';
import {
  EXPECTED_PROBE,
  PROBE,
  parseProbe,
  pushTestImages,
  startRegistry,
  writeDockerArchive,
  type TestRegistry,
} from '../../../../packages/core/test/e2e/image-fixtures.js';

const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const T = 120_000;
// A private TMPDIR (the VMs' run dirs land there) and private state and cache directories.
const privateTmp = mkdtempSync(join(tmpdir(), 'smolvm-e2e-cli-image-'));
const home = join(privateTmp, 'home');
const cache = join(privateTmp, 'cache');
const env: NodeJS.ProcessEnv = { ...process.env, SMOLVM_QUIET: '1', TMPDIR: privateTmp, SMOLVM_HOME: home, SMOLVM_CACHE_DIR: cache };

let work: string;
let reg: TestRegistry;
let images: { ref: string; multi: string; layout: string };

function smolvm(args: string[], opts: { input?: Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { env: opts.env ?? env, input: opts.input, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024, timeout: T });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const leftoverProcesses = (): number[] => processesMentioning(privateTmp);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'smolvm-cli-image-'));
  reg = await startRegistry(join(work, 'registry'));
  images = await pushTestImages(reg.host, work);
}, T);

afterAll(async () => {
  smolvm(['machine', 'rm', '-f', 'img-cli']);
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
  try {
    // No VM or run dir outlives its run; the per-user runtime base of persistent machines may stay, empty.
    expect(leftoverProcesses()).toEqual([]);
    for (const e of readdirSync(privateTmp).filter((n) => n !== 'home' && n !== 'cache')) expect(readdirSync(join(privateTmp, e))).toEqual([]);
  } finally {
    rmSync(privateTmp, { recursive: true, force: true });
  }
}, T);

describe('smolvm machine run --image', () => {
  it('boots a registry image: files, owners, whiteout, symlink, env, workdir and user', () => {
    // The image's Entrypoint is /bin/sh -c, so the command after -- is the shell line (as docker run does).
    const r = smolvm(['machine', 'run', '--image', images.ref, '--', PROBE]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(parseProbe(r.stdout)).toEqual(EXPECTED_PROBE);
  }, T);

  it("runs the image's Entrypoint + Cmd without a command; flags override the image config", () => {
    expect(smolvm(['machine', 'run', '--image', images.ref])).toMatchObject({ code: 0, stdout: 'hello from the image|/srv/app|1000:1000\n' });
    const o = smolvm(['machine', 'run', '--image', images.ref, '-u', '0', '-w', '/etc', '-e', 'GREETING=flag', '--', 'echo "$GREETING $(id -u) $(pwd)"']);
    expect(o).toMatchObject({ code: 0, stdout: 'flag 0 /etc\n' });
    expect(smolvm(['machine', 'run', '--image', images.ref, '--entrypoint', 'pwd'])).toMatchObject({ code: 0, stdout: '/srv/app\n' });
    expect(smolvm(['machine', 'run', '--image', images.ref, '--entrypoint', '', '--', 'cat', '/etc/greeting'])).toMatchObject({ code: 0, stdout: 'layer three\n' });
  }, T);

  it("boots a Smolfile's image with machine run -s", () => {
    const dir = mkdtempSync(join(work, 'smolfile-'));
    // A local image path in a Smolfile is relative to the Smolfile's directory.
    writeFileSync(join(dir, 'Smolfile'), `image = ${JSON.stringify(`oci:${relative(dir, images.layout)}`)}\nentrypoint = []\ncmd = ["cat", "/etc/greeting"]\n`);
    const r = smolvm(['machine', 'run', '-s', join(dir, 'Smolfile')]);
    expect(r.stderr).toBe('');
    expect(r).toMatchObject({ code: 0, stdout: 'layer three\n' });
  });

  it('boots a docker-archive from stdin and an OCI layout given as a relative path', async () => {
    const archive = readFileSync(await writeDockerArchive(images.layout, join(work, 'img.tar')));
    const s = smolvm(['machine', 'run', '--image', '-', '--', 'cat /etc/greeting'], { input: archive });
    expect(s).toMatchObject({ code: 0, stdout: 'layer three\n' });
    const rel = relative(work, images.layout);
    const l = smolvm(['machine', 'run', '--image', `./${rel}`, '--', 'stat -c %u:%g /home/app/owned.txt'], { cwd: work });
    expect(l).toMatchObject({ code: 0, stdout: '1000:1000\n' });
  }, T);

  it('refuses an image for another CPU, and a bad reference, before booting', () => {
    const r = smolvm(['machine', 'run', '--image', images.multi, '--platform', 'linux/arm64', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/built for linux\/arm64; this host runs amd64 guests/);
    const bad = smolvm(['machine', 'run', '--image', 'Not A Ref!', '--', 'true']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/smolvm: .*Not A Ref!/);
  }, T);
});

describe('smolvm image', () => {
  it('pull prints the image pinned to its digest, quietly when stderr is not a terminal; ls lists it', () => {
    const { SMOLVM_QUIET: _quiet, ...loud } = env;
    const p = smolvm(['image', 'pull', images.ref], { env: loud });
    expect(p.stderr).toBe('');
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(new RegExp(`^${images.ref.replace(/[.]/g, '\\.')}@sha256:[a-f0-9]{64}\\n$`));
    const ls = smolvm(['image', 'ls']);
    expect(ls.stdout.split('\n')[0]).toMatch(/^REFERENCE\s+DIGEST\s+PLATFORM\s+SIZE\s+PULLED\s+MACHINES$/);
    expect(ls.stdout).toContain(images.ref);
    const json = JSON.parse(smolvm(['image', 'ls', '--json']).stdout) as Array<{ reference: string; digest: string; config: { workingDir: string } }>;
    expect(json.find((i) => i.reference === images.ref)).toMatchObject({ digest: p.stdout.trim().split('@')[1], config: { workingDir: '/srv/app' } });
  }, T);

  it('draws per-layer progress bars on a terminal', async () => {
    const stdout = new PassThrough();
    const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 100 });
    let err = '';
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const { SMOLVM_QUIET: _quiet, ...loud } = env;
    const code = await main(['image', 'pull', images.multi], { stdout, stderr, env: { ...loud, SMOLVM_CACHE_DIR: join(work, 'fresh-cache') }, cwd: work });
    expect(code).toBe(0);
    const screen = err.replace(new RegExp(`${String.fromCharCode(27)}\\[\\d*[A-Z]`, 'g'), '');
    for (const n of [1, 2, 3]) expect(screen).toMatch(new RegExp(`layer ${n} [a-f0-9]{12}  \\[=+\\] [\\d.]+ MiB done`));
    expect(screen).not.toMatch(/layer 4/);
    expect(screen).toMatch(/root disk ready/);
  }, T);

  it('create records the digest; rm refuses an image in use; prune keeps it until the machine goes', () => {
    expect(smolvm(['machine', 'create', 'img-cli', '--image', images.ref, '--mem', '256', '--storage', '1']).code).toBe(0);
    const info = JSON.parse(smolvm(['machine', 'inspect', 'img-cli', '--json']).stdout) as { image: string };
    expect(info.image).toMatch(new RegExp(`^${images.ref.replace(/[.]/g, '\\.')}@sha256:[a-f0-9]{64}$`));
    const digest = info.image.split('@')[1]!;
    expect(smolvm(['machine', 'start', 'img-cli']).code).toBe(0);
    // exec never adds the Entrypoint; the image's Env, WorkingDir and User still apply.
    const e = smolvm(['machine', 'exec', 'img-cli', '--', 'sh', '-c', PROBE]);
    expect(parseProbe(e.stdout)).toEqual(EXPECTED_PROBE);
    expect(smolvm(['machine', 'stop', 'img-cli']).code).toBe(0);

    const ls = smolvm(['image', 'ls']);
    expect(ls.stdout.split('\n').find((l) => l.startsWith(images.ref))).toMatch(/\simg-cli$/);
    const rm = smolvm(['image', 'rm', images.ref]);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(/image .* is used by machine img-cli/);
    expect(smolvm(['image', 'prune', '--all']).code).toBe(0);
    expect(smolvm(['image', 'ls', '-q']).stdout).toContain(digest);

    expect(smolvm(['machine', 'rm', 'img-cli']).code).toBe(0);
    const pruned = smolvm(['image', 'prune', '--all', '--json']);
    const r = JSON.parse(pruned.stdout) as { removedImages: Array<{ digest: string }>; removedDisks: number };
    expect(r.removedImages.map((i) => i.digest)).toContain(digest);
    expect(r.removedDisks).toBeGreaterThan(0);
    expect(smolvm(['image', 'ls', '-q']).stdout).not.toContain(digest);
  }, T);
});
