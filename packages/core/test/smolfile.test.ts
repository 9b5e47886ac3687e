// The Smolfile glue of @smolvm/core: finding and loading a Smolfile, the merge with overrides, and the mapping onto
// Machine's options, including what is refused or reported as not applied. Unit and temp-dir tests: no VM.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkSmolfileFile,
  findSmolfile,
  formatSmolfileProblem,
  loadMachineConfig,
  notAppliedSettings,
  smolfileCreateOptions,
  smolfileRunOptions,
  type SmolfileMachineConfig,
} from '../src/smolfile.js';

let root: string;
let n = 0;

/** A fresh directory holding the given files. */
async function dir(files: Record<string, string> = {}): Promise<string> {
  const d = join(root, `case-${++n}`);
  await mkdir(d, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(d, name, '..'), { recursive: true });
    await writeFile(join(d, name), text);
  }
  return d;
}

async function configOf(text: string, options: Parameters<typeof loadMachineConfig>[1] = {}): Promise<SmolfileMachineConfig> {
  const cwd = await dir({ Smolfile: text });
  return (await loadMachineConfig(undefined, { cwd, ...options })).config;
}

/** Captures an error thrown by `fn`. */
async function caught(fn: () => unknown): Promise<Error & { code?: string; hint?: string; settings?: string[]; problems?: unknown[] }> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smolvm-core-smolfile-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('findSmolfile', () => {
  it('finds ./Smolfile when it is a regular file, and nothing otherwise', async () => {
    const withFile = await dir({ Smolfile: 'cpus = 1\n' });
    expect(await findSmolfile(withFile)).toBe(join(withFile, 'Smolfile'));
    expect(await findSmolfile(await dir())).toBeUndefined();
    const withDirectory = await dir({ 'Smolfile/readme': 'not a Smolfile' });
    expect(await findSmolfile(withDirectory)).toBeUndefined();
  });
});

describe('loadMachineConfig', () => {
  it('uses ./Smolfile when no path is given, and says it was discovered', async () => {
    const cwd = await dir({ Smolfile: 'cpus = 3\n' });
    const loaded = await loadMachineConfig(undefined, { cwd });
    expect(loaded.smolfile).toEqual({ path: join(cwd, 'Smolfile'), displayPath: 'Smolfile', discovered: true });
    expect(loaded.config.cpus).toBe(3);
  });

  it('without a Smolfile (or with discover: false), gives the overrides over the defaults', async () => {
    const cwd = await dir({ Smolfile: 'cpus = 3\n' });
    const loaded = await loadMachineConfig(undefined, { cwd, discover: false, overrides: { memoryMiB: 256 } });
    expect(loaded.smolfile).toBeUndefined();
    expect(loaded.config).toMatchObject({ cpus: 1, memoryMiB: 256, storageGiB: 10, env: {}, init: [], ports: [], volumes: [] });
    expect((await loadMachineConfig(undefined, { cwd: await dir() })).smolfile).toBeUndefined();
  });

  it('takes a named path relative to cwd, and resolves relative volumes against the Smolfile\'s directory', async () => {
    const cwd = await dir({ 'app/Smolfile': 'volumes = ["./data:/data", "/srv:/srv:ro"]\n[dev]\nvolumes = ["../src:/src"]\n' });
    const loaded = await loadMachineConfig('app/Smolfile', { cwd, dev: true, overrides: { volumes: ['./cache:/cache'] } });
    expect(loaded.smolfile).toEqual({ path: join(cwd, 'app', 'Smolfile'), displayPath: 'app/Smolfile', discovered: false });
    expect(loaded.config.volumes).toEqual([
      { hostPath: join(cwd, 'app', 'data'), guestPath: '/data', readOnly: false },
      { hostPath: '/srv', guestPath: '/srv', readOnly: true },
      { hostPath: join(cwd, 'src'), guestPath: '/src', readOnly: false },
      // An override's relative path starts from cwd, not from the Smolfile.
      { hostPath: join(cwd, 'cache'), guestPath: '/cache', readOnly: false },
    ]);
  });

  const layered = [
    'workdir = "/top"',
    'env = ["A=top", "B=top"]',
    'init = ["echo top"]',
    'cmd = ["top"]',
    'cpus = 2',
    '[dev]',
    'workdir = "/dev"',
    'env = ["B=dev", "C=dev"]',
    'init = ["echo dev"]',
  ].join('\n');

  it.each([
    ['top level only', {}, false, { workdir: '/top', env: { A: 'top', B: 'top' }, init: ['echo top'], cmd: ['top'], cpus: 2 }],
    ['[dev] over the top level', {}, true, { workdir: '/dev', env: { A: 'top', B: 'dev', C: 'dev' }, init: ['echo top', 'echo dev'], cmd: ['top'], cpus: 2 }],
    [
      'overrides over [dev]',
      { workdir: '/flag', env: ['C=flag'], init: ['echo flag'], cmd: ['flag'], cpus: 4 },
      true,
      { workdir: '/flag', env: { A: 'top', B: 'dev', C: 'flag' }, init: ['echo top', 'echo dev', 'echo flag'], cmd: ['flag'], cpus: 4 },
    ],
  ] as const)('merges %s', async (_name, overrides, dev, expected) => {
    expect(await configOf(layered, { overrides, dev })).toMatchObject(expected);
  });

  it('reports every problem of an invalid file as path:line:col, with the path as given', async () => {
    const cwd = await dir({ 'app/Smolfile': 'cpus = 0\nmemroy = 512\n' });
    const error = await caught(() => loadMachineConfig('app/Smolfile', { cwd }));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_INVALID');
    expect(error.problems).toHaveLength(2);
    expect(error.message).toMatchInlineSnapshot(`
      "app/Smolfile is not valid (2 problems):
      app/Smolfile:1:8: cpus: expected an integer number of CPUs from 1 to 64, got 0
      app/Smolfile:2:1: memroy: unknown key
          hint: did you mean "memory"?"
    `);
  });

  it('says when a named Smolfile does not exist', async () => {
    const error = await caught(async () => loadMachineConfig('nope/Smolfile', { cwd: await dir() }));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_NOT_FOUND');
  });

  it('refuses bad overrides, naming each', async () => {
    const error = await caught(() => configOf('cpus = 1\n', { overrides: { cpus: 0, env: ['NOEQUALS'] } }));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_OVERRIDE_INVALID');
    expect(error.message).toMatch(/cpus: expected an integer from 1 to 64, got 0/);
    expect(error.message).toMatch(/env\[0\]: env entry has no "="/);
  });
});

describe('checkSmolfileFile', () => {
  it('returns ok, or every problem without throwing; throws only when the file cannot be read', async () => {
    const cwd = await dir({ good: 'cpus = 2\n', bad: 'cpus = "two"\n' });
    expect(await checkSmolfileFile('good', { cwd })).toEqual({ path: join(cwd, 'good'), displayPath: 'good', ok: true, problems: [] });
    const bad = await checkSmolfileFile('bad', { cwd });
    expect(bad.ok).toBe(false);
    expect(bad.problems.map((p) => formatSmolfileProblem(p, bad.displayPath))).toEqual([
      'bad:1:8: cpus: expected an integer number of CPUs from 1 to 64, got a string\n    hint: cpus is a whole number without quotes, e.g. cpus = 2',
    ]);
    expect((await caught(() => checkSmolfileFile(undefined, { cwd }))).code).toBe('SMOLVM_ERR_SMOLFILE_NOT_FOUND');
  });
});

const FULL = `
image = "alpine:3.20"
entrypoint = ["/bin/app"]
cmd = ["--port", "80"]
env = ["A=1"]
workdir = "/srv"
user = "1000:1000"
cpus = 2
memory = 1024
storage = 20
ports = ["8080:80"]
volumes = ["/data:/data"]
init = ["mkdir -p /srv/cache"]
[network]
allow_hosts = ["example.com"]
[auth]
ssh_agent = true
[health]
exec = ["true"]
interval = "10s"
[restart]
policy = "on-failure"
max_retries = 5
max_backoff = "30s"
`;

describe('smolfileCreateOptions', () => {
  it('stores what a persistent machine record can hold, and says what it does not apply', async () => {
    const notices: string[] = [];
    const options = smolfileCreateOptions(await configOf(FULL), { onNotice: (m) => notices.push(m) });
    expect(options).toEqual({
      image: 'alpine:3.20',
      cpus: 2,
      memoryMiB: 1024,
      storageGiB: 20,
      env: ['A=1'],
      workdir: '/srv',
      init: ['mkdir -p /srv/cache'],
      restartPolicy: 'on-failure',
      restartMaxRetries: 5,
      restartMaxBackoffMs: 30_000,
      health: { exec: ['true'], intervalMs: 10_000, timeoutMs: 5_000, retries: 3, startupGraceMs: 0 },
      ports: [{ hostPort: 8080, guestPort: 80 }],
      volumes: [{ hostPath: '/data', guestPath: '/data', readOnly: false }],
    });
    expect(notices).toMatchInlineSnapshot(`
      [
        "smolvm: Smolfile [network] allow-lists (1 entry) are not applied yet: machines have no network, so the listed destinations cannot be reached",
        "smolvm: Smolfile auth.ssh_agent is not applied yet: the host's SSH agent is not forwarded into the machine",
        "smolvm: Smolfile entrypoint and cmd are not applied yet: persistent machines do not run a workload yet (start runs init; run commands with machine exec)",
        "smolvm: Smolfile user is not applied yet: persistent machines do not store a user; give it to each exec (-u)",
      ]
    `);
  });

  it('maps a minimal Smolfile onto the defaults, with nothing to report', async () => {
    const notices: string[] = [];
    expect(smolfileCreateOptions(await configOf(''), { onNotice: (m) => notices.push(m) })).toEqual({
      cpus: 1,
      memoryMiB: 512,
      storageGiB: 10,
      env: [],
      workdir: null,
      init: [],
      restartPolicy: 'never',
      restartMaxRetries: null,
      restartMaxBackoffMs: 60_000,
      health: null,
      ports: [],
      volumes: [],
    });
    expect(notices).toEqual([]);
  });

  it('refuses secrets with a coded error that names each key and never a value', async () => {
    const config = await configOf('[secrets]\nTOKEN = { from_env = "HOST_TOKEN" }\nDB = { from_file = "/run/db" }\n');
    const error = await caught(() => smolfileCreateOptions(config));
    expect(error.code).toBe('SMOLVM_ERR_UNSUPPORTED_SETTING');
    expect(error.settings).toEqual(['secrets.TOKEN', 'secrets.DB']);
    expect(error.message).toMatch(/persistent machines do not support secrets yet \(secrets\.TOKEN, secrets\.DB\)/);
    expect(error.hint).toMatch(/machine run -s/);
  });
});

describe('notAppliedSettings', () => {
  it.each([
    ['net = true', 'run', ['net']],
    ['net = true\n[network]\nallow_cidrs = ["10.0.0.0/8"]', 'create', ['network']],
    ['ports = ["1:1", "2:2"]', 'run', []],
    ['ports = ["1:1", "2:2"]', 'create', []],
    ['[health]\nexec = "true"', 'run', ['health']],
    ['[health]\nexec = "true"', 'create', []],
    ['[restart]\npolicy = "always"', 'run', ['restart']],
    ['[restart]\npolicy = "always"', 'create', []],
    ['cmd = ["x"]\nuser = "1"', 'run', []],
    ['cmd = ["x"]\nuser = "1"', 'create', ['cmd', 'user']],
    ['entrypoint = ["x"]', 'create', ['entrypoint']],
    ['[auth]\nssh_agent = false', 'run', []],
  ] as const)('%j for %s: %j', async (text, target, keys) => {
    expect(notAppliedSettings(await configOf(`${text}\n`), target).map((s) => s.key)).toEqual(keys);
  });
});

describe('smolfileRunOptions', () => {
  it('maps resources, env, workdir and user, runs entrypoint + cmd, and keeps init apart', async () => {
    const config = await configOf('entrypoint = ["/bin/sh", "-c"]\ncmd = ["echo hi"]\nenv = ["A=1"]\nworkdir = "/srv"\nuser = "nobody"\ncpus = 2\nmemory = 256\ninit = ["true"]\n');
    expect(await smolfileRunOptions(config)).toEqual({
      cmd: ['/bin/sh', '-c', 'echo hi'],
      cpus: 2,
      memoryMiB: 256,
      env: { A: '1' },
      cwd: '/srv',
      user: 'nobody',
      init: { commands: ['true'], env: { A: '1' }, cwd: '/srv' },
    });
  });

  it('lets the command after -- replace cmd but not entrypoint', async () => {
    const config = await configOf('entrypoint = ["/bin/sh", "-c"]\ncmd = ["echo file"]\n', { overrides: { cmd: ['echo flag'] } });
    expect((await smolfileRunOptions(config)).cmd).toEqual(['/bin/sh', '-c', 'echo flag']);
  });

  it('passes the image through; with an entrypoint it needs nothing from the image', async () => {
    const config = await configOf('image = "alpine:3.20"\nentrypoint = ["true"]\n');
    expect(await smolfileRunOptions(config, { hostEnv: { SMOLVM_HOME: join(root, 'no-home') } })).toMatchObject({ image: 'alpine:3.20', cmd: ['true'] });
  });

  it('refuses a run with no command', async () => {
    const error = await caught(async () => smolfileRunOptions(await configOf('cpus = 1\n')));
    expect(error.code).toBe('SMOLVM_ERR_INVALID_OPTION');
    expect(error.message).toMatch(/no command to run/);
  });

  it('reads secrets on the host into the process env only, never into init or messages', async () => {
    const secretDir = await dir({ token: 'from-file-value\n' });
    const config = await configOf(
      `cmd = ["env"]\nenv = ["A=1"]\n[secrets]\nT1 = { from_env = "HOST_T1" }\nT2 = { from_file = "${join(secretDir, 'token')}" }\n`,
    );
    const run = await smolfileRunOptions(config, { hostEnv: { HOST_T1: 'from-env-value' } });
    expect(run.env).toEqual({ A: '1', T1: 'from-env-value', T2: 'from-file-value' });
    expect(run.init.env).toEqual({ A: '1' });

    const error = await caught(() => smolfileRunOptions(config, { hostEnv: {} }));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_SECRETS_UNRESOLVED');
    expect(error.message).toMatch(/secret T1: environment variable HOST_T1 is not set/);
    expect(`${error.message}${error.hint}`).not.toMatch(/from-file-value/);
  });

  it('passes published ports on to the run, with the host address when one is given', async () => {
    const notices: string[] = [];
    const run = await smolfileRunOptions(await configOf('cmd = ["true"]\nports = ["8080:80", "0.0.0.0:5433:5432"]\n'), { onNotice: (m) => notices.push(m) });
    expect(run.ports).toEqual([
      { hostPort: 8080, guestPort: 80 },
      { hostPort: 5433, guestPort: 5432, hostAddress: '0.0.0.0' },
    ]);
    expect(notices).toEqual([]);
  });

  it('reports what machine run does not apply through onNotice', async () => {
    const notices: string[] = [];
    const run = await smolfileRunOptions(await configOf('cmd = ["true"]\nnet = true\nvolumes = ["/a:/a:ro"]\n[restart]\npolicy = "always"\n'), { onNotice: (m) => notices.push(m) });
    // machine run mounts volumes: passed on, not reported.
    expect(run.volumes).toEqual([{ hostPath: '/a', guestPath: '/a', readOnly: true }]);
    expect(run.ports).toBeUndefined();
    expect(notices).toMatchInlineSnapshot(`
      [
        "smolvm: Smolfile net = true is not applied yet: machines have no network, so outbound connections fail",
        "smolvm: Smolfile [restart] is not applied by machine run: restart policies apply to persistent machines (machine create)",
      ]
    `);
  });
});
