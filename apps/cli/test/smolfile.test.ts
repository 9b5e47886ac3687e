// In-process CLI tests of the Smolfile wiring: `smolfile check` output and exit codes, and how `machine run` and
// `machine create` pick up, merge and report a Smolfile. Nothing boots: QEMU is pointed at a path that does not
// exist, so `machine run` stops right after the Smolfile has been applied.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

let root: string;
let n = 0;

/** A fresh working directory holding the given files. */
async function project(files: Record<string, string> = {}): Promise<string> {
  const dir = join(root, `p${++n}`);
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

async function cli(cwd: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const base: NodeJS.ProcessEnv = { ...process.env, SMOLVM_QEMU: '/nonexistent', SMOLVM_HOME: join(root, 'home') };
  delete base.SMOLVM_QUIET;
  const code = await main(argv, { stdout, stderr, env: { ...base, ...env }, cwd });
  return { code, stdout: out, stderr: err };
}

/** stderr without the line that says QEMU is missing (its wording depends on the host). */
const beforeBoot = (stderr: string): string => stderr.replace(/^smolvm: .*(was not found|does not run|is not an executable)[\s\S]*$/m, '<boot fails: no QEMU>');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smolvm-cli-smolfile-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const BAD = `image = "alpine:3.20"
cpus = 0
memroy = 512
env = ["A=1", "A=2"]
ports = ["80"]

[health]
exec = "true"
interval = "5s"
timeout = "10s"
`;

describe('smolvm smolfile check', () => {
  it('says ok for a clean ./Smolfile and exits 0', async () => {
    const cwd = await project({ Smolfile: 'cpus = 2\n' });
    expect(await cli(cwd, ['smolfile', 'check'])).toEqual({ code: 0, stdout: 'Smolfile: ok\n', stderr: '' });
  });

  it('prints every problem as file:line:col with hints and exits 1', async () => {
    const cwd = await project({ 'app/Smolfile': BAD });
    const r = await cli(cwd, ['smolfile', 'check', 'app/Smolfile']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatchInlineSnapshot(`
      "app/Smolfile:2:8: cpus: expected an integer number of CPUs from 1 to 64, got 0
      app/Smolfile:3:1: memroy: unknown key
          hint: did you mean "memory"?
      app/Smolfile:4:15: env[1]: A is set more than once in this list
          hint: keep one entry; to change a value for local runs, use [dev] env
      app/Smolfile:5:10: ports[0]: invalid port mapping "80"; expected "HOST:GUEST" or "ADDRESS:HOST:GUEST" with ports from 1 to 65535, e.g. "8080:80" or "0.0.0.0:8080:80"
          hint: write "80:80" to forward the same port
      app/Smolfile:10:11: health.timeout: 10s is longer than the interval (5s)
          hint: a check must end before the next one starts: set timeout to at most 5s
      app/Smolfile: 5 problems
      "
    `);
  });

  it('points at the line of a TOML syntax error', async () => {
    const cwd = await project({ Smolfile: 'cpus = 2\nenv = ["A=1"\n' });
    const r = await cli(cwd, ['smolfile', 'check']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatchInlineSnapshot(`
      "Smolfile:3:1: invalid TOML: expected comma or end of structure
      Smolfile: 1 problem
      "
    `);
  });

  it('gives the problems as JSON with --json', async () => {
    const cwd = await project({ Smolfile: 'cpus = "2"\n' });
    const r = await cli(cwd, ['smolfile', 'check', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      file: 'Smolfile',
      path: join(cwd, 'Smolfile'),
      ok: false,
      problems: [expect.objectContaining({ code: 'SMOLVM_ERR_SMOLFILE_TYPE', path: 'cpus', line: 1, column: 8 })],
    });
  });

  it('exits 1 when there is no Smolfile, saying where it looked', async () => {
    const cwd = await project();
    const r = await cli(cwd, ['smolfile', 'check']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.replace(cwd, '<cwd>')).toMatchInlineSnapshot(`
      "smolvm: no Smolfile at <cwd>/Smolfile
      hint: check the path, or create a Smolfile there (docs/smolfile.md shows one)
      "
    `);
  });

  it.each([
    [['smolfile', 'check', 'a', 'b'], /too many arguments/],
    [['smolfile', 'check', '--bogus'], /unknown option '--bogus'/],
    [['smolfile', 'lint'], /unknown command 'lint'/],
  ])('exits 2 for a usage error: %j', async (argv, message) => {
    const r = await cli(await project({ Smolfile: '' }), argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

const RUNNABLE = `cmd = ["echo", "hi"]
env = ["A=1"]
ports = ["8080:80"]
volumes = ["./data:/data"]
`;

describe('smolvm machine run with a Smolfile', () => {
  it('picks up ./Smolfile, says so on stderr in one line, and reports what it does not apply', async () => {
    const cwd = await project({ Smolfile: RUNNABLE });
    const r = await cli(cwd, ['machine', 'run']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(beforeBoot(r.stderr)).toMatchInlineSnapshot(`
      "smolvm: using ./Smolfile (-s PATH picks another, --no-smolfile ignores it)
      <boot fails: no QEMU>"
    `);
  });

  it('does not announce a Smolfile named with -s, and SMOLVM_QUIET silences only the pickup line', async () => {
    const cwd = await project({ Smolfile: RUNNABLE, 'other/Smolfile': 'cmd = ["true"]\n' });
    const named = await cli(cwd, ['machine', 'run', '-s', 'other/Smolfile']);
    expect(beforeBoot(named.stderr)).toBe('<boot fails: no QEMU>');
    const quiet = await cli(cwd, ['machine', 'run'], { SMOLVM_QUIET: '1' });
    expect(beforeBoot(quiet.stderr)).toBe('<boot fails: no QEMU>');
    expect(quiet.stderr).not.toMatch(/using \.\/Smolfile/);
  });

  it('ignores ./Smolfile with --no-smolfile', async () => {
    const cwd = await project({ Smolfile: RUNNABLE });
    const r = await cli(cwd, ['machine', 'run', '--no-smolfile']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatchInlineSnapshot(`
      "smolvm: missing the command to run
      hint: Put it after --, e.g.: smolvm machine run -- uname -a
      "
    `);
  });

  it('needs a command from the Smolfile or after --', async () => {
    const cwd = await project({ Smolfile: 'env = ["A=1"]\n' });
    const r = await cli(cwd, ['machine', 'run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatchInlineSnapshot(`
      "smolvm: using ./Smolfile (-s PATH picks another, --no-smolfile ignores it)
      smolvm: missing the command to run: Smolfile sets no cmd or entrypoint
      hint: Put it after --, e.g.: smolvm machine run -s Smolfile -- uname -a, or set cmd in the Smolfile.
      "
    `);
  });

  it('refuses an invalid Smolfile before booting, with file:line:col', async () => {
    const cwd = await project({ 'app/Smolfile': 'cpus = 0\n' });
    const r = await cli(cwd, ['machine', 'run', '-s', 'app/Smolfile', '--', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatchInlineSnapshot(`
      "smolvm: app/Smolfile is not valid (1 problem):
      app/Smolfile:1:8: cpus: expected an integer number of CPUs from 1 to 64, got 0
      hint: Fix each problem listed; the Smolfile reference (docs/smolfile.md) gives every key and its accepted values.
      "
    `);
  });

  it('reports a missing -s file with exit 1', async () => {
    const cwd = await project();
    const r = await cli(cwd, ['machine', 'run', '-s', 'nope', '--', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^smolvm: no Smolfile at .*nope\n/);
  });

  it('names the flag of a bad override, as a usage error', async () => {
    const cwd = await project({ Smolfile: RUNNABLE });
    const r = await cli(cwd, ['machine', 'run', '-s', 'Smolfile', '--mem', '10', '-e', 'NOEQUALS']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatchInlineSnapshot(`
      "smolvm: --mem: expected an integer number of MiB from 64 to 262144, got 10
        -e (entry 1): env entry has no "="; expected "NAME=value", where NAME is letters, digits and "_" and does not start with a digit
      "
    `);
  });

  it('refuses --dev without a Smolfile', async () => {
    const r = await cli(await project(), ['machine', 'run', '--dev', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dev applies a Smolfile's \[dev\] table, but there is no \.\/Smolfile/);
  });

  it('refuses to start when a secret cannot be read, naming it and not another secret\'s value', async () => {
    const cwd = await project({ Smolfile: 'cmd = ["env"]\n[secrets]\nT1 = { from_env = "HOST_T1" }\nT2 = { from_env = "HOST_T2" }\n' });
    const r = await cli(cwd, ['machine', 'run'], { HOST_T1: 'super-secret-value' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/secret T2: environment variable HOST_T2 is not set/);
    expect(r.stderr).not.toMatch(/super-secret-value/);
  });
});

describe('smolvm machine create with a Smolfile', () => {
  const inspect = async (cwd: string, name: string, home: string): Promise<Record<string, unknown>> => {
    const r = await cli(cwd, ['machine', 'ls', '--json'], { SMOLVM_HOME: home });
    return (JSON.parse(r.stdout) as Array<Record<string, unknown>>).find((m) => m.name === name) ?? {};
  };

  it('records the Smolfile\'s settings, flags first and [dev] with --dev, and reports what it does not apply', async () => {
    const home = join(root, 'home-create');
    const cwd = await project({
      Smolfile: [
        'cmd = ["server"]',
        'env = ["A=top", "B=top"]',
        'workdir = "/srv"',
        'cpus = 2',
        'memory = 256',
        'storage = 2',
        'init = ["echo top"]',
        'ports = ["8080:80"]',
        '[restart]',
        'policy = "on-failure"',
        'max_retries = 2',
        '[health]',
        'exec = ["true"]',
        '[dev]',
        'env = ["B=dev"]',
        'init = ["echo dev"]',
      ].join('\n'),
    });
    const r = await cli(cwd, ['machine', 'create', 'web', '--dev', '--cpus', '1', '-e', 'C=flag'], { SMOLVM_HOME: home });
    expect(r).toMatchObject({ code: 0, stdout: 'web\n' });
    expect(r.stderr).toMatchInlineSnapshot(`
      "smolvm: using ./Smolfile (-s PATH picks another, --no-smolfile ignores it)
      smolvm: Smolfile cmd is not applied yet: persistent machines do not run a workload yet (start runs init; run commands with machine exec)
      "
    `);
    expect(await inspect(cwd, 'web', home)).toMatchObject({
      image: null,
      cpus: 1,
      memoryMiB: 256,
      storageGiB: 2,
      env: ['A=top', 'B=dev', 'C=flag'],
      workdir: '/srv',
      init: ['echo top', 'echo dev'],
      restartPolicy: 'on-failure',
      restartMaxRetries: 2,
      health: { exec: ['true'], intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startupGraceMs: 0 },
      state: 'created',
    });
    expect((await cli(cwd, ['machine', 'rm', 'web'], { SMOLVM_HOME: home })).code).toBe(0);
  });

  it('refuses secrets for a persistent machine, naming the key and not the value, and creates nothing', async () => {
    const home = join(root, 'home-secrets');
    const cwd = await project({ Smolfile: '[secrets]\nGITHUB_TOKEN = { from_env = "GH_TOKEN" }\n' });
    const r = await cli(cwd, ['machine', 'create', 'api', '-s', 'Smolfile'], { SMOLVM_HOME: home, GH_TOKEN: 'ghp_not_to_be_seen' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatchInlineSnapshot(`
      "smolvm: persistent machines do not support secrets yet (secrets.GITHUB_TOKEN): their configuration is stored on disk, and secrets never are
      hint: use smolvm machine run -s for the workload (its one process gets the secrets as env), or remove [secrets] from this Smolfile for machine create
      "
    `);
    expect(r.stderr).not.toMatch(/ghp_not_to_be_seen/);
    expect(await inspect(cwd, 'api', home)).toEqual({});
  });
});
