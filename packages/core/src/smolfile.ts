// Smolfile glue for the SDK and the CLI: finds and loads a Smolfile, merges it with caller overrides
// (`resolveMachineConfig` of @smolvm/smolfile: flag > [dev] > top level > default), and maps the result onto
// Machine's options.
//
// Machines cannot do everything a Smolfile can say yet. Nothing is dropped silently: a setting that is not applied
// is reported through `onNotice` (network, the SSH agent: the machine simply lacks them, which
// fails closed), or refused with a coded error where going on without it would be wrong (secrets of a persistent
// machine, which would have to be stored).
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type * as SmolfileModule from '@smolvm/smolfile';
import type { CliOverrides, MachineConfig, Smolfile, SmolfileError, SmolfileProblem } from '@smolvm/smolfile';
import { ErrorCode, SmolvmError, isSmolvmError } from './errors.js';
import { resolveImage } from './images.js';
import type { CreateOptions, Machine, RunOptions } from './machine.js';

// The Smolfile parser (valibot schemas, smol-toml) loads only when a Smolfile is actually used, so commands
// without one start faster.
let sf: typeof SmolfileModule;
async function loadSmolfilePackage(): Promise<void> {
  sf ??= await import('@smolvm/smolfile');
}
import type { VolumeMount } from './volumes.js';

/** The file name looked for in the working directory when no Smolfile is named. */
export const SMOLFILE_NAME = 'Smolfile';

/** Settings that beat the Smolfile's (command-line flags, SDK options); see `@smolvm/smolfile`'s `CliOverrides`. */
export type SmolfileOverrides = CliOverrides;

/** A machine's configuration after merging a Smolfile, [dev], overrides and defaults. */
export type SmolfileMachineConfig = MachineConfig;

export interface LoadMachineConfigOptions {
  /** Where a relative `path` and `./Smolfile` are looked up, and where relative override volumes start. Default: `process.cwd()`. */
  cwd?: string;
  /** Apply the Smolfile's `[dev]` table. Default false: `[dev]` applies only when asked for (the CLI's `--dev`). */
  dev?: boolean;
  /** Settings that beat the Smolfile's. */
  overrides?: SmolfileOverrides;
  /** Look for `./Smolfile` when no path is given. Default true. */
  discover?: boolean;
}

export interface SmolfileSource {
  /** Absolute path of the file. */
  path: string;
  /** The path as the caller gave it (or `Smolfile` when found), used in messages. */
  displayPath: string;
  /** True when the file was found in the working directory rather than named. */
  discovered: boolean;
}

export interface LoadedMachineConfig {
  config: SmolfileMachineConfig;
  /** The Smolfile the configuration came from; absent when there was none (overrides and defaults only). */
  smolfile?: SmolfileSource;
}

/** Thrown (code `SMOLVM_ERR_UNSUPPORTED_SETTING`) for a setting that cannot be applied yet and must not be skipped. */
export class UnsupportedSettingError extends SmolvmError {
  /** Key paths of the settings, e.g. `secrets.GITHUB_TOKEN`; never their values. */
  readonly settings: readonly string[];
  constructor(settings: readonly string[], message: string, hint: string) {
    super('SMOLVM_ERR_UNSUPPORTED_SETTING', message, { hint });
    this.name = 'UnsupportedSettingError';
    this.settings = settings;
  }
}

/** `./Smolfile` in `cwd` when it is a regular file (so a `smolfile/` directory on a case-insensitive disk is not taken). */
export async function findSmolfile(cwd: string = process.cwd()): Promise<string | undefined> {
  const path = join(resolve(cwd), SMOLFILE_NAME);
  try {
    return (await stat(path)).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}

/** `file:line:col: message`, then `    hint: ...` on the next line; just the message for a problem without a place. */
export function formatSmolfileProblem(problem: SmolfileProblem, file: string): string {
  const where = problem.line > 0 ? `${file}:${problem.line}:${problem.column}: ` : '';
  return `${where}${problem.message}${problem.hint === undefined ? '' : `\n    hint: ${problem.hint}`}`;
}

function invalidError(problems: readonly SmolfileProblem[], displayPath: string, hint: string | undefined): SmolfileError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const lines = problems.slice(0, 50).map((p) => formatSmolfileProblem(p, displayPath));
  if (problems.length > 50) lines.push(`... and ${problems.length - 50} more`);
  return new sf.SmolfileError('SMOLVM_ERR_SMOLFILE_INVALID', `${displayPath} is not valid (${count}):\n${lines.join('\n')}`, {
    problems,
    file: displayPath,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** Loads the Smolfile at `absolute`; an invalid file's problems are reported against `displayPath`. */
async function loadAt(absolute: string, displayPath: string): Promise<Smolfile> {
  await loadSmolfilePackage();
  try {
    return await sf.loadSmolfile(absolute);
  } catch (error) {
    if (isSmolvmError(error) && error.code === 'SMOLVM_ERR_SMOLFILE_INVALID' && error instanceof sf.SmolfileError) {
      throw invalidError(error.problems, displayPath, error.hint);
    }
    throw error;
  }
}

export interface SmolfileFileCheck {
  /** Absolute path of the file. */
  path: string;
  /** The path as given, used in `file:line:col` messages. */
  displayPath: string;
  ok: boolean;
  /** Every problem, in file order. */
  problems: readonly SmolfileProblem[];
}

/**
 * Checks the Smolfile at `path` (default `./Smolfile`) without throwing for what is wrong inside it. Throws a
 * `SmolfileError` when it cannot be read (`SMOLVM_ERR_SMOLFILE_NOT_FOUND`, `SMOLVM_ERR_SMOLFILE_READ`).
 */
export async function checkSmolfileFile(path: string = SMOLFILE_NAME, options: { cwd?: string } = {}): Promise<SmolfileFileCheck> {
  await loadSmolfilePackage();
  const absolute = resolve(options.cwd ?? process.cwd(), path);
  try {
    await sf.loadSmolfile(absolute);
    return { path: absolute, displayPath: path, ok: true, problems: [] };
  } catch (error) {
    if (isSmolvmError(error) && error.code === 'SMOLVM_ERR_SMOLFILE_INVALID' && error instanceof sf.SmolfileError) {
      return { path: absolute, displayPath: path, ok: false, problems: error.problems };
    }
    throw error;
  }
}

/**
 * Loads a Smolfile and merges it with `overrides` into one machine's configuration. With no `path`, `./Smolfile`
 * is used when there is one (`smolfile.discovered` says so; tell the person); with none, the configuration is the
 * overrides over the defaults. Throws a `SmolfileError`: `SMOLVM_ERR_SMOLFILE_NOT_FOUND`/`_READ` for a file that
 * cannot be read, `SMOLVM_ERR_SMOLFILE_INVALID` listing every problem as `file:line:col`, or
 * `SMOLVM_ERR_SMOLFILE_OVERRIDE_INVALID` for bad overrides (each problem's `path` names the override).
 */
export async function loadMachineConfig(path?: string, options: LoadMachineConfigOptions = {}): Promise<LoadedMachineConfig> {
  await loadSmolfilePackage();
  const cwd = resolve(options.cwd ?? process.cwd());
  let source: SmolfileSource | undefined;
  if (path !== undefined) {
    source = { path: resolve(cwd, path), displayPath: path, discovered: false };
  } else if (options.discover !== false) {
    const found = await findSmolfile(cwd);
    if (found !== undefined) source = { path: found, displayPath: SMOLFILE_NAME, discovered: true };
  }
  const smolfile = source === undefined ? undefined : await loadAt(source.path, source.displayPath);
  const overrides: CliOverrides = { ...options.overrides, cwd: options.overrides?.cwd ?? cwd };
  const merged = sf.resolveMachineConfig(smolfile, overrides, { dev: options.dev === true });
  // A local image named in the Smolfile is relative to the Smolfile's directory, like its volumes (an
  // --image flag stays relative to the working directory).
  const local = merged.image !== undefined && options.overrides?.image === undefined ? sf.localImageSource(merged.image) : undefined;
  const config =
    source && local && !isAbsolute(local.path) ? { ...merged, image: local.prefix + resolve(dirname(source.path), local.path) } : merged;
  return source === undefined ? { config } : { config, smolfile: source };
}

/** A setting a machine does not apply (yet), with a one-line explanation meant for a person. */
export interface NotAppliedSetting {
  /** Key path in the Smolfile: `ports`, `volumes`, `net`, `network`, `auth.ssh_agent`, `health`, ... */
  key: string;
  message: string;
}

/** What kind of machine a configuration is applied to. */
export type SmolfileTarget = 'run' | 'create';

const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/**
 * The settings of `config` that `target` does not apply yet. `run` is an ephemeral `machine run`, `create` a
 * persistent machine. Secrets of a persistent machine are not listed: `smolfileCreateOptions` refuses them.
 */
export function notAppliedSettings(config: SmolfileMachineConfig, target: SmolfileTarget): NotAppliedSetting[] {
  const notes: NotAppliedSetting[] = [];
  const add = (key: string, message: string): void => void notes.push({ key, message: `smolvm: Smolfile ${message}` });
  const allowLists = config.network.allowHosts.length + config.network.allowCidrs.length;
  if (config.net && allowLists === 0) {
    add('net', 'net = true is not applied yet: machines have no network, so outbound connections fail');
  }
  if (allowLists > 0) {
    add('network', `[network] allow-lists (${count(allowLists, 'entry', 'entries')}) are not applied yet: machines have no network, so the listed destinations cannot be reached`);
  }
  if (config.auth.sshAgent) add('auth.ssh_agent', 'auth.ssh_agent is not applied yet: the host\'s SSH agent is not forwarded into the machine');
  if (target === 'run') {
    if (config.health !== undefined) add('health', '[health] is not applied by machine run: health checks apply to persistent machines (machine create)');
    if (config.restart.policy !== 'never') add('restart', '[restart] is not applied by machine run: restart policies apply to persistent machines (machine create)');
  } else {
    const workload = [config.entrypoint !== undefined ? 'entrypoint' : '', config.cmd !== undefined ? 'cmd' : ''].filter(Boolean);
    if (workload.length > 0) {
      add(workload.join(' and '), `${workload.join(' and ')} ${workload.length > 1 ? 'are' : 'is'} not applied yet: persistent machines do not run a workload yet (start runs init; run commands with machine exec)`);
    }
    if (config.user !== undefined) add('user', 'user is not applied yet: persistent machines do not store a user; give it to each exec (-u)');
  }
  return notes;
}

export interface SmolfileCreateOptionsOptions {
  /** Receives one line per setting that is not applied (see `notAppliedSettings`). */
  onNotice?: (message: string) => void;
}

/**
 * Maps a configuration onto `Machine.create`'s options: image, resources, env, workdir, init, restart policy and
 * health check are stored in the machine's record. Throws `UnsupportedSettingError` when the configuration has
 * secrets (a persistent machine would have to store them; secrets are never written to disk).
 */
export function smolfileCreateOptions(config: SmolfileMachineConfig, options: SmolfileCreateOptionsOptions = {}): CreateOptions {
  const secrets = Object.keys(config.secrets);
  if (secrets.length > 0) {
    const keys = secrets.map((name) => `secrets.${name}`);
    throw new UnsupportedSettingError(
      keys,
      `persistent machines do not support secrets yet (${keys.join(', ')}): their configuration is stored on disk, and secrets never are`,
      'use smolvm machine run -s for the workload (its one process gets the secrets as env), or remove [secrets] from this Smolfile for machine create',
    );
  }
  for (const note of notAppliedSettings(config, 'create')) options.onNotice?.(note.message);
  return {
    ...(config.image !== undefined ? { image: config.image } : {}),
    cpus: config.cpus,
    memoryMiB: config.memoryMiB,
    storageGiB: config.storageGiB,
    env: Object.entries(config.env).map(([name, value]) => `${name}=${value}`),
    workdir: config.workdir ?? null,
    init: [...config.init],
    restartPolicy: config.restart.policy,
    restartMaxRetries: config.restart.maxRetries ?? null,
    restartMaxBackoffMs: config.restart.maxBackoffMs,
    health: config.health === undefined ? null : { ...config.health, exec: [...config.health.exec] },
    ports: config.ports.map(portInput),
    // Host paths are absolute already (relative ones started from the Smolfile's directory).
    volumes: config.volumes.map((v) => ({ hostPath: v.hostPath, guestPath: v.guestPath, readOnly: v.readOnly })),
  };
}

/** A Smolfile port mapping as the SDK takes it. */
const portInput = (p: SmolfileMachineConfig['ports'][number]): { hostPort: number; guestPort: number; hostAddress?: string } => ({
  hostPort: p.hostPort,
  guestPort: p.guestPort,
  ...(p.hostAddress !== undefined ? { hostAddress: p.hostAddress } : {}),
});

export interface SmolfileRunOptionsOptions {
  /** The host environment `from_env` secrets are read from. Default: `process.env`. */
  hostEnv?: NodeJS.ProcessEnv;
  /** Reads a `from_file` secret. Default: `fs.readFile`. */
  readSecretFile?: (path: string) => Promise<string | Uint8Array>;
  /** Receives one line per setting that is not applied (see `notAppliedSettings`). */
  onNotice?: (message: string) => void;
  /** Cancels pulling the image. */
  signal?: AbortSignal;
}

/** Init commands of an ephemeral run: run in order before the command, with the Smolfile's env (no secrets). */
export interface SmolfileInit {
  commands: string[];
  env: Record<string, string>;
  cwd?: string;
}

/**
 * Options for `Machine.run` (or `Machine.boot` + `exec`) from a configuration, plus its init commands. `cmd` is
 * never empty. `env` holds the secrets, read on the host now: pass it to the one process and nowhere else.
 */
export interface SmolfileRunOptions extends RunOptions {
  cmd: string[];
  volumes?: VolumeMount[];
  env: Record<string, string>;
  init: SmolfileInit;
}

/**
 * The command of a run: the Smolfile's `entrypoint` (or else the image's Entrypoint), then its `cmd` (or else the
 * image's Cmd, unless the Smolfile set `entrypoint`, which resets it, as `docker run --entrypoint` does). A `cmd`
 * given by the caller (after `--`) has already replaced the Smolfile's in `config`.
 */
async function runCommand(config: SmolfileMachineConfig, hostEnv: NodeJS.ProcessEnv, signal: AbortSignal | undefined): Promise<string[]> {
  if (config.entrypoint !== undefined) return [...config.entrypoint, ...(config.cmd ?? [])];
  if (config.image === undefined) return [...(config.cmd ?? [])];
  const image = (await resolveImage(config.image, { hostEnv, ...(signal ? { signal } : {}) })).config;
  return [...(image.entrypoint ?? []), ...(config.cmd ?? image.cmd ?? [])];
}

/**
 * Resolves the configuration for one ephemeral run: image, resources, the command, env (with the secrets, read
 * now on the host; a secret that cannot be read throws `SMOLVM_ERR_SMOLFILE_SECRETS_UNRESOLVED`, naming it and
 * never its value), workdir and user. With an image, the image is pulled (or found) here to learn its Entrypoint
 * and Cmd. Throws `SMOLVM_ERR_INVALID_OPTION` when there is no command to run.
 */
export async function smolfileRunOptions(config: SmolfileMachineConfig, options: SmolfileRunOptionsOptions = {}): Promise<SmolfileRunOptions> {
  await loadSmolfilePackage();
  const hostEnv = options.hostEnv ?? process.env;
  for (const note of notAppliedSettings(config, 'run')) options.onNotice?.(note.message);
  const cmd = await runCommand(config, hostEnv, options.signal);
  if (cmd.length === 0) {
    throw new SmolvmError(ErrorCode.INVALID_OPTION, `no command to run: neither the Smolfile${config.image === undefined ? '' : ' nor its image'} sets a cmd or entrypoint`, {
      hint: 'Set cmd in the Smolfile, or give the command (CLI: after --).',
    });
  }
  const secrets = await sf.resolveSecrets(config.secrets, {
    env: hostEnv,
    readFile: options.readSecretFile ?? ((path) => readFile(path)),
  });
  const env: Record<string, string> = { ...config.env, ...secrets };
  return {
    ...(config.image !== undefined ? { image: config.image } : {}),
    cmd,
    cpus: config.cpus,
    memoryMiB: config.memoryMiB,
    env,
    ...(config.workdir !== undefined ? { cwd: config.workdir } : {}),
    ...(config.user !== undefined ? { user: config.user } : {}),
    // Host paths are absolute already (relative ones started from the Smolfile's directory).
    ...(config.volumes.length > 0
      ? { volumes: config.volumes.map((v) => ({ hostPath: v.hostPath, guestPath: v.guestPath, readOnly: v.readOnly })) }
      : {}),
    ...(config.ports.length > 0 ? { ports: config.ports.map(portInput) } : {}),
    init: { commands: [...config.init], env: { ...config.env }, ...(config.workdir !== undefined ? { cwd: config.workdir } : {}) },
  };
}

/**
 * Runs init commands in a machine, in order, each by `/bin/sh -c`, as a persistent machine's supervisor does at
 * start. The first that fails throws `SMOLVM_ERR_INIT_FAILED` with the end of its output; the rest do not run.
 */
export async function runInitCommands(machine: Machine, init: SmolfileInit, options: { signal?: AbortSignal } = {}): Promise<void> {
  for (const [index, command] of init.commands.entries()) {
    const result = await machine.exec(['/bin/sh', '-c', command], {
      env: init.env,
      ...(init.cwd !== undefined ? { cwd: init.cwd } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      maxOutputBytes: 64 * 1024,
    });
    if (result.exitCode !== 0) {
      const output = `${result.stdout}${result.stderr}`.trim().slice(-2000);
      throw new SmolvmError(
        ErrorCode.INIT_FAILED,
        `init command ${index + 1} of ${init.commands.length} ("${command}") failed with exit code ${result.exitCode}${output ? `: ${output}` : ''}`,
        { hint: 'The workload was not started. Fix the init command, or try it by hand in a shell (smolvm machine run -it -- sh).' },
      );
    }
  }
}
