// From a Smolfile and command-line overrides to the configuration of one machine.
//
// Precedence: CLI flag > [dev] (with `dev`) or [pack] (with `pack`) > top level > default.
// Lists concatenate in that order: env, volumes, ports and init from the top level, then [dev]/[pack], then the
// CLI. Where two entries of env, ports or volumes claim the same thing (the same variable name, host port, or
// path in the machine), the later one replaces the earlier one; init commands all run, in order. `cmd` and
// `entrypoint` are replaced, never concatenated: a command after `--` replaces the file's `cmd`.
import { MACHINE_DEFAULTS } from './defaults.js';
import { tryParseEnvEntry, type EnvEntry } from './env.js';
import { SmolfileError, formatProblem, type SmolfileProblem } from './errors.js';
import { tryParseHostPattern, type HostPattern } from './host-pattern.js';
import { tryParseCidr, type Cidr } from './ip.js';
import { SMOLFILE_LIMITS } from './limits.js';
import { formatPortSpec, tryParsePortSpec, type PortSpec } from './ports.js';
import type { AuthConfig, HealthCheck, RestartConfig, RestartPolicyName, SecretSource, Smolfile } from './schema.js';
import { type SpecResult } from './spec-result.js';
import { tryParseArgument, tryParseGuestPath, tryParseImageReference, tryParseShellCommand, tryParseUser } from './values.js';
import { formatVolumeSpec, tryParseVolumeSpec, type VolumeSpec } from './volumes.js';

/**
 * Settings given on the command line (or by an SDK caller), which beat the Smolfile. Strings are checked the way
 * the Smolfile's are; a problem is reported with the field name as its path (`cpus`, `ports[1]`).
 */
export interface CliOverrides {
  readonly image?: string;
  readonly entrypoint?: readonly string[];
  /** The command after `--`: replaces the Smolfile's `cmd`. */
  readonly cmd?: readonly string[];
  /** `"NAME=value"` entries, or a record of them. */
  readonly env?: readonly string[] | Readonly<Record<string, string>>;
  readonly workdir?: string;
  readonly user?: string;
  /** A number, or its decimal text as a flag gives it. */
  readonly cpus?: number | string;
  readonly memoryMiB?: number | string;
  readonly storageGiB?: number | string;
  readonly net?: boolean;
  /** `"HOST:GUEST"` mappings, or parsed ones. */
  readonly ports?: readonly (string | PortSpec)[];
  /** `"HOST:GUEST[:ro]"` specs (relative host paths start from `cwd`), or parsed ones. */
  readonly volumes?: readonly (string | VolumeSpec)[];
  readonly init?: readonly string[];
  readonly allowHosts?: readonly string[];
  readonly allowCidrs?: readonly string[];
  readonly sshAgent?: boolean;
  readonly restartPolicy?: RestartPolicyName;
  /** Directory relative CLI volume paths start from. Default: `process.cwd()`. */
  readonly cwd?: string;
}

export interface ResolveMachineConfigOptions {
  /** Apply the Smolfile's [dev] table (local runs). */
  readonly dev?: boolean;
  /** Apply the Smolfile's [pack] table (packing into a .smolmachine). Cannot be combined with `dev`. */
  readonly pack?: boolean;
}

/** Everything needed to create one machine, after merging the Smolfile, [dev]/[pack], the CLI and defaults. */
export interface MachineConfig {
  /** Absent when neither the Smolfile nor the CLI names one: the engine's default image is used. */
  readonly image?: string;
  /** Absent: the image's entrypoint. */
  readonly entrypoint?: readonly string[];
  /** Absent: the image's command. */
  readonly cmd?: readonly string[];
  /** Environment of the workload, in declaration order (later declarations replaced earlier ones). */
  readonly env: Readonly<Record<string, string>>;
  /** Absent: the image's working directory. */
  readonly workdir?: string;
  /** Absent: the image's user. */
  readonly user?: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly storageGiB: number;
  /**
   * Outbound network on or off. When on with empty allow-lists, egress is open; with allow-lists, egress is
   * limited to them. When off, the allow-lists are empty.
   */
  readonly net: boolean;
  readonly network: { readonly allowHosts: readonly HostPattern[]; readonly allowCidrs: readonly Cidr[] };
  readonly ports: readonly PortSpec[];
  readonly volumes: readonly VolumeSpec[];
  readonly init: readonly string[];
  readonly auth: AuthConfig;
  readonly health?: HealthCheck;
  readonly restart: RestartConfig;
  /** Where each secret comes from; values are read by `resolveSecrets` at start and never stored. */
  readonly secrets: Readonly<Record<string, SecretSource>>;
}

class OverrideProblems {
  readonly problems: SmolfileProblem[] = [];

  take<T>(path: string, result: SpecResult<T>): T | undefined {
    if (result.ok) return result.value;
    this.add(result.code, path, result.message, result.hint);
    return undefined;
  }

  add(code: SmolfileProblem['code'], path: string, message: string, hint?: string): void {
    const problem: SmolfileProblem = { code, path, line: 0, column: 0, message: `${path}: ${message}` };
    this.problems.push(hint === undefined ? problem : { ...problem, hint });
  }
}

function integerOverride(
  problems: OverrideProblems,
  name: string,
  value: number | string | undefined,
  bounds: { readonly min: number; readonly max: number },
  unit: string,
): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === 'number' ? value : /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  const form = `an integer${unit} from ${bounds.min} to ${bounds.max}`;
  if (!Number.isInteger(number)) {
    problems.add('SMOLVM_ERR_SMOLFILE_TYPE', name, `expected ${form}`);
    return undefined;
  }
  if (number < bounds.min || number > bounds.max) {
    problems.add('SMOLVM_ERR_SMOLFILE_RANGE', name, `expected ${form}, got ${number}`);
    return undefined;
  }
  return number;
}

function listOverride<T>(
  problems: OverrideProblems,
  name: string,
  items: readonly unknown[] | undefined,
  max: number,
  parse: (item: unknown) => SpecResult<T>,
): T[] {
  if (items === undefined) return [];
  if (items.length > max) {
    problems.add('SMOLVM_ERR_SMOLFILE_RANGE', name, `has ${items.length} entries; at most ${max} are accepted`);
    return [];
  }
  const parsed: T[] = [];
  items.forEach((item, index) => {
    const value = problems.take(`${name}[${index}]`, parse(item));
    if (value !== undefined) parsed.push(value);
  });
  return parsed;
}

function stringOnly<T>(parse: (text: string) => SpecResult<T>): (item: unknown) => SpecResult<T> {
  return (item) => (typeof item === 'string' ? parse(item) : { ok: false, code: 'SMOLVM_ERR_SMOLFILE_FORMAT', message: 'expected a string' });
}

/** Later entries with the same key replace earlier ones (and move to the later position). */
function mergeByKey<T>(lists: readonly (readonly T[] | undefined)[], keyOf: (item: T) => string): T[] {
  const merged = new Map<string, T>();
  for (const list of lists) {
    for (const item of list ?? []) {
      const key = keyOf(item);
      merged.delete(key);
      merged.set(key, item);
    }
  }
  return [...merged.values()];
}

const portKey = (port: PortSpec): string => `${port.hostAddress ?? ''}|${port.hostPort}`;
const volumeKey = (volume: VolumeSpec): string => volume.guestPath;

function cliEnvEntries(problems: OverrideProblems, env: CliOverrides['env']): EnvEntry[] {
  if (env === undefined) return [];
  const entries = Array.isArray(env)
    ? (env as readonly string[])
    : Object.entries(env as Readonly<Record<string, string>>).map(([name, value]) => `${name}=${String(value)}`);
  return listOverride(problems, 'env', entries, SMOLFILE_LIMITS.maxEnv, stringOnly(tryParseEnvEntry));
}

/**
 * Merges a Smolfile (if any) with command-line overrides into one machine's configuration, applying the
 * precedence CLI flag > [dev] or [pack] > top level > default. Throws a `SmolfileError` with code
 * `SMOLVM_ERR_SMOLFILE_OVERRIDE_INVALID` listing every problem with the overrides.
 */
export function resolveMachineConfig(
  smolfile: Smolfile | undefined,
  cli: CliOverrides = {},
  options: ResolveMachineConfigOptions = {},
): MachineConfig {
  const problems = new OverrideProblems();
  if (options.dev === true && options.pack === true) {
    problems.add('SMOLVM_ERR_SMOLFILE_CONFLICT', 'options', '[dev] and [pack] cannot both apply', 'a machine is either run locally (dev) or packed (pack)');
  }
  const file = smolfile;
  const dev = options.dev === true ? file?.dev : undefined;
  const pack = options.pack === true ? file?.pack : undefined;

  const image = cli.image === undefined ? undefined : problems.take('image', tryParseImageReference(cli.image));
  const workdir = cli.workdir === undefined ? undefined : problems.take('workdir', tryParseGuestPath(cli.workdir));
  const user = cli.user === undefined ? undefined : problems.take('user', tryParseUser(cli.user));
  const cpus = integerOverride(problems, 'cpus', cli.cpus, SMOLFILE_LIMITS.cpus, '');
  const memoryMiB = integerOverride(problems, 'memoryMiB', cli.memoryMiB, SMOLFILE_LIMITS.memoryMiB, ' number of MiB');
  const storageGiB = integerOverride(problems, 'storageGiB', cli.storageGiB, SMOLFILE_LIMITS.storageGiB, ' number of GiB');
  const entrypoint = cli.entrypoint === undefined
    ? undefined
    : listOverride(problems, 'entrypoint', cli.entrypoint, SMOLFILE_LIMITS.maxArgs, stringOnly(tryParseArgument));
  const cmd = cli.cmd === undefined ? undefined : listOverride(problems, 'cmd', cli.cmd, SMOLFILE_LIMITS.maxArgs, stringOnly(tryParseArgument));
  const cliEnv = cliEnvEntries(problems, cli.env);
  const cliPorts = listOverride(problems, 'ports', cli.ports, SMOLFILE_LIMITS.maxPorts, (item) =>
    typeof item === 'object' && item !== null ? tryParsePortSpec(formatPortSpec(item as PortSpec)) : stringOnly(tryParsePortSpec)(item));
  const cwd = cli.cwd ?? process.cwd();
  const cliVolumes = listOverride(problems, 'volumes', cli.volumes, SMOLFILE_LIMITS.maxVolumes, (item) =>
    typeof item === 'object' && item !== null
      ? tryParseVolumeSpec(formatVolumeSpec(item as VolumeSpec), { baseDir: cwd })
      : stringOnly((text) => tryParseVolumeSpec(text, { baseDir: cwd }))(item));
  const cliInit = listOverride(problems, 'init', cli.init, SMOLFILE_LIMITS.maxInit, stringOnly(tryParseShellCommand));
  const cliHosts = listOverride(problems, 'allowHosts', cli.allowHosts, SMOLFILE_LIMITS.maxAllowHosts, stringOnly(tryParseHostPattern));
  const cliCidrs = listOverride(problems, 'allowCidrs', cli.allowCidrs, SMOLFILE_LIMITS.maxAllowCidrs, stringOnly(tryParseCidr));
  if (cli.restartPolicy !== undefined && !['never', 'on-failure', 'always'].includes(cli.restartPolicy)) {
    problems.add('SMOLVM_ERR_SMOLFILE_RANGE', 'restartPolicy', 'expected one of "never", "on-failure" or "always"');
  }
  if (cli.net === false && (cliHosts.length > 0 || cliCidrs.length > 0)) {
    problems.add('SMOLVM_ERR_SMOLFILE_CONFLICT', 'net', 'is false, but allowHosts or allowCidrs are given', 'drop one of them');
  }
  const secrets = file?.secrets ?? {};
  for (const entry of cliEnv) {
    if (Object.hasOwn(secrets, entry.name)) {
      problems.add('SMOLVM_ERR_SMOLFILE_CONFLICT', 'env', `${entry.name} is declared as a secret in the Smolfile`, 'remove the env override or the secret');
    }
  }

  if (problems.problems.length > 0) {
    const lines = problems.problems.map((problem) => formatProblem(problem, undefined));
    throw new SmolfileError('SMOLVM_ERR_SMOLFILE_OVERRIDE_INVALID', `invalid machine settings:\n${lines.join('\n')}`, {
      problems: problems.problems,
      hint: 'fix the settings listed; each names the option it came from',
    });
  }

  const envEntries = mergeByKey<EnvEntry>([file?.env, dev?.env, pack?.env, cliEnv], (entry) => entry.name);
  const env: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const entry of envEntries) env[entry.name] = entry.value;

  const fileNetwork = file?.network;
  const allowHosts = [...(fileNetwork?.allowHosts ?? []), ...cliHosts];
  const allowCidrs = [...(fileNetwork?.allowCidrs ?? []), ...cliCidrs];
  const net = cli.net ?? file?.net ?? (allowHosts.length > 0 || allowCidrs.length > 0 ? true : MACHINE_DEFAULTS.net);

  const restart: RestartConfig = file?.restart ?? {
    policy: MACHINE_DEFAULTS.restart.policy,
    maxBackoffMs: MACHINE_DEFAULTS.restart.maxBackoffMs,
  };

  const config: MachineConfig = {
    image: image ?? file?.image,
    entrypoint: entrypoint ?? pack?.entrypoint ?? file?.entrypoint,
    cmd: cmd ?? pack?.cmd ?? file?.cmd,
    env,
    workdir: workdir ?? dev?.workdir ?? pack?.workdir ?? file?.workdir,
    user: user ?? pack?.user ?? file?.user,
    cpus: cpus ?? pack?.cpus ?? file?.cpus ?? MACHINE_DEFAULTS.cpus,
    memoryMiB: memoryMiB ?? pack?.memoryMiB ?? file?.memoryMiB ?? MACHINE_DEFAULTS.memoryMiB,
    storageGiB: storageGiB ?? pack?.storageGiB ?? file?.storageGiB ?? MACHINE_DEFAULTS.storageGiB,
    net,
    network: net ? { allowHosts, allowCidrs } : { allowHosts: [], allowCidrs: [] },
    ports: mergeByKey<PortSpec>([file?.ports, dev?.ports, cliPorts], portKey),
    volumes: mergeByKey<VolumeSpec>([file?.volumes, dev?.volumes, cliVolumes], volumeKey),
    init: [...(file?.init ?? []), ...(dev?.init ?? []), ...(pack?.init ?? []), ...cliInit],
    auth: {
      sshAgent: cli.sshAgent ?? file?.auth?.sshAgent ?? false,
      sshKeys: file?.auth?.sshKeys ?? [],
    },
    health: file?.health,
    restart: cli.restartPolicy === undefined ? restart : { ...restart, policy: cli.restartPolicy },
    secrets,
  };
  return dropUndefined(config);
}

/** Removes keys whose value is undefined, so that optional settings are absent rather than present-but-empty. */
function dropUndefined<T extends object>(value: T): T {
  const copy = { ...value } as Record<string, unknown>;
  for (const key of Object.keys(copy)) if (copy[key] === undefined) delete copy[key];
  return copy as T;
}
