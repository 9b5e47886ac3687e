// smolvm machine cp SRC DST: one side is NAME:PATH (a guest path), the other a host path. Directories copy
// recursively, modes are kept, and host-side files are written to a temporary name and renamed, so a
// failed copy leaves no partial file.
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Machine, type FsEntry } from '@smolvm/core';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';

interface Side {
  machine?: string;
  path: string;
}

function parseSide(s: string): Side {
  const m = /^([a-z0-9][a-z0-9_.-]{0,62}):(.*)$/.exec(s);
  if (m && !s.startsWith('/') && !s.startsWith('./')) return { machine: m[1]!, path: m[2] || '/' };
  return { path: s };
}

export async function machineCp(io: Io, src: string, dst: string): Promise<number> {
  const from = parseSide(src);
  const to = parseSide(dst);
  if ((from.machine === undefined) === (to.machine === undefined)) {
    throw new UsageError('exactly one side of cp must be NAME:PATH', 'For example: smolvm machine cp ./app.tar dev:/root/ or smolvm machine cp dev:/var/log ./logs');
  }
  if (to.machine !== undefined) {
    await using m = await Machine.get(to.machine, { hostEnv: io.env });
    const target = await guestTarget(m, to.path, basename(from.path));
    await upload(m, from.path, target);
  } else {
    await using m = await Machine.get(from.machine!, { hostEnv: io.env });
    let target = to.path;
    try {
      if ((await lstat(target)).isDirectory()) target = join(target, posix.basename(from.path));
    } catch {
      /* a new name */
    }
    await download(m, from.path, target);
  }
  return 0;
}

async function guestTarget(m: Machine, path: string, name: string): Promise<string> {
  if (path.endsWith('/')) return posix.join(path, name);
  try {
    const st = await m.files.stat(path);
    if (st.kind === 'directory') return posix.join(path, name);
  } catch {
    /* a new name */
  }
  return path;
}

async function upload(m: Machine, hostPath: string, guestPath: string): Promise<void> {
  const st = await lstat(hostPath);
  if (st.isDirectory()) {
    await m.files.mkdir(guestPath, { mode: st.mode & 0o7777, parents: true });
    for (const name of await readdir(hostPath)) await upload(m, join(hostPath, name), posix.join(guestPath, name));
  } else if (st.isFile()) {
    await m.files.write(guestPath, createReadStream(hostPath), { mode: st.mode & 0o7777 });
  }
  // Other kinds (symlinks, devices) are skipped, like cp without -a.
}

async function download(m: Machine, guestPath: string, hostPath: string): Promise<void> {
  const st: FsEntry = await m.files.stat(guestPath);
  if (st.kind === 'directory') {
    await mkdir(hostPath, { recursive: true, mode: st.mode });
    for (const e of await m.files.list(guestPath)) await download(m, posix.join(guestPath, e.name), join(hostPath, e.name));
    return;
  }
  if (st.kind !== 'file') return;
  await mkdir(dirname(hostPath), { recursive: true });
  const tmp = join(dirname(hostPath), `.${basename(hostPath)}.smolvm-${process.pid}.tmp`);
  try {
    await pipeline(await m.files.readStream(guestPath), createWriteStream(tmp, { mode: 0o600 }));
    await chmod(tmp, st.mode);
    await rename(tmp, hostPath);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
