// Host directories shared into a VM ("volumes"). The SDK accepts `HOST:GUEST[:ro]` strings (parsed by
// @smolvm/smolfile's `parseVolumeSpec`) or objects; both become `VolumeMount`s here, checked before anything
// boots. Engines share volume i under the tag `smolvm<i>` (9p under QEMU, virtio-fs under libkrun) and tell
// the agent where to mount it with `smolvm.volume=TAG:GUEST[:ro][:virtiofs]` on the kernel command line.
import { stat } from 'node:fs/promises';
import { isAbsolute, posix, resolve } from 'node:path';
import { parseVolumeSpec } from '@smolvm/smolfile/volumes';
import { ErrorCode, SmolvmError } from './errors.js';

/** A host directory mounted in the guest. `hostPath` is absolute, `guestPath` absolute and normalised. */
export interface VolumeMount {
  hostPath: string;
  guestPath: string;
  readOnly: boolean;
}

/** A volume as the SDK takes it: `"HOST:GUEST"`, `"HOST:GUEST:ro"`, or an object. */
export type VolumeInput = string | { hostPath: string; guestPath: string; readOnly?: boolean };

/** At most this many volumes per VM (the agent takes 32; the kernel command line is short). */
export const MAX_VOLUMES = 16;
/** Longest guest path, in bytes. */
export const MAX_VOLUME_GUEST_PATH = 255;

/** The share tag of volume `index`. */
export function volumeTag(index: number): string {
  return `smolvm${index}`;
}

function invalid(message: string, hint?: string): SmolvmError {
  return new SmolvmError(ErrorCode.INVALID_VOLUME, message, hint === undefined ? {} : { hint });
}

/** Checks and normalises a guest path: absolute, no `..`, nothing the kernel command line cannot carry. */
function checkGuestPath(guest: unknown, shown: string): string {
  if (typeof guest !== 'string' || guest === '') throw invalid(`volume ${shown}: the path in the machine is missing`);
  if (!guest.startsWith('/')) throw invalid(`volume ${shown}: the path in the machine must be absolute (start with "/")`);
  if (guest.split('/').includes('..')) {
    throw invalid(`volume ${shown}: the path in the machine must not contain ".."`, 'Write the path without ".." components.');
  }
  // The path travels on the kernel command line, whose entries are separated by spaces, and the agent splits
  // the entry on ":". Refuse rather than escape.
  // eslint-disable-next-line no-control-regex
  if (/[\s:"\u0000-\u001f\u007f]/.test(guest)) {
    throw invalid(`volume ${shown}: the path in the machine must not contain spaces, ":", quotes or control characters`, 'Mount at a plainer path, e.g. /data.');
  }
  const guestPath = posix.normalize(guest).replace(/(.)\/$/, '$1');
  if (guestPath === '/') throw invalid(`volume ${shown}: cannot mount over the machine's root directory`);
  if (Buffer.byteLength(guestPath) > MAX_VOLUME_GUEST_PATH) throw invalid(`volume ${shown}: the path in the machine is longer than ${MAX_VOLUME_GUEST_PATH} bytes`);
  return guestPath;
}

/**
 * Turns the SDK's volume inputs into `VolumeMount`s: relative host paths start from `cwd`. Throws
 * `SMOLVM_ERR_INVALID_VOLUME` for a malformed one, a guest path with `..`, spaces or ":", two volumes on one
 * guest path, or more than {@link MAX_VOLUMES}. Does not look at the host (see {@link checkVolumeHostDirs}).
 */
export function normalizeVolumes(inputs: readonly VolumeInput[] | undefined, cwd: string = process.cwd()): VolumeMount[] {
  if (inputs === undefined) return [];
  if (!Array.isArray(inputs)) throw invalid('volumes must be an array', 'For example: ["./data:/data", { hostPath: "/srv", guestPath: "/srv", readOnly: true }]');
  if (inputs.length > MAX_VOLUMES) throw invalid(`too many volumes (${inputs.length}); at most ${MAX_VOLUMES}`);
  const out: VolumeMount[] = [];
  for (const input of inputs as readonly unknown[]) {
    let mount: VolumeMount;
    if (typeof input === 'string') {
      let parsed;
      try {
        parsed = parseVolumeSpec(input, { baseDir: cwd });
      } catch (e) {
        const err = e as { message?: string; hint?: string };
        throw new SmolvmError(ErrorCode.INVALID_VOLUME, err.message ?? `invalid volume "${input}"`, {
          ...(err.hint !== undefined ? { hint: err.hint } : {}),
          cause: e,
        });
      }
      mount = { hostPath: parsed.hostPath, guestPath: checkGuestPath(parsed.guestPath, JSON.stringify(input)), readOnly: parsed.readOnly };
    } else if (typeof input === 'object' && input !== null) {
      const o = input as { hostPath?: unknown; guestPath?: unknown; readOnly?: unknown };
      const shown = `${typeof o.hostPath === 'string' ? o.hostPath : '?'} -> ${typeof o.guestPath === 'string' ? o.guestPath : '?'}`;
      if (typeof o.hostPath !== 'string' || o.hostPath === '') throw invalid(`volume ${shown}: hostPath must be a non-empty string`);
      if (o.hostPath.includes('\0')) throw invalid(`volume ${shown}: the host path contains a NUL character`);
      if (o.readOnly !== undefined && typeof o.readOnly !== 'boolean') throw invalid(`volume ${shown}: readOnly must be true or false`);
      mount = {
        hostPath: isAbsolute(o.hostPath) ? resolve(o.hostPath) : resolve(cwd, o.hostPath),
        guestPath: checkGuestPath(o.guestPath, shown),
        readOnly: o.readOnly === true,
      };
    } else {
      throw invalid('each volume must be a "HOST:GUEST[:ro]" string or { hostPath, guestPath, readOnly? }');
    }
    if (out.some((v) => v.guestPath === mount.guestPath)) throw invalid(`two volumes are mounted on ${mount.guestPath}`);
    out.push(mount);
  }
  return out;
}

/** Throws `SMOLVM_ERR_VOLUME_NOT_FOUND`, naming it, for a host path that is missing or not a directory. */
export async function checkVolumeHostDirs(volumes: readonly VolumeMount[]): Promise<void> {
  for (const v of volumes) {
    let isDir: boolean;
    try {
      isDir = (await stat(v.hostPath)).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new SmolvmError(
        ErrorCode.VOLUME_NOT_FOUND,
        code === 'ENOENT' ? `volume host directory ${v.hostPath} does not exist` : `cannot use volume host directory ${v.hostPath}: ${code ?? (e as Error).message}`,
        { hint: `Create it (mkdir -p ${v.hostPath}) or fix the volume's host path.`, cause: e },
      );
    }
    if (!isDir) {
      throw new SmolvmError(ErrorCode.VOLUME_NOT_FOUND, `volume host path ${v.hostPath} is not a directory`, {
        hint: 'Volumes share directories; mount the directory that holds the file.',
      });
    }
  }
}

/** The agent's kernel command line entries for `volumes` (`smolvm.volume=TAG:GUEST[:ro][:virtiofs]`). */
export function volumeKernelArgs(volumes: readonly VolumeMount[] | undefined, fs: '9p' | 'virtiofs'): string[] {
  return (volumes ?? []).map(
    (v, i) => `smolvm.volume=${volumeTag(i)}:${v.guestPath}${v.readOnly ? ':ro' : ''}${fs === 'virtiofs' ? ':virtiofs' : ''}`,
  );
}
