// Reads an ext4 image with debugfs (read-only), the way a person would check it by hand.
import { execFileSync } from 'node:child_process';

export interface ImageInode {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  links: number;
  /** Symlink target (fast links only; slow ones via `imageCat`). */
  linkTarget?: string;
  /** `major:minor` in decimal, for device nodes. */
  device?: string;
  mtime?: number;
}

function debugfs(img: string, request: string): string {
  return execFileSync('debugfs', ['-R', request, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

export function imageStat(img: string, path: string): ImageInode | null {
  const out = debugfs(img, `stat "${path.replaceAll('"', '""')}"`);
  if (!out.includes('Inode:')) return null;
  const type = /Type: ([A-Za-z ]+?)\s+Mode:/.exec(out)?.[1] ?? '?';
  const mode = parseInt(/Mode:\s+(\d+)/.exec(out)?.[1] ?? '0', 8);
  const uid = Number(/User:\s+(\d+)/.exec(out)?.[1]);
  const gid = Number(/Group:\s+(\d+)/.exec(out)?.[1]);
  const size = Number(/Size: (\d+)/.exec(out)?.[1]);
  const links = Number(/Links: (\d+)/.exec(out)?.[1]);
  const r: ImageInode = { type, mode, uid, gid, size, links };
  const fast = /Fast link dest: "(.*)"/.exec(out);
  if (fast) r.linkTarget = fast[1];
  const dev = /Device major\/minor number: ([0-9a-f]+):([0-9a-f]+)/.exec(out);
  if (dev) r.device = `${parseInt(dev[1] as string, 16)}:${parseInt(dev[2] as string, 16)}`;
  const mt = /mtime: 0x([0-9a-f]+)/.exec(out);
  if (mt) r.mtime = parseInt(mt[1] as string, 16);
  return r;
}

/** Names in a directory of the image (without . and ..). */
export function imageLs(img: string, dir: string): string[] {
  const out = debugfs(img, `ls -p "${dir.replaceAll('"', '""')}"`);
  // -p prints /ino/mode/uid/gid/name/size/ per entry.
  return out
    .split('\n')
    .map((l) => /^\/\d+\/\d+\/\d+\/\d+\/(.*)\/[^/]*\/$/.exec(l.trim())?.[1])
    .filter((n): n is string => n !== undefined && n !== '.' && n !== '..');
}

export function imageCat(img: string, path: string): Buffer {
  return execFileSync('debugfs', ['-R', `cat "${path.replaceAll('"', '""')}"`, img], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

export function imageXattrs(img: string, path: string): string {
  return debugfs(img, `ea_list "${path.replaceAll('"', '""')}"`);
}

/** e2fsck -fn: throws when the file system has errors. */
export function fsck(img: string): void {
  execFileSync('e2fsck', ['-fn', img], { stdio: ['ignore', 'pipe', 'pipe'] });
}
