// Turns a staging tree plus its metadata table into an ext4 image: `mke2fs -d` copies the tree, then one
// `debugfs -w -f -` session sets what the host tree could not hold (owners, set-id bits, device nodes,
// fifos, xattrs). No step needs root.
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InodeMeta, InodeType } from './staging.js';
import { runTool, toolPath } from './tools.js';

export interface WriteExt4Options {
  stagingDir: string;
  meta: ReadonlyMap<string, InodeMeta>;
  /** The image file to write (replaced if present). */
  output: string;
  /** Size of the file system; computed from the content when absent. */
  sizeMiB?: number;
  label?: string;
  /** Seeds the file system UUID and directory hash, so one image always gives the same disk layout. */
  seed?: string;
  /** Folder for scratch files (xattr values); a sibling of the staging tree when absent. */
  scratchDir?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Owner for inodes the table does not describe (default: root). Gets the host owner. */
  mapOwner?: (uid: number, gid: number) => { uid: number; gid: number };
  /** Set host mtimes from the table before copying (default true; false for a caller's own tree). */
  setTimes?: boolean;
}

export interface Ext4Stats {
  sizeMiB: number;
  inodes: number;
  contentBytes: number;
}

const TYPE_BITS: Record<InodeType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
};

/** Quotes an argument for debugfs' command parser: double quotes, with `"` written twice. */
export function debugfsQuote(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

function hostType(mode: number): InodeType | 'socket' {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return 'file';
  }
}

function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Size for a tree: content × 1.3 plus inode tables and slack, in whole MiB (at least 16). */
export function ext4SizeMiB(contentBytes: number, inodes: number): number {
  const bytes = contentBytes * 1.3 + inodes * 256 + 8 * 2 ** 20;
  return Math.max(16, roundUp(Math.ceil(bytes / 2 ** 20), 4));
}

export async function writeExt4Image(opts: WriteExt4Options): Promise<Ext4Stats> {
  const { stagingDir, meta } = opts;
  const cmds: string[] = [];
  const scratch = opts.scratchDir ?? `${stagingDir}.scratch`;
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  let xattrFiles = 0;
  const xattrCmds = (imagePath: string, x: Map<string, Buffer> | undefined): void => {
    if (!x) return;
    for (const [name, value] of x) {
      const f = join(scratch, `x${xattrFiles++}`);
      writeFileSync(f, value, { mode: 0o600 });
      cmds.push(`ea_set -f ${debugfsQuote(f)} ${debugfsQuote(imagePath)} ${debugfsQuote(name)}`);
    }
  };

  // The root: mke2fs makes it 0:0 0755 whatever the staging root's host mode is.
  const rootMeta = meta.get('') ?? { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 };
  if ((rootMeta.mode & 0o7777) !== 0o755) cmds.push(`sif "/" mode 0${(TYPE_BITS.dir | rootMeta.mode).toString(8)}`);
  if (rootMeta.uid !== 0) cmds.push(`sif "/" uid ${rootMeta.uid}`);
  if (rootMeta.gid !== 0) cmds.push(`sif "/" gid ${rootMeta.gid}`);
  if (rootMeta.mtime > 0) cmds.push(`sif "/" mtime @${rootMeta.mtime}`);
  xattrCmds('/', rootMeta.xattrs);

  let inodes = 1;
  let contentBytes = 0;
  let hasLostFound = false;
  const seen = new Set<number>();
  const utimes: Array<[string, number]> = [];
  const stack: string[] = [''];
  while (stack.length > 0) {
    const dirRel = stack.pop() as string;
    const dirAbs = dirRel === '' ? stagingDir : join(stagingDir, dirRel);
    let dirBytes = 0;
    for (const name of readdirSync(dirAbs)) {
      dirBytes += 8 + roundUp(Buffer.byteLength(name), 4);
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      if (rel === 'lost+found') hasLostFound = true;
      const abs = join(stagingDir, rel);
      const st = lstatSync(abs);
      const htype = hostType(st.mode);
      if (htype === 'dir') stack.push(rel);
      if (seen.has(st.ino)) continue; // another name of a hard-linked inode: the inode is already handled
      seen.add(st.ino);
      inodes++;
      if (htype === 'file') contentBytes += roundUp(st.size, 4096);
      if (htype === 'symlink' && st.size > 59) contentBytes += 4096;
      const imagePath = `/${rel}`;
      const q = debugfsQuote(imagePath);
      let m = meta.get(rel);
      // A placeholder: a regular empty file on the host standing for a device node or fifo of the image.
      const placeholder = m !== undefined && (m.type === 'char' || m.type === 'block' || m.type === 'fifo') && htype === 'file' && st.size === 0;
      if (m === undefined || (!placeholder && m.type !== htype)) {
        const owner = opts.mapOwner ? opts.mapOwner(st.uid, st.gid) : { uid: 0, gid: 0 };
        m = { type: htype === 'socket' ? 'file' : htype, mode: st.mode & 0o7777, ...owner, mtime: Math.floor(st.mtimeMs / 1000) };
      }
      if (placeholder) {
        const slash = imagePath.lastIndexOf('/');
        const parent = slash === 0 ? '/' : imagePath.slice(0, slash);
        const spec = m.type === 'fifo' ? 'p' : `${m.type === 'char' ? 'c' : 'b'} ${m.devmajor ?? 0} ${m.devminor ?? 0}`;
        cmds.push(`rm ${q}`, `cd ${debugfsQuote(parent)}`, `mknod ${debugfsQuote(imagePath.slice(slash + 1))} ${spec}`, 'cd "/"');
        cmds.push(`sif ${q} mode 0${(TYPE_BITS[m.type] | m.mode).toString(8)}`, `sif ${q} uid ${m.uid}`, `sif ${q} gid ${m.gid}`);
        if (m.mtime > 0) cmds.push(`sif ${q} mtime @${m.mtime}`);
      } else {
        const want = (st.mode & 0o170000) | (m.mode & 0o7777);
        if (htype !== 'symlink' && want !== (st.mode & 0o177777)) cmds.push(`sif ${q} mode 0${want.toString(8)}`);
        if (m.uid !== st.uid) cmds.push(`sif ${q} uid ${m.uid}`);
        if (m.gid !== st.gid) cmds.push(`sif ${q} gid ${m.gid}`);
        if (opts.setTimes !== false) utimes.push([abs, m.mtime]);
      }
      xattrCmds(imagePath, m.xattrs);
      if (m.xattrs && m.xattrs.size > 0) contentBytes += 4096; // may not fit in the inode: one block
    }
    contentBytes += Math.max(4096, roundUp(dirBytes * 1.2, 4096));
  }
  // Timestamps last, so that writing a directory's children does not move its own mtime again.
  for (const [abs, mtime] of utimes) lutimesSync(abs, mtime, mtime);
  // mke2fs always makes /lost+found; an image that does not have one should not get one.
  if (!hasLostFound) cmds.push('rmdir "/lost+found"');

  const sizeMiB = opts.sizeMiB ?? ext4SizeMiB(contentBytes, inodes);
  const inodeCount = Math.max(64, Math.ceil(inodes * 1.25) + 64);
  const uuid = uuidFrom(opts.seed ?? opts.output);
  const env = opts.env ?? process.env;
  try {
    rmSync(opts.output, { force: true });
    await runTool(toolPath('mke2fs', env), [
      '-q', '-F', '-t', 'ext4', '-O', '^has_journal', '-b', '4096', '-I', '256', '-N', String(inodeCount), '-m', '0',
      '-E', `root_owner=0:0,hash_seed=${uuid}`, '-U', uuid, '-L', (opts.label ?? 'smolvm-image').slice(0, 16),
      '-d', stagingDir, opts.output, `${sizeMiB}M`,
    ], { env, timeoutMs: opts.timeoutMs ?? 600_000 });
    if (cmds.length > 0) {
      await runTool(toolPath('debugfs', env), ['-w', '-f', '-', opts.output], {
        input: `${cmds.join('\n')}\n`,
        strictStderr: true,
        env,
        timeoutMs: opts.timeoutMs ?? 600_000,
      });
    }
    const fd = openSync(opts.output, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return { sizeMiB, inodes, contentBytes };
}
