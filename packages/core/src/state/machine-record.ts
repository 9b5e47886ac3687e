// The shape of a persistent machine as the store keeps it, and the checks a configuration passes before it
// is written. Callers (CLI, SDK, Smolfile resolution) check user input with friendlier messages first; these
// checks are the last line, so nothing invalid reaches the database whoever calls the store.
import { SmolvmError, ErrorCode } from '../errors.js';
import { normalizeEnv } from '../options.js';
import { normalizePorts, type PortInput, type PortMapping } from '../ports.js';
import { normalizeVolumes, type VolumeInput, type VolumeMount } from '../volumes.js';

export type MachineState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
export type RestartPolicy = 'never' | 'on-failure' | 'always';

export const MACHINE_STATES: readonly MachineState[] = ['created', 'starting', 'running', 'stopping', 'stopped', 'failed'];

/** States in which a supervisor process owns the machine; a record in one of them names that supervisor. */
export const ACTIVE_STATES: ReadonlySet<MachineState> = new Set<MachineState>(['starting', 'running', 'stopping']);

/**
 * The lifecycle: `created|stopped -> starting -> running -> stopping -> stopped`; `starting` may also stop
 * (cancelled) and `running` may stop on its own (the workload ended); any state may go to `failed`; a failed
 * machine may be started again or marked stopped.
 */
export const STATE_TRANSITIONS: Readonly<Record<MachineState, readonly MachineState[]>> = {
  created: ['starting', 'failed'],
  starting: ['running', 'stopping', 'stopped', 'failed'],
  running: ['stopping', 'stopped', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: ['starting', 'failed'],
  failed: ['starting', 'stopped'],
};

/** A health check, shaped like `@smolvm/smolfile`'s `HealthCheck` so one can be passed as the other. */
export interface MachineHealthCheck {
  /** The command, as argv. */
  exec: string[];
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures before the machine counts as unhealthy. */
  retries: number;
  /** Failures during this time after start do not count. */
  startupGraceMs: number;
}

export interface MachineHealthCheckInput {
  exec: readonly string[];
  intervalMs?: number;
  timeoutMs?: number;
  retries?: number;
  startupGraceMs?: number;
}

/** What a machine is: everything `updateMachine` can change (while the machine is stopped). */
export interface MachineConfig {
  /** Image reference, or null for the default image. */
  image: string | null;
  cpus: number;
  memoryMiB: number;
  /** Size of the machine's writable disk. */
  storageGiB: number;
  /** `KEY=VALUE` entries. */
  env: string[];
  workdir: string | null;
  /** Shell commands run at every start, before the workload. */
  init: string[];
  restartPolicy: RestartPolicy;
  /** Restarts after consecutive failures before giving up; null means no limit. */
  restartMaxRetries: number | null;
  /** Longest wait between restarts. */
  restartMaxBackoffMs: number;
  health: MachineHealthCheck | null;
  /** Published ports, bound by the supervisor while the machine runs. */
  ports: PortMapping[];
  /** Host directories mounted at every start (absolute host paths). */
  volumes: VolumeMount[];
}

/** Input form of `MachineConfig`: every field optional (defaults apply), lists may be readonly. */
export interface MachineConfigInput {
  image?: string | null;
  cpus?: number;
  memoryMiB?: number;
  storageGiB?: number;
  env?: readonly string[];
  workdir?: string | null;
  init?: readonly string[];
  restartPolicy?: RestartPolicy;
  restartMaxRetries?: number | null;
  restartMaxBackoffMs?: number;
  health?: MachineHealthCheckInput | null;
  /** `"HOST:GUEST"`, `"ADDRESS:HOST:GUEST"` or `{ hostPort, guestPort, hostAddress? }` (host port 1..65535). */
  ports?: readonly PortInput[];
  /** `"HOST:GUEST[:ro]"` or `{ hostPath, guestPath, readOnly? }`; relative host paths start from `process.cwd()`. */
  volumes?: readonly VolumeInput[];
}

export interface MachineSpec extends MachineConfigInput {
  name: string;
}

/** Fields `updateMachine` may change; unset fields keep their value, `null` clears a nullable one. */
export type MachineConfigPatch = MachineConfigInput;

export interface MachineRecord extends MachineConfig {
  name: string;
  /** Random, never reused; tells apart two machines that had the same name at different times. */
  id: string;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601; changes with every write to the record. */
  updatedAt: string;
  state: MachineState;
  /** The supervisor that owns the machine (set while starting/running/stopping), or null. */
  supervisorPid: number | null;
  /** That supervisor's start time (see `processStartTime`), so a reused pid is not mistaken for it. */
  supervisorStartTime: string | null;
  lastExitReason: string | null;
  restartCount: number;
}

// The same defaults as `@smolvm/smolfile`'s MACHINE_DEFAULTS (repeated so the store needs no Smolfile).
export const MACHINE_CONFIG_DEFAULTS: Readonly<MachineConfig> = Object.freeze({
  image: null,
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

const HEALTH_DEFAULTS = { intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startupGraceMs: 0 } as const;

// Bounds as in `@smolvm/smolfile`'s SMOLFILE_LIMITS.
const LIMITS = {
  cpus: [1, 64],
  memoryMiB: [64, 262_144],
  storageGiB: [1, 2048],
  restartMaxRetries: [0, 1_000_000],
  restartMaxBackoffMs: [0, 24 * 3600_000],
  intervalMs: [1, 24 * 3600_000],
  timeoutMs: [1, 24 * 3600_000],
  retries: [1, 1_000_000],
  startupGraceMs: [0, 24 * 3600_000],
} as const;

const invalid = (message: string, hint?: string): SmolvmError => new SmolvmError(ErrorCode.INVALID_OPTION, message, { hint });

function int(field: keyof typeof LIMITS, value: unknown): number {
  const [min, max] = LIMITS[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${field} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

function stringList(field: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string' && !s.includes('\0'))) {
    throw invalid(`${field} must be a list of strings without NUL bytes`);
  }
  return [...(value as string[])];
}

function checkHealth(h: MachineHealthCheckInput): MachineHealthCheck {
  if (typeof h !== 'object' || h === null) throw invalid('health must be an object with an exec command, or null');
  const exec = stringList('health.exec', h.exec);
  if (exec.length === 0 || exec[0] === '') throw invalid('health.exec must name a command', 'For example ["pg_isready", "-q"].');
  return {
    exec,
    intervalMs: int('intervalMs', h.intervalMs ?? HEALTH_DEFAULTS.intervalMs),
    timeoutMs: int('timeoutMs', h.timeoutMs ?? HEALTH_DEFAULTS.timeoutMs),
    retries: int('retries', h.retries ?? HEALTH_DEFAULTS.retries),
    startupGraceMs: int('startupGraceMs', h.startupGraceMs ?? HEALTH_DEFAULTS.startupGraceMs),
  };
}

/** `base` with `input` applied over it, checked. Throws `SMOLVM_ERR_INVALID_OPTION` saying what is wrong. */
export function resolveMachineConfig(input: MachineConfigInput, base: MachineConfig = MACHINE_CONFIG_DEFAULTS): MachineConfig {
  const pick = <K extends keyof MachineConfigInput>(k: K): MachineConfigInput[K] | MachineConfig[K] =>
    input[k] !== undefined ? input[k] : base[k];

  const image = pick('image');
  if (image !== null && (typeof image !== 'string' || image === '' || image.includes('\0'))) {
    throw invalid('image must be a non-empty image reference, or null for the default image');
  }
  const workdir = pick('workdir');
  if (workdir !== null && (typeof workdir !== 'string' || !workdir.startsWith('/') || workdir.includes('\0'))) {
    throw invalid(`workdir must be an absolute path in the machine, got ${JSON.stringify(workdir)}`);
  }
  const restartPolicy = pick('restartPolicy');
  if (restartPolicy !== 'never' && restartPolicy !== 'on-failure' && restartPolicy !== 'always') {
    throw invalid(`restartPolicy must be "never", "on-failure" or "always", got ${JSON.stringify(restartPolicy)}`);
  }
  const maxRetries = pick('restartMaxRetries');
  const health = pick('health');
  return {
    image,
    cpus: int('cpus', pick('cpus')),
    memoryMiB: int('memoryMiB', pick('memoryMiB')),
    storageGiB: int('storageGiB', pick('storageGiB')),
    env: normalizeEnv(stringList('env', pick('env'))),
    workdir,
    init: stringList('init', pick('init')),
    restartPolicy,
    restartMaxRetries: maxRetries === null ? null : int('restartMaxRetries', maxRetries),
    restartMaxBackoffMs: int('restartMaxBackoffMs', pick('restartMaxBackoffMs')),
    health: health == null ? null : checkHealth(health),
    ports: checkPorts(pick('ports')),
    volumes: normalizeVolumes(pick('volumes')),
  };
}

function checkPorts(input: readonly PortInput[] | undefined): PortMapping[] {
  const ports = normalizePorts(input);
  const any = ports.find((p) => p.hostPort === 0);
  if (any) {
    throw new SmolvmError(ErrorCode.INVALID_PORT, `a persistent machine publishes fixed host ports; got host port 0 for guest port ${any.guestPort}`, {
      hint: `Name the host port, e.g. "8080:${any.guestPort}".`,
    });
  }
  return ports;
}
