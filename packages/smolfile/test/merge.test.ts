import { describe, expect, it } from 'vitest';
import { MACHINE_DEFAULTS, parseSmolfile, resolveMachineConfig, SmolfileError, type CliOverrides, type MachineConfig } from '../src/index.js';

const SMOLFILE = parseSmolfile(
  `
image = "alpine:3.20"
cmd = ["serve"]
entrypoint = ["/bin/app"]
env = ["A=top", "B=top"]
workdir = "/app"
user = "app"
cpus = 2
memory = 1024
ports = ["8080:80", "9090:90"]
volumes = ["./src:/src", "./data:/data"]
init = ["echo top"]
storage = 20

[network]
allow_hosts = ["example.com"]

[auth]
ssh_agent = true

[dev]
env = ["B=dev", "C=dev"]
workdir = "/src"
ports = ["8080:8000", "5005:5005"]
volumes = ["./dev-data:/data"]
init = ["echo dev"]

[pack]
cmd = ["serve", "--packed"]
env = ["B=pack"]
cpus = 1
memory = 256
storage = 4
init = ["echo pack"]

[secrets]
TOKEN = { from_env = "GH_TOKEN" }
`,
  { path: '/p/Smolfile' },
);

function thrown(run: () => unknown): SmolfileError {
  try {
    run();
  } catch (error) {
    if (error instanceof SmolfileError) return error;
    throw error;
  }
  throw new Error('expected a SmolfileError');
}

describe('resolveMachineConfig', () => {
  it('applies defaults when there is nothing else', () => {
    const config = resolveMachineConfig(undefined, {}, {});
    expect(config).toEqual({
      env: {},
      cpus: MACHINE_DEFAULTS.cpus,
      memoryMiB: MACHINE_DEFAULTS.memoryMiB,
      storageGiB: MACHINE_DEFAULTS.storageGiB,
      net: false,
      network: { allowHosts: [], allowCidrs: [] },
      ports: [],
      volumes: [],
      init: [],
      auth: { sshAgent: false, sshKeys: [] },
      restart: { policy: 'never', maxBackoffMs: 60_000 },
      secrets: {},
    } satisfies MachineConfig);
    expect('image' in config).toBe(false);
  });

  it('uses the top level of the Smolfile without [dev] or [pack]', () => {
    const config = resolveMachineConfig(SMOLFILE, {});
    expect(config).toMatchObject({
      image: 'alpine:3.20',
      entrypoint: ['/bin/app'],
      cmd: ['serve'],
      env: { A: 'top', B: 'top' },
      workdir: '/app',
      user: 'app',
      cpus: 2,
      memoryMiB: 1024,
      storageGiB: 20,
      net: true,
      ports: [
        { hostPort: 8080, guestPort: 80 },
        { hostPort: 9090, guestPort: 90 },
      ],
      volumes: [
        { hostPath: '/p/src', guestPath: '/src', readOnly: false },
        { hostPath: '/p/data', guestPath: '/data', readOnly: false },
      ],
      init: ['echo top'],
      auth: { sshAgent: true, sshKeys: [] },
      secrets: { TOKEN: { from: 'env', variable: 'GH_TOKEN' } },
    });
    expect(config.network.allowHosts.map((host) => host.pattern)).toEqual(['example.com']);
  });

  it('lets [dev] beat the top level: lists concatenate, later entries replace same keys, workdir is replaced', () => {
    const config = resolveMachineConfig(SMOLFILE, {}, { dev: true });
    expect(config.env).toEqual({ A: 'top', B: 'dev', C: 'dev' });
    expect(Object.keys(config.env)).toEqual(['A', 'B', 'C']);
    expect(config.workdir).toBe('/src');
    expect(config.ports).toEqual([
      { hostPort: 9090, guestPort: 90 },
      { hostPort: 8080, guestPort: 8000 },
      { hostPort: 5005, guestPort: 5005 },
    ]);
    expect(config.volumes).toEqual([
      { hostPath: '/p/src', guestPath: '/src', readOnly: false },
      { hostPath: '/p/dev-data', guestPath: '/data', readOnly: false },
    ]);
    expect(config.init).toEqual(['echo top', 'echo dev']);
    expect(config.cpus).toBe(2);
  });

  it('lets [pack] beat the top level when packing, and ignores [dev]', () => {
    const config = resolveMachineConfig(SMOLFILE, {}, { pack: true });
    expect(config).toMatchObject({
      cmd: ['serve', '--packed'],
      env: { A: 'top', B: 'pack' },
      workdir: '/app',
      cpus: 1,
      memoryMiB: 256,
      storageGiB: 4,
      init: ['echo top', 'echo pack'],
    });
  });

  it('lets CLI flags beat everything', () => {
    const cli: CliOverrides = {
      image: 'debian:12',
      entrypoint: ['/bin/sh'],
      cmd: ['-c', 'echo hi'],
      env: ['B=cli', 'D=cli'],
      workdir: '/cli',
      user: '0:0',
      cpus: '4',
      memoryMiB: 4096,
      storageGiB: '40',
      ports: ['8080:1', { hostPort: 7000, guestPort: 7 }],
      volumes: ['./cli:/data:ro', { hostPath: '/abs', guestPath: '/abs', readOnly: false }],
      init: ['echo cli'],
      allowHosts: ['*.example.org'],
      allowCidrs: ['10.0.0.0/8'],
      sshAgent: false,
      restartPolicy: 'always',
      cwd: '/cwd',
    };
    const config = resolveMachineConfig(SMOLFILE, cli, { dev: true });
    expect(config).toMatchObject({
      image: 'debian:12',
      entrypoint: ['/bin/sh'],
      cmd: ['-c', 'echo hi'],
      env: { A: 'top', B: 'cli', C: 'dev', D: 'cli' },
      workdir: '/cli',
      user: '0:0',
      cpus: 4,
      memoryMiB: 4096,
      storageGiB: 40,
      net: true,
      ports: [
        { hostPort: 9090, guestPort: 90 },
        { hostPort: 5005, guestPort: 5005 },
        { hostPort: 8080, guestPort: 1 },
        { hostPort: 7000, guestPort: 7 },
      ],
      volumes: [
        { hostPath: '/p/src', guestPath: '/src', readOnly: false },
        { hostPath: '/cwd/cli', guestPath: '/data', readOnly: true },
        { hostPath: '/abs', guestPath: '/abs', readOnly: false },
      ],
      init: ['echo top', 'echo dev', 'echo cli'],
      auth: { sshAgent: false, sshKeys: [] },
      restart: { policy: 'always', maxBackoffMs: 60_000 },
    });
    expect(config.network.allowHosts.map((host) => host.pattern)).toEqual(['example.com', '*.example.org']);
    expect(config.network.allowCidrs.map((cidr) => cidr.cidr)).toEqual(['10.0.0.0/8']);
  });

  it('replaces the file\'s cmd with the command after --, even an empty one', () => {
    expect(resolveMachineConfig(SMOLFILE, { cmd: [] }).cmd).toEqual([]);
  });

  it('accepts env overrides as a record', () => {
    expect(resolveMachineConfig(undefined, { env: { X: '1', Y: '' } }).env).toEqual({ X: '1', Y: '' });
  });

  it('turns the network on for allow-lists and clears them when net is off', () => {
    expect(resolveMachineConfig(undefined, { allowHosts: ['example.com'] }).net).toBe(true);
    expect(resolveMachineConfig(undefined, { net: true }).network).toEqual({ allowHosts: [], allowCidrs: [] });
    const off = resolveMachineConfig(SMOLFILE, { net: false });
    expect(off.net).toBe(false);
    expect(off.network).toEqual({ allowHosts: [], allowCidrs: [] });
  });

  it('keeps env names that would be special on a plain object', () => {
    const config = resolveMachineConfig(undefined, { env: ['__proto__=x', 'constructor=y'] });
    expect(config.env['__proto__']).toBe('x');
    expect(config.env['constructor']).toBe('y');
    expect(Object.keys(config.env)).toEqual(['__proto__', 'constructor']);
  });

  it('reports every problem with the overrides at once', () => {
    const error = thrown(() =>
      resolveMachineConfig(
        SMOLFILE,
        {
          cpus: 'two',
          memoryMiB: 1,
          storageGiB: 1.5,
          ports: ['80'],
          volumes: ['~/x:/x'],
          env: ['NOPE', 'TOKEN=x'],
          image: 'UPPER',
          workdir: 'rel',
          user: 'a b',
          init: [''],
          allowHosts: ['1.2.3.4'],
          allowCidrs: ['x'],
          entrypoint: ['\0'],
          cmd: [1 as unknown as string],
          restartPolicy: 'sometimes' as 'never',
        },
        { dev: true, pack: true },
      ),
    );
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_OVERRIDE_INVALID');
    expect(error.problems.map((problem) => [problem.code, problem.path])).toEqual([
      ['SMOLVM_ERR_SMOLFILE_CONFLICT', 'options'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'image'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'workdir'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'user'],
      ['SMOLVM_ERR_SMOLFILE_TYPE', 'cpus'],
      ['SMOLVM_ERR_SMOLFILE_RANGE', 'memoryMiB'],
      ['SMOLVM_ERR_SMOLFILE_TYPE', 'storageGiB'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'entrypoint[0]'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'cmd[0]'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'env[0]'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'ports[0]'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'volumes[0]'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'init[0]'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'allowHosts[0]'],
      ['SMOLVM_ERR_SMOLFILE_FORMAT', 'allowCidrs[0]'],
      ['SMOLVM_ERR_SMOLFILE_RANGE', 'restartPolicy'],
      ['SMOLVM_ERR_SMOLFILE_CONFLICT', 'env'],
    ]);
    expect(error.problems.every((problem) => problem.line === 0 && problem.column === 0)).toBe(true);
    expect(error.message.split('\n')[0]).toBe('invalid machine settings:');
    expect(error.message).toContain('\nmemoryMiB: expected an integer number of MiB from 64 to 262144, got 1');
    expect(error.message).toContain('\nenv: TOKEN is declared as a secret in the Smolfile');
  });

  it('rejects net = false together with allow-lists', () => {
    const error = thrown(() => resolveMachineConfig(undefined, { net: false, allowCidrs: ['10.0.0.0/8'] }));
    expect(error.problems.map((problem) => problem.message)).toEqual(['net: is false, but allowHosts or allowCidrs are given']);
  });

  it('bounds the length of override lists', () => {
    const error = thrown(() => resolveMachineConfig(undefined, { ports: Array.from({ length: 200 }, (_, i) => `${i + 1}:1`) }));
    expect(error.problems[0]?.message).toBe('ports: has 200 entries; at most 128 are accepted');
  });
});
