// Applies image layers to a staging directory as an unprivileged user. The staging tree holds only
// directories, regular files, symlinks and hard links, with host modes that keep it writable and never
// set-id; everything the host cannot (or must not) hold — owners, set-id bits, device numbers, fifos,
// xattrs — goes into a metadata table that the ext4 builder applies to the image afterwards.
//
// Containment: entry names are cleaned lexically and may not climb above the root (refused); symlinks met
// while resolving a parent directory are followed *inside* the staging root, as if chrooted (contained);
// the final component is never followed; files are created with O_EXCL|O_NOFOLLOW after the old name is
// removed. The staging root is private (0700) and only this code writes to it.
import {
  closeSync,
  constants,
  fchmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  chmodSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { OciError } from './errors.js';
import { readTar, type ByteSource, type TarReadLimits, type TarEntryWithBody } from './tar.js';

export type InodeType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

/** What the image says about one inode; the builder makes the ext4 inode match it. */
export interface InodeMeta {
  type: InodeType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

export interface ApplyLayerStats {
  entries: number;
  whiteouts: number;
}

const MAX_SYMLINK_HOPS = 40;
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

function escape(name: string, why: string): OciError {
  return new OciError('SMOLVM_ERR_OCI_PATH_ESCAPE', `layer entry ${JSON.stringify(name.slice(0, 300))} ${why}`, {
    hint: 'The image contains a path that points outside its own root filesystem; this is refused. Use an image from a source you trust, or rebuild it.',
    path: name,
  });
}

function invalid(name: string, why: string, cause?: unknown): OciError {
  return new OciError('SMOLVM_ERR_OCI_LAYER_INVALID', `layer entry ${JSON.stringify(name.slice(0, 300))} ${why}`, {
    hint: 'The layer is malformed; rebuild the image or report it to whoever publishes it.',
    path: name,
    cause,
  });
}

/**
 * Extended attributes that go into the image: the four namespaces ext4 stores, minus `trusted.overlay.*`,
 * which the guest's overlayfs would read as instructions (opaque dirs, redirects) on this lower layer.
 */
export function keepXattr(name: string): boolean {
  if (!/^(user|trusted|security|system)\.[^\0\n\r]+$/.test(name)) return false;
  return !name.startsWith('trusted.overlay.');
}

/** Splits an entry name into clean components; `..` that would climb above the root is refused. */
export function cleanEntryPath(name: string): string[] {
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) throw escape(name, 'climbs above the root with ".."');
      parts.pop();
      continue;
    }
    if (c.includes('\0')) throw invalid(name, 'contains a NUL byte');
    // debugfs reads one command per line: a name with a line break could not be addressed in the image.
    if (c.includes('\n') || c.includes('\r')) throw invalid(name, 'contains a line break, which smolvm cannot put into an ext4 image');
    if (Buffer.byteLength(c) > 255) throw invalid(name, 'has a component longer than 255 bytes');
    parts.push(c);
  }
  return parts;
}

function hostDirMode(mode: number): number {
  return (mode & 0o777) | 0o700;
}

function hostFileMode(mode: number): number {
  return (mode & 0o777) | 0o600;
}

function lstatOrUndefined(p: string): Stats | undefined {
  return lstatSync(p, { throwIfNoEntry: false });
}

function fsError(name: string, e: unknown): OciError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENAMETOOLONG') return invalid(name, 'has a path too long for the host file system', e);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new OciError('SMOLVM_ERR_OCI_TOO_LARGE', `no space left while unpacking ${JSON.stringify(name.slice(0, 200))}`, {
      hint: 'Free disk space in the cache directory (smolvm image prune) or point SMOLVM_CACHE_DIR at a larger disk.',
      path: name,
      cause: e,
    });
  }
  return invalid(name, `could not be unpacked: ${(e as Error).message}`, e);
}

export class StagingTree {
  /** Metadata per staging-relative path ('' is the root). Paths absent from the host tree are ignored. */
  readonly meta = new Map<string, InodeMeta>();
  /** Paths created or changed by the layer being applied, and their ancestors (whiteouts spare them). */
  private touched = new Set<string>();

  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    chmodSync(root, 0o700);
    this.meta.set('', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  private touch(rel: string): void {
    let r = rel;
    for (;;) {
      if (this.touched.has(r)) return;
      this.touched.add(r);
      if (r === '') return;
      const i = r.lastIndexOf('/');
      r = i < 0 ? '' : r.slice(0, i);
    }
  }

  /**
   * Resolves a directory path inside the root, following symlinks as if the root were `/`. With `create`,
   * missing directories are made (root-owned, 0755, as Docker does) and a non-directory in the way is
   * replaced; without it, undefined comes back when the directory does not exist.
   */
  private resolveDir(parts: string[], entryName: string, create: boolean): string | undefined {
    const resolved: string[] = [];
    const queue = [...parts];
    let hops = 0;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        resolved.pop();
        continue;
      }
      const rel = resolved.length === 0 ? c : `${resolved.join('/')}/${c}`;
      const p = this.abs(rel);
      const st = lstatOrUndefined(p);
      if (st?.isSymbolicLink()) {
        if (++hops > MAX_SYMLINK_HOPS) throw invalid(entryName, 'goes through too many levels of symbolic links');
        const target = readlinkSync(p);
        if (target.startsWith('/')) resolved.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      }
      if (st?.isDirectory()) {
        resolved.push(c);
        continue;
      }
      if (!create) return undefined;
      if (st) unlinkSync(p);
      mkdirSync(p, { mode: 0o755 });
      chmodSync(p, 0o755);
      this.meta.set(rel, { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
      this.touch(rel);
      resolved.push(c);
    }
    return resolved.join('/');
  }

  /** Removes what lower layers put at `rel`, keeping whatever the current layer created there. */
  private removeLower(rel: string): void {
    const p = this.abs(rel);
    if (!this.touched.has(rel)) {
      rmSync(p, { recursive: true, force: true });
      return;
    }
    const st = lstatOrUndefined(p);
    if (st?.isDirectory()) for (const child of readdirSync(p)) this.removeLower(rel === '' ? child : `${rel}/${child}`);
  }

  private clearForNonDir(p: string, st: Stats | undefined): void {
    if (!st) return;
    if (st.isDirectory()) rmSync(p, { recursive: true, force: true });
    else unlinkSync(p);
  }

  /** Applies one layer (an uncompressed tar stream). Whiteouts remove what lower layers made. */
  async applyLayer(source: ByteSource, limits: TarReadLimits = {}): Promise<ApplyLayerStats> {
    this.touched = new Set();
    const stats: ApplyLayerStats = { entries: 0, whiteouts: 0 };
    for await (const entry of readTar(source, limits)) {
      stats.entries++;
      if (await this.applyEntry(entry)) stats.whiteouts++;
    }
    this.touched = new Set();
    return stats;
  }

  /** Returns true when the entry was a whiteout. */
  private async applyEntry(entry: TarEntryWithBody): Promise<boolean> {
    const parts = cleanEntryPath(entry.name);
    const base = parts[parts.length - 1];
    try {
      if (base !== undefined && base.startsWith(WHITEOUT_PREFIX)) {
        const parentRel = this.resolveDir(parts.slice(0, -1), entry.name, false);
        if (parentRel === undefined) return true;
        if (base === OPAQUE) {
          const p = this.abs(parentRel);
          for (const child of readdirSync(p)) this.removeLower(parentRel === '' ? child : `${parentRel}/${child}`);
        } else if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
          // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not part of the file system.
        } else {
          const name = base.slice(WHITEOUT_PREFIX.length);
          if (name === '' || name === '.' || name === '..') throw invalid(entry.name, 'is a whiteout for an invalid name');
          this.removeLower(parentRel === '' ? name : `${parentRel}/${name}`);
        }
        return true;
      }
      if (base === undefined) {
        if (entry.type !== 'dir') throw invalid(entry.name, 'names the root but is not a directory');
        this.meta.set('', this.metaOf(entry, 'dir'));
        chmodSync(this.root, 0o700);
        return false;
      }
      const parentRel = this.resolveDir(parts.slice(0, -1), entry.name, true) as string;
      const rel = parentRel === '' ? base : `${parentRel}/${base}`;
      const p = this.abs(rel);
      const st = lstatOrUndefined(p);
      this.touch(rel);
      switch (entry.type) {
        case 'dir':
          if (!st?.isDirectory()) {
            this.clearForNonDir(p, st);
            mkdirSync(p, { mode: 0o700 });
          }
          chmodSync(p, hostDirMode(entry.mode));
          this.meta.set(rel, this.metaOf(entry, 'dir'));
          break;
        case 'file':
          this.clearForNonDir(p, st);
          await this.writeFile(p, entry);
          this.meta.set(rel, this.metaOf(entry, 'file'));
          break;
        case 'symlink':
          this.clearForNonDir(p, st);
          symlinkSync(entry.linkname, p);
          this.meta.set(rel, this.metaOf(entry, 'symlink'));
          break;
        case 'char':
        case 'block':
        case 'fifo':
          // A placeholder the host can hold; the builder replaces it with the real node in the image.
          this.clearForNonDir(p, st);
          closeSync(openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
          this.meta.set(rel, this.metaOf(entry, entry.type));
          break;
        case 'hardlink':
          this.hardlink(entry, rel, p, st);
          break;
      }
      return false;
    } catch (e) {
      if (e instanceof OciError) throw e;
      throw fsError(entry.name, e);
    }
  }

  private hardlink(entry: TarEntryWithBody, rel: string, p: string, st: Stats | undefined): void {
    const targetParts = cleanEntryPath(entry.linkname);
    const tbase = targetParts[targetParts.length - 1];
    if (tbase === undefined) throw invalid(entry.name, 'is a hard link to the root directory');
    const tparent = this.resolveDir(targetParts.slice(0, -1), entry.name, false);
    if (tparent === undefined) throw invalid(entry.name, `is a hard link to ${JSON.stringify(entry.linkname.slice(0, 200))}, which does not exist`);
    const trel = tparent === '' ? tbase : `${tparent}/${tbase}`;
    const tp = this.abs(trel);
    const tst = lstatOrUndefined(tp);
    if (!tst) throw invalid(entry.name, `is a hard link to ${JSON.stringify(entry.linkname.slice(0, 200))}, which does not exist`);
    if (tst.isDirectory()) throw invalid(entry.name, 'is a hard link to a directory');
    if (trel === rel) return;
    const tmeta = this.meta.get(trel);
    this.clearForNonDir(p, st);
    if (tmeta && (tmeta.type === 'char' || tmeta.type === 'block' || tmeta.type === 'fifo')) {
      // Device and fifo placeholders are replaced one by one in the image; each name gets its own node.
      closeSync(openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
    } else {
      linkSync(tp, p);
    }
    this.meta.set(rel, tmeta ? { ...tmeta } : this.metaOf(entry, tst.isSymbolicLink() ? 'symlink' : 'file'));
  }

  private async writeFile(p: string, entry: TarEntryWithBody): Promise<void> {
    const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of entry.body) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      }
      fchmodSync(fd, hostFileMode(entry.mode));
    } finally {
      closeSync(fd);
    }
  }

  private metaOf(entry: TarEntryWithBody, type: InodeType): InodeMeta {
    const m: InodeMeta = { type, mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, mtime: Math.floor(entry.mtime) };
    if (type === 'char' || type === 'block') {
      // ext4 (like Linux's dev_t) holds 12 bits of major and 20 bits of minor number.
      if (entry.devmajor > 0xfff || entry.devminor > 0xfffff) throw invalid(entry.name, `has device number ${entry.devmajor}:${entry.devminor}, which does not fit in ext4`);
      m.devmajor = entry.devmajor;
      m.devminor = entry.devminor;
    }
    const xattrs = [...entry.xattrs].filter(([name]) => keepXattr(name));
    if (xattrs.length > 0) m.xattrs = new Map(xattrs);
    return m;
  }
}
