// Builds ext4 images from a directory tree with e2fsprogs, as an ordinary user: mke2fs -d copies the tree,
// debugfs then fixes ownership where the image should say root even though the host files are ours.
import { spawn } from 'node:child_process';
import { readdir, lstat, rm, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { GuestError } from './errors.js';

export interface BuildExt4Options {
  /** Directory whose contents become the file system root. */
  sourceDir: string;
  output: string;
  sizeMiB: number;
  label?: string;
  /** Make every inode owned by 0:0 (for images built from files the host user owns). */
  rootOwned?: boolean;
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) =>
      reject(
        new GuestError('SMOLVM_ERR_GUEST_TOOL_MISSING', `could not run ${cmd}: ${e.message}`, {
          hint: 'Install e2fsprogs (Debian/Ubuntu: apt-get install e2fsprogs; macOS: brew install e2fsprogs).',
          cause: e,
        }),
      ),
    );
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new GuestError('SMOLVM_ERR_GUEST_TOOL_FAILED', `${cmd} ${args.join(' ')} failed (exit ${code}): ${err.trim()}`));
    });
    child.stdin.end(input ?? '');
  });
}

async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(join(root, rel))) {
    const p = rel === '' ? name : `${rel}/${name}`;
    out.push(p);
    const st = await lstat(join(root, p));
    if (st.isDirectory()) out.push(...(await walk(root, p)));
  }
  return out;
}

export async function buildExt4(opts: BuildExt4Options): Promise<void> {
  const tmp = `${opts.output}.tmp`;
  await rm(tmp, { force: true });
  try {
    const mkfs = process.env.SMOLVM_MKE2FS ?? 'mke2fs';
    await run(mkfs, [
      '-q', '-F', '-t', 'ext4', '-O', '^has_journal', '-E', 'root_owner=0:0',
      '-L', opts.label ?? 'smolvm', '-d', opts.sourceDir, tmp, `${opts.sizeMiB}M`,
    ]);
    if (opts.rootOwned) {
      const cmds = (await walk(opts.sourceDir)).flatMap((p) => [`sif "/${p}" uid 0`, `sif "/${p}" gid 0`]);
      await run(process.env.SMOLVM_DEBUGFS ?? 'debugfs', ['-w', '-f', '-', tmp], cmds.join('\n') + '\n');
    }
    await rename(tmp, opts.output);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
