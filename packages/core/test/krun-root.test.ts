// The root directory of a libkrunfw-kernel VM (krun-root.ts): its contents and modes, one per VM, swept
// when its owner is gone, removable whatever its guest did to it. And reading the agent back out of an
// initramfs.
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { agentFromInitramfs, KRUN_ROOT_AGENT_PATH, KRUN_ROOT_DIRS, prepareKrunRoot, removeKrunRoot } from '../src/krun-root.js';
import { writeFakeInitramfs } from './krun-fixtures.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function runDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'smolvm-krun-root-test-'));
  dirs.push(d);
  return d;
}

const AGENT = Buffer.from('\x7fELF pretend static agent\n'.repeat(100));

describe('prepareKrunRoot', () => {
  it('holds the agent (0755) and the empty mount-point directories (0755), nothing else, in a directory of its own', async () => {
    const parent = join(await runDir(), 'krun-root');
    const root = await prepareKrunRoot(AGENT, parent);
    expect(root.startsWith(join(parent, `${process.pid}-`))).toBe(true);
    expect((await readdir(root)).sort()).toEqual([...KRUN_ROOT_DIRS].sort());
    expect(((await lstat(root)).mode & 0o7777).toString(8)).toBe('755');
    for (const d of KRUN_ROOT_DIRS) {
      const st = await lstat(join(root, d));
      expect(st.isDirectory(), d).toBe(true);
      expect((st.mode & 0o7777).toString(8), d).toBe('755');
      if (d !== '.smolvm') expect(await readdir(join(root, d)), d).toEqual([]);
    }
    expect(await readdir(join(root, '.smolvm'))).toEqual(['agent']);
    const agent = join(root, KRUN_ROOT_AGENT_PATH);
    expect(((await lstat(agent)).mode & 0o7777).toString(8)).toBe('755');
    expect(await readFile(agent)).toEqual(AGENT);
    // Every boot gets a new one.
    expect(await prepareKrunRoot(AGENT, parent)).not.toBe(root);
  });

  it('sweeps the directories of processes that are gone, and keeps those of live ones', async () => {
    const parent = join(await runDir(), 'krun-root');
    const mine = await prepareKrunRoot(AGENT, parent);
    // A pid above any pid_max is certainly gone; what its guest left (even made inaccessible) goes too.
    const dead = join(parent, '4194305-deadbeef');
    await mkdir(join(dead, 'deep'), { recursive: true });
    await writeFile(join(dead, 'deep', 'planted'), 'x');
    await chmod(join(dead, 'deep'), 0o000);
    const next = await prepareKrunRoot(AGENT, parent);
    expect((await readdir(parent)).sort()).toEqual([mine, next].map((p) => p.slice(parent.length + 1)).sort());
  });

  it('removes a root whose guest took permissions away, without following its symlinks', async () => {
    const parent = join(await runDir(), 'krun-root');
    const outside = join(await runDir(), 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'host file');
    const root = await prepareKrunRoot(AGENT, parent);
    await mkdir(join(root, 'tmp', 'locked', 'inner'), { recursive: true });
    await chmod(join(root, 'tmp', 'locked'), 0o000);
    await symlink(outside, join(root, 'tmp', 'link'));
    await removeKrunRoot(root);
    expect(await readdir(parent)).toEqual([]);
    expect(await readFile(join(outside, 'keep'), 'utf8')).toBe('host file');
  });

  it('removes it as an ordinary user too, where a plain recursive rm fails (as nobody, through setpriv, when run as root)', async () => {
    const work = await runDir();
    const script = `
      import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
      import { join } from 'node:path';
      import { prepareKrunRoot, removeKrunRoot } from ${JSON.stringify(fileURLToPath(new URL('../dist/krun-root.js', import.meta.url)))};
      const parent = join(${JSON.stringify(work)}, 'krun-root');
      const lock = async (root) => { await mkdir(join(root, 'tmp', 'locked', 'inner'), { recursive: true }); await chmod(join(root, 'tmp', 'locked'), 0); };
      const a = await prepareKrunRoot(Buffer.from('agent'), parent);
      await lock(a);
      const plain = await rm(a, { recursive: true, force: true }).then(() => 'removed', (e) => e.code);
      const b = await prepareKrunRoot(Buffer.from('agent'), parent);
      await lock(b);
      await removeKrunRoot(b);
      await removeKrunRoot(a);
      process.stdout.write(JSON.stringify({ uid: process.getuid(), plain, left: await readdir(parent) }));
    `;
    const asRoot = process.getuid?.() === 0;
    if (asRoot) await chown(work, 65534, 65534);
    const cmd = asRoot ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [process.execPath];
    const r = await run(cmd[0]!, [...cmd.slice(1), '--input-type=module', '-e', script]);
    const out = JSON.parse(r.stdout) as { uid: number; plain: string; left: string[] };
    expect(out.uid).not.toBe(0);
    expect(out.plain).toBe('EACCES'); // what removal without opening the directories up would do
    expect(out.left).toEqual([]);
  });

  it('says what went wrong when the directory cannot be made, and leaves nothing', async () => {
    const run = await runDir();
    await writeFile(join(run, 'file'), 'not a directory');
    await expect(prepareKrunRoot(AGENT, join(run, 'file', 'krun-root'))).rejects.toMatchObject({
      code: 'SMOLVM_ERR_BOOT_FAILED',
      message: expect.stringMatching(/cannot make a libkrun root directory in .*file\/krun-root/),
      hint: expect.stringMatching(/SMOLVM_CACHE_DIR/),
    });
    expect(await readdir(run)).toEqual(['file']);
  });
});

describe('agentFromInitramfs', () => {
  it('reads /init back out of an initramfs as @smolvm/guest writes it', async () => {
    const d = await mkdtemp(join(tmpdir(), 'smolvm-krun-initramfs-'));
    dirs.push(d);
    await writeFakeInitramfs(join(d, 'initramfs.cpio'), AGENT);
    expect(await agentFromInitramfs(join(d, 'initramfs.cpio'))).toEqual(AGENT);
  });

  it('refuses a file that is not such an initramfs, or is missing', async () => {
    const d = await mkdtemp(join(tmpdir(), 'smolvm-krun-initramfs-'));
    dirs.push(d);
    await writeFile(join(d, 'bogus'), 'initramfs');
    await expect(agentFromInitramfs(join(d, 'bogus'))).rejects.toMatchObject({ code: 'SMOLVM_ERR_GUEST_NOT_BUILT' });
    await expect(agentFromInitramfs(join(d, 'missing'))).rejects.toMatchObject({ code: 'SMOLVM_ERR_GUEST_NOT_BUILT' });
  });
});
