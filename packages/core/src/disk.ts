import { spawn } from 'node:child_process';
import { rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { ErrorCode, SmolvmError } from './errors.js';

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new SmolvmError(ErrorCode.UNSUPPORTED_HOST, `cannot run ${cmd}: ${e.message}`, { hint: 'Install e2fsprogs.', cause: e })));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new SmolvmError(ErrorCode.UNSUPPORTED_HOST, `${cmd} failed: ${err.trim()}`))));
  });
}

/** Grows a (stopped) machine's ext4 disk to `sizeGiB`; never shrinks. */
export async function growDisk(path: string, sizeGiB: number): Promise<void> {
  const { size } = await stat(path);
  const want = sizeGiB * 1024 * 1024 * 1024;
  if (want <= size) return;
  await truncate(path, want);
  await run('e2fsck', ['-f', '-y', '-q', path]).catch(() => {});
  await run('resize2fs', ['-f', path]);
}

/** Makes an empty, sparse ext4 image of `sizeMiB` (only written blocks use host disk space). */
export async function buildExt4Empty(path: string, sizeMiB: number, label: string): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, '', { mode: 0o600 });
    await truncate(tmp, sizeMiB * 1024 * 1024);
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.env.SMOLVM_MKE2FS ?? 'mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label, '-E', 'lazy_itable_init=1,lazy_journal_init=1,discard', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) => reject(new SmolvmError(ErrorCode.UNSUPPORTED_HOST, `cannot run mke2fs: ${e.message}`, { hint: 'Install e2fsprogs.', cause: e })));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new SmolvmError(ErrorCode.UNSUPPORTED_HOST, `mke2fs failed: ${err.trim()}`))));
    });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
