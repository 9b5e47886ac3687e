import { Machine, isSmolvmError, normalizePorts, normalizeVolumes, type MachineConfigInput, type RestartPolicy, type VolumeMount } from '@smolvm/core';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';
import { smolfileForCreate, type SmolfileFlags } from '../smolfile/apply.js';

export interface CreateFlags extends SmolfileFlags {
  image?: string;
  cpus?: number;
  mem?: number;
  storage?: number;
  env?: string[];
  workdir?: string;
  init?: string[];
  restart?: string;
  /** -p [ADDR:]HOST:GUEST (repeatable); false from --no-publish (update: publish none). */
  publish?: string[] | false;
  /** -v HOST:GUEST[:ro] (repeatable), relative host paths from the working directory; false from --no-volume. */
  volume?: string[] | false;
  json?: boolean;
}

function restartPolicy(v: string | undefined): RestartPolicy | undefined {
  if (v === undefined) return undefined;
  if (v === 'never' || v === 'on-failure' || v === 'always') return v;
  throw new UsageError(`--restart ${v} is not a restart policy`, 'Use never, on-failure or always.');
}

export function configFromFlags(flags: CreateFlags, cwd: string = process.cwd()): MachineConfigInput {
  const policy = restartPolicy(flags.restart);
  return {
    ...(flags.image !== undefined ? { image: flags.image } : {}),
    ...(flags.cpus !== undefined ? { cpus: flags.cpus } : {}),
    ...(flags.mem !== undefined ? { memoryMiB: flags.mem } : {}),
    ...(flags.storage !== undefined ? { storageGiB: flags.storage } : {}),
    ...(flags.env !== undefined ? { env: flags.env } : {}),
    ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
    ...(flags.init !== undefined ? { init: flags.init } : {}),
    ...(policy ? { restartPolicy: policy } : {}),
    ...(flags.publish !== undefined ? { ports: portFlags(flags.publish) } : {}),
    ...(flags.volume !== undefined ? { volumes: volumeFlags(flags.volume, cwd) } : {}),
  };
}

/** -v entries as volumes, relative host paths from `cwd`; a bad one is a usage error (false: --no-volume). */
export function volumeFlags(specs: string[] | false, cwd: string): VolumeMount[] {
  if (specs === false) return [];
  try {
    return normalizeVolumes(specs, cwd);
  } catch (e) {
    if (isSmolvmError(e) && e.code === 'SMOLVM_ERR_INVALID_VOLUME') throw new UsageError(`-v: ${e.message}`, (e as { hint?: string }).hint);
    throw e;
  }
}

/** -p entries, checked now so a bad one is a usage error naming the flag (false: --no-publish, none). */
export function portFlags(specs: string[] | false): string[] {
  if (specs === false) return [];
  try {
    normalizePorts(specs);
  } catch (e) {
    if (isSmolvmError(e) && e.code === 'SMOLVM_ERR_INVALID_PORT') throw new UsageError(`-p: ${e.message}`, (e as { hint?: string }).hint);
    throw e;
  }
  return specs;
}

export async function machineCreate(io: Io, name: string | undefined, flags: CreateFlags): Promise<number> {
  // A Smolfile (-s PATH, or ./Smolfile) supplies the settings; the flags beat it.
  const fromFlags = configFromFlags(flags, io.cwd);
  const config = (await smolfileForCreate(io, flags, fromFlags)) ?? fromFlags;
  const m = await Machine.create(name ?? 'default', { ...config, hostEnv: io.env });
  const info = await m.inspect();
  if (flags.json) io.stdout.write(JSON.stringify(info, null, 2) + '\n');
  else io.stdout.write(`${info.name}\n`);
  return 0;
}

export async function machineUpdate(io: Io, name: string | undefined, flags: CreateFlags): Promise<number> {
  const patch = configFromFlags(flags, io.cwd);
  if (Object.keys(patch).length === 0) throw new UsageError('nothing to update', 'Give at least one of --cpus, --mem, --storage, -e, -w, --init, --restart, -p, --no-publish, -v, --no-volume.');
  const m = await Machine.get(name ?? 'default', { hostEnv: io.env });
  await m.update(patch);
  io.stdout.write(`${m.name}\n`);
  return 0;
}
