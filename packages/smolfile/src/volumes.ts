// Volume specs: "HOST:GUEST" or "HOST:GUEST:ro". A relative host path is taken from a base directory (the
// Smolfile's directory for a Smolfile, the working directory for a CLI flag).
import { isAbsolute, posix, resolve } from 'node:path';
import { SMOLFILE_LIMITS } from './limits.js';
import { formatError, ok, quote, unwrap, type SpecFailure, type SpecResult } from './spec-result.js';

export interface VolumeSpec {
  /** Absolute host path (once resolved; see {@link parseVolumeSpec}). */
  readonly hostPath: string;
  /** Absolute, normalised path in the machine. */
  readonly guestPath: string;
  readonly readOnly: boolean;
}

export interface VolumeSpecOptions {
  /** Directory relative host paths start from. Defaults to `process.cwd()`. */
  readonly baseDir?: string;
}

export const VOLUME_SPEC_FORM =
  '"HOST:GUEST" or "HOST:GUEST:ro", where HOST is a host path (relative paths start from the Smolfile\'s directory) and GUEST an absolute path in the machine';

/**
 * Parses a volume spec without resolving a relative host path: `hostPath` is then returned as written (normalised,
 * still relative). Used by the schema, which learns the base directory only after validation.
 */
export function tryParseVolumeSpecUnresolved(text: string): SpecResult<VolumeSpec> {
  if (typeof text !== 'string') return formatError(`expected ${VOLUME_SPEC_FORM}`);
  const shown = quote(text);
  const malformed = (reason: string, hint?: string): SpecFailure => formatError(`invalid volume ${shown}: ${reason}`, hint);
  if (text.length === 0) return malformed(`empty; expected ${VOLUME_SPEC_FORM}`);
  if (text.length > 2 * SMOLFILE_LIMITS.maxPathLength + 3) return malformed('too long');
  if (text.includes('\0')) return malformed('contains a NUL character');
  const parts = text.split(':');
  if (parts.length < 2) return malformed(`expected ${VOLUME_SPEC_FORM}`, 'add the path in the machine, e.g. "./data:/data"');
  if (parts.length > 3) return malformed(`expected ${VOLUME_SPEC_FORM}`, 'paths that contain ":" cannot be mounted');
  const [host = '', guest = '', mode] = parts;
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') {
    return malformed(`unknown option ${quote(mode)}`, 'the only options are "ro" (read-only) and "rw" (read-write, the default)');
  }
  if (host === '') return malformed('the host path is empty');
  if (host.startsWith('~')) {
    return malformed('"~" is not expanded', 'write the full path, or a path relative to the Smolfile\'s directory');
  }
  if (!guest.startsWith('/')) return malformed('the path in the machine must be absolute (start with "/")');
  if (guest.split('/').includes('..')) return malformed('the path in the machine must not contain ".."');
  const guestPath = posix.normalize(guest).replace(/(.)\/$/, '$1');
  if (guestPath === '/') return malformed('cannot mount over the machine\'s root directory');
  const hostPath = isAbsolute(host) ? resolve(host) : posix.normalize(host);
  return ok({ hostPath, guestPath, readOnly: mode === 'ro' });
}

/** Resolves a relative host path of a parsed volume against `baseDir`. */
export function resolveVolumeHostPath(spec: VolumeSpec, baseDir: string): VolumeSpec {
  return isAbsolute(spec.hostPath) ? spec : { ...spec, hostPath: resolve(baseDir, spec.hostPath) };
}

/** Parses a volume spec, resolving a relative host path against `baseDir`, or says why it is not one. */
export function tryParseVolumeSpec(text: string, options: VolumeSpecOptions = {}): SpecResult<VolumeSpec> {
  const parsed = tryParseVolumeSpecUnresolved(text);
  if (!parsed.ok) return parsed;
  return ok(resolveVolumeHostPath(parsed.value, options.baseDir ?? process.cwd()));
}

/**
 * Parses a volume spec: `"./data:/data"`, `"/srv/site:/var/www:ro"`. A relative host path is resolved against
 * `options.baseDir` (default: the current directory). Throws a `SmolfileError` (`SMOLVM_ERR_SMOLFILE_FORMAT`) for
 * anything else.
 */
export function parseVolumeSpec(text: string, options: VolumeSpecOptions = {}): VolumeSpec {
  return unwrap(tryParseVolumeSpec(text, options));
}

/** Writes a volume spec back as text. */
export function formatVolumeSpec(spec: VolumeSpec): string {
  return `${spec.hostPath}:${spec.guestPath}${spec.readOnly ? ':ro' : ''}`;
}
