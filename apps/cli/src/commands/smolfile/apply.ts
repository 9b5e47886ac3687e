// Applying a Smolfile to `machine run` and `machine create`: which file (-s PATH, else ./Smolfile when there is
// one, unless --no-smolfile), the merge with the command's flags (flag > [dev] with --dev > top level > default),
// and what the machine cannot apply yet, said on stderr. Without a Smolfile the commands behave as before.
import {
  findSmolfile,
  isSmolvmError,
  loadMachineConfig,
  runInitCommands,
  smolfileCreateOptions,
  smolfileRunOptions,
  type CreateOptions,
  type LoadedMachineConfig,
  type Machine,
  type MachineConfigInput,
  type SmolfileOverrides,
  type SmolfileProblem,
  type VolumeMount,
} from '@smolvm/core';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';

/** `-s PATH` gives a string, `--no-smolfile` false; absent: ./Smolfile when there is one. */
export interface SmolfileFlags {
  smolfile?: string | false;
  dev?: boolean;
}

/** The flag each override came from, for messages about bad flag values. */
const FLAG_OF: Readonly<Record<string, string>> = {
  image: '--image',
  cpus: '--cpus',
  memoryMiB: '--mem',
  storageGiB: '--storage',
  env: '-e',
  workdir: '-w',
  user: '-u',
  init: '--init',
  volumes: '-v',
  ports: '-p',
  restartPolicy: '--restart',
  cmd: 'the command after --',
};

function flagProblem(problem: SmolfileProblem): string {
  const m = /^([A-Za-z]+)(?:\[(\d+)\])?$/.exec(problem.path);
  const flag = m?.[1] !== undefined ? FLAG_OF[m[1]] : undefined;
  if (flag === undefined || !problem.message.startsWith(`${problem.path}: `)) return problem.message;
  const which = m?.[2] !== undefined ? ` (${flag === 'the command after --' ? 'argument' : 'entry'} ${Number(m[2]) + 1})` : '';
  return `${flag}${which}: ${problem.message.slice(problem.path.length + 2)}`;
}


const notice = (io: Io) => (message: string): void => void io.stderr.write(`${message}\n`);

/** Loads the Smolfile the flags select, merged with `overrides`; undefined when no Smolfile is in use. */
async function load(io: Io, flags: SmolfileFlags, overrides: SmolfileOverrides): Promise<LoadedMachineConfig | undefined> {
  const named = typeof flags.smolfile === 'string' ? flags.smolfile : undefined;
  const found = named === undefined && flags.smolfile !== false ? await findSmolfile(io.cwd) : undefined;
  if (named === undefined && found === undefined) {
    if (flags.dev) {
      throw new UsageError(
        flags.smolfile === false ? '--dev and --no-smolfile contradict each other' : '--dev applies a Smolfile\'s [dev] table, but there is no ./Smolfile',
        'Name the Smolfile with -s PATH, or drop --dev.',
      );
    }
    return undefined;
  }
  let loaded: LoadedMachineConfig;
  try {
    // With no name, loadMachineConfig finds ./Smolfile again and marks it as discovered.
    loaded = await loadMachineConfig(named, { cwd: io.cwd, dev: flags.dev === true, overrides });
  } catch (e) {
    if (isSmolvmError(e) && e.code === 'SMOLVM_ERR_SMOLFILE_OVERRIDE_INVALID') {
      const problems = (e as Error & { problems?: readonly SmolfileProblem[] }).problems ?? [];
      const first = problems[0];
      const rest = problems.slice(1).map((p) => `\n  ${flagProblem(p)}`).join('');
      throw new UsageError(first === undefined ? e.message : `${flagProblem(first)}${rest}`, first?.hint);
    }
    throw e;
  }
  if (loaded.smolfile === undefined) return undefined; // ./Smolfile went away since it was found
  if (loaded.smolfile.discovered && !io.env.SMOLVM_QUIET) {
    io.stderr.write('smolvm: using ./Smolfile (-s PATH picks another, --no-smolfile ignores it)\n');
  }
  return loaded;
}

/** Flags of `machine run` that a Smolfile's settings end up in. */
export interface RunFlagsLike extends SmolfileFlags {
  image?: string;
  cpus?: number;
  mem?: number;
  env?: string[];
  workdir?: string;
  user?: string;
  volume?: string[];
  publish?: string[];
}

export interface SmolfileRun<F> {
  /** The command: the Smolfile's entrypoint, then the command after -- or else the Smolfile's cmd. */
  cmd: string[];
  /** The flags with the merged settings in place (env holds the secrets, for the one process only). */
  flags: F;
  /** Runs the Smolfile's init commands in the booted machine, before the command. */
  init(machine: Machine, signal?: AbortSignal): Promise<void>;
  /** The Smolfile's volumes and then -v's, host paths resolved (the Smolfile's against its directory). */
  volumes: VolumeMount[];
  /** The Smolfile's ports and then -p's. */
  ports: NonNullable<CreateOptions['ports']>;
}

/**
 * The Smolfile's settings for `machine run`, merged with its flags, or undefined when no Smolfile is in use.
 * `[dev]` applies only with --dev.
 */
export async function smolfileForRun<F extends RunFlagsLike>(io: Io, cmd: string[], flags: F): Promise<SmolfileRun<F> | undefined> {
  const loaded = await load(io, flags, {
    ...(flags.image !== undefined ? { image: flags.image } : {}),
    ...(flags.cpus !== undefined ? { cpus: flags.cpus } : {}),
    ...(flags.mem !== undefined ? { memoryMiB: flags.mem } : {}),
    ...(flags.env !== undefined ? { env: flags.env } : {}),
    ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
    ...(flags.user !== undefined ? { user: flags.user } : {}),
    ...(flags.volume !== undefined ? { volumes: flags.volume } : {}),
    ...(flags.publish !== undefined ? { ports: flags.publish } : {}),
    ...(cmd.length > 0 ? { cmd } : {}),
  });
  if (loaded === undefined) return undefined;
  const { config, smolfile } = loaded;
  if (config.image === undefined && (config.entrypoint?.length ?? 0) + (config.cmd?.length ?? 0) === 0) {
    const shown = smolfile?.displayPath ?? 'Smolfile';
    throw new UsageError(
      `missing the command to run: ${shown} sets no cmd or entrypoint`,
      `Put it after --, e.g.: smolvm machine run -s ${shown} -- uname -a, or set cmd in the Smolfile.`,
    );
  }
  const run = await smolfileRunOptions(config, { hostEnv: io.env, onNotice: notice(io) });
  const settings: RunFlagsLike = {
    cpus: run.cpus,
    mem: run.memoryMiB,
    env: Object.entries(run.env).map(([name, value]) => `${name}=${value}`),
  };
  if (typeof run.image === 'string') settings.image = run.image;
  if (run.cwd !== undefined) settings.workdir = run.cwd;
  if (run.user !== undefined) settings.user = String(run.user);
  const next: F = { ...flags, ...settings };
  return {
    cmd: run.cmd,
    flags: next,
    init: (machine, signal) => runInitCommands(machine, run.init, signal ? { signal } : {}),
    volumes: run.volumes ?? [],
    ports: run.ports ?? [],
  };
}

/**
 * `Machine.create` options from the Smolfile merged with the flags (already checked into `fromFlags`), or
 * undefined when no Smolfile is in use. `[dev]` applies only with --dev.
 */
export async function smolfileForCreate(io: Io, flags: SmolfileFlags, fromFlags: MachineConfigInput): Promise<CreateOptions | undefined> {
  const loaded = await load(io, flags, {
    ...(typeof fromFlags.image === 'string' ? { image: fromFlags.image } : {}),
    ...(fromFlags.cpus !== undefined ? { cpus: fromFlags.cpus } : {}),
    ...(fromFlags.memoryMiB !== undefined ? { memoryMiB: fromFlags.memoryMiB } : {}),
    ...(fromFlags.storageGiB !== undefined ? { storageGiB: fromFlags.storageGiB } : {}),
    ...(fromFlags.env !== undefined ? { env: fromFlags.env } : {}),
    ...(typeof fromFlags.workdir === 'string' ? { workdir: fromFlags.workdir } : {}),
    ...(fromFlags.init !== undefined ? { init: fromFlags.init } : {}),
    ...(fromFlags.restartPolicy !== undefined ? { restartPolicy: fromFlags.restartPolicy } : {}),
    ...(fromFlags.ports !== undefined ? { ports: fromFlags.ports as readonly string[] } : {}),
    ...(fromFlags.volumes !== undefined ? { volumes: fromFlags.volumes as readonly VolumeMount[] } : {}),
  });
  if (loaded === undefined) return undefined;
  return smolfileCreateOptions(loaded.config, { onNotice: notice(io) });
}
