// The root directory of a libkrunfw-kernel VM (krun-root.ts): its contents and modes, made fresh for each
// VM so nothing a guest wrote there survives, and cleaned up when it cannot be made. And reading the agent
// back out of an initramfs.
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { agentFromInitramfs, KRUN_ROOT_AGENT_PATH, KRUN_ROOT_DIRS, prepareKrunRoot } from '../src/krun-root.js';
import { writeFakeInitramfs } from './krun-fixtures.js';

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
  it('holds the agent (0755) and the empty mount-point directories (0755), nothing else', async () => {
    const run = await runDir();
    const root = await prepareKrunRoot(AGENT, join(run, 'krun-root'));
    expect(root).toBe(join(run, 'krun-root'));
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
  });

  it('starts from nothing each time: what a previous guest planted or changed is gone', async () => {
    const run = await runDir();
    const root = await prepareKrunRoot(AGENT, join(run, 'krun-root'));
    await writeFile(join(root, '.krun_config.json'), '{"Cmd":["/evil"]}');
    await writeFile(join(root, KRUN_ROOT_AGENT_PATH), 'replaced');
    await mkdir(join(root, 'tmp', 'junk'));
    await rm(join(root, 'proc'), { recursive: true });
    await symlink('/etc', join(root, 'proc'));
    await prepareKrunRoot(AGENT, root);
    expect((await readdir(root)).sort()).toEqual([...KRUN_ROOT_DIRS].sort());
    expect(await readFile(join(root, KRUN_ROOT_AGENT_PATH))).toEqual(AGENT);
    expect((await lstat(join(root, 'proc'))).isDirectory()).toBe(true);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });

  it('says what went wrong when the directory cannot be made, and leaves nothing', async () => {
    const run = await runDir();
    await writeFile(join(run, 'file'), 'not a directory');
    await expect(prepareKrunRoot(AGENT, join(run, 'file', 'krun-root'))).rejects.toMatchObject({
      code: 'SMOLVM_ERR_BOOT_FAILED',
      message: expect.stringMatching(/cannot make the libkrun root directory .*file\/krun-root/),
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
