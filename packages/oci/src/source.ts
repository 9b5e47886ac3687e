// What the user may name as an image: a registry reference, a `docker save` / OCI archive (file or
// stream), an OCI layout directory, or an unpacked root filesystem directory.
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { OciError } from './errors.js';
import { parseReference } from './reference.js';

export type ImageSource =
  | { type: 'registry'; reference: string }
  | { type: 'archive'; path: string }
  | { type: 'archive'; stream: AsyncIterable<Uint8Array>; label?: string }
  | { type: 'oci-layout'; path: string }
  | { type: 'rootfs'; path: string };

const PREFIXES: Array<[string, ImageSource['type']]> = [
  ['docker://', 'registry'],
  ['docker-archive:', 'archive'],
  ['oci-archive:', 'archive'],
  ['oci:', 'oci-layout'],
  ['rootfs:', 'rootfs'],
  ['dir:', 'rootfs'],
];

function looksLikePath(s: string): boolean {
  return s.startsWith('/') || s.startsWith('./') || s.startsWith('../') || s.startsWith('~/') || s === '.' || s === '..';
}

/**
 * Decides what `input` names. Explicit prefixes (`docker://`, `docker-archive:`, `oci-archive:`, `oci:`,
 * `rootfs:`/`dir:`) win; a path (`/…`, `./…`, `../…`, `~/…`) is looked at: a directory with an
 * `oci-layout` file is a layout, another directory a root filesystem, a file an archive; anything else
 * is a registry reference.
 */
export async function resolveImageSource(input: string | ImageSource, cwd = process.cwd()): Promise<ImageSource> {
  if (typeof input !== 'string') return input;
  const abs = (p: string): string => (p.startsWith('~/') ? join(homedir(), p.slice(2)) : isAbsolute(p) ? p : resolve(cwd, p));
  for (const [prefix, type] of PREFIXES) {
    if (!input.startsWith(prefix)) continue;
    const rest = input.slice(prefix.length);
    if (type === 'registry') {
      parseReference(rest);
      return { type, reference: rest };
    }
    if (rest === '') break;
    return { type, path: abs(rest) } as ImageSource;
  }
  if (looksLikePath(input)) {
    const p = abs(input);
    const st = await stat(p).catch(() => undefined);
    if (!st) {
      throw new OciError('SMOLVM_ERR_OCI_NOT_FOUND', `${p} does not exist`, {
        image: input,
        hint: 'Give an image archive (docker save, oci-archive), an OCI layout directory, a root filesystem directory, or a registry reference such as alpine:3.20.',
      });
    }
    if (st.isDirectory()) {
      const layout = await stat(join(p, 'oci-layout')).catch(() => undefined);
      return layout ? { type: 'oci-layout', path: p } : { type: 'rootfs', path: p };
    }
    return { type: 'archive', path: p };
  }
  parseReference(input);
  return { type: 'registry', reference: input };
}
