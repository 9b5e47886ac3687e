import { Machine, imageCommand, normalizeEnv, parseDuration, resolveImage, type ResolvedImage } from '@smolvm/core';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';
import { runAttached } from '../../attach.js';
import { smolfileForRun, type SmolfileFlags } from '../smolfile/apply.js';
import { portFlags, volumeFlags } from './create.js';
import { progressBars } from '../image/progress.js';
import { imageSource, pullOptions, type ImageFlags } from '../image/source.js';

export interface MachineRunFlags extends SmolfileFlags, ImageFlags {
  /** An image to boot instead of the default one (see ../image/source.ts). */
  image?: string;
  /** Replaces the image's Entrypoint ('' clears it). */
  entrypoint?: string;
  cpus?: number;
  mem?: number;
  env?: string[];
  workdir?: string;
  user?: string;
  interactive?: boolean;
  tty?: boolean;
  timeout?: string;
  /** -v HOST:GUEST[:ro] (repeatable); relative host paths start from the working directory. */
  volume?: string[];
  /** -p [ADDR:]HOST:GUEST (repeatable). */
  publish?: string[];
}

export function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const plain = /^\d+$/.test(text) ? `${text}s` : text;
  try {
    const ms = parseDuration(plain);
    if (ms <= 0) throw new Error('zero');
    return ms;
  } catch {
    throw new UsageError(`--timeout ${text} is not a duration`, 'Use a duration such as 30s, 5m or 1h (a bare number means seconds).');
  }
}

function entrypointFlag(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  return text === '' ? [] : [text];
}

/** Resolves --image (pull or import, build the disk), with progress bars on a terminal. */
async function pullWithProgress(io: Io, flags: MachineRunFlags, signal: AbortSignal): Promise<ResolvedImage> {
  const bars = progressBars(io);
  try {
    return await resolveImage(await imageSource(io, flags.image!), {
      ...pullOptions(io, flags),
      signal,
      ...(bars.onProgress ? { onProgress: bars.onProgress } : {}),
    });
  } finally {
    bars.done();
  }
}

export async function machineRun(io: Io, cmd: string[], flags: MachineRunFlags): Promise<number> {
  // A Smolfile (-s PATH, or ./Smolfile) supplies the command, resources, env, workdir, user and init commands.
  const smolfile = await smolfileForRun(io, cmd, flags);
  if (smolfile) ({ cmd, flags } = smolfile);
  if (cmd.length === 0 && flags.image === undefined) {
    throw new UsageError('missing the command to run', 'Put it after --, e.g.: smolvm machine run -- uname -a');
  }
  if (flags.entrypoint !== undefined && (flags.image === undefined || smolfile)) {
    throw new UsageError('--entrypoint replaces the Entrypoint of --image', smolfile ? 'Set entrypoint in the Smolfile instead.' : 'Give --image too, or put the command after --.');
  }
  if (flags.image === '-' && flags.interactive) {
    throw new UsageError('--image - and -i both want stdin', 'Save the archive to a file and give its path to --image.');
  }
  const timeoutMs = parseTimeout(flags.timeout);
  normalizeEnv(flags.env ?? []); // bad -e entries are refused before anything boots
  // With a Smolfile, -v has been merged into its volumes (and checked there); else bad -v entries are refused here.
  const volumes = smolfile ? smolfile.volumes : volumeFlags(flags.volume ?? [], io.cwd);
  const ports = smolfile ? smolfile.ports : portFlags(flags.publish ?? []);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let machine: Machine | undefined;
  let image: ResolvedImage | undefined;
  try {
    if (flags.image !== undefined) {
      image = await pullWithProgress(io, flags, abort.signal);
      // As docker run: the image's Entrypoint, then the command after -- (else the image's Cmd). A
      // Smolfile's command has had that done already.
      if (!smolfile) cmd = imageCommand(image.config, cmd.length > 0 ? cmd : undefined, entrypointFlag(flags.entrypoint));
      if (cmd.length === 0) {
        throw new UsageError(`missing the command to run: ${flags.image} sets no Entrypoint or Cmd`, 'Put it after --, e.g.: smolvm machine run --image IMAGE -- sh');
      }
    }
    machine = await Machine.boot({
      ...(image ? { image } : {}),
      ...(flags.cpus !== undefined ? { cpus: flags.cpus } : {}),
      ...(flags.mem !== undefined ? { memoryMiB: flags.mem } : {}),
      ...(volumes.length > 0 ? { volumes } : {}),
      ...(ports.length > 0 ? { ports, onPortError: (m: string) => void io.stderr.write(`smolvm: ${m}\n`) } : {}),
      hostEnv: io.env,
      signal: abort.signal,
      ...(io.env.SMOLVM_QUIET ? {} : { onNotice: (m: string) => void io.stderr.write(`${m}\n`) }),
    });
  } catch (e) {
    if (abort.signal.aborted) return 130;
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  try {
    if (abort.signal.aborted) return 130;
    await smolfile?.init(machine);
    return await runAttached(io, machine, cmd, { ...flags, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  } finally {
    await machine.stop();
  }
}
