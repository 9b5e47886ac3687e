// The shared root directory of libkrunfw-kernel VMs (krun-root.ts): its contents and modes, that it is
// built once per agent and reused, rebuilt when damaged, and safe for concurrent creators (in this
// process and in others). And reading the agent back out of an initramfs.
import { execFile } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { agentFromInitramfs, KRUN_ROOT_AGENT_PATH, KRUN_ROOT_DIRS, krunRootCacheDir, prepareKrunRoot } from '../src/krun-root.js';
import { writeFakeInitramfs } from './krun-fixtures.js';

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function cacheDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'smolvm-krun-root-test-'));
  dirs.push(d);
  return join(d, 'cache', 'krun-root');
}

const AGENT = Buffer.from('\x7fELF pretend static agent\n'.repeat(100));

describe('prepareKrunRoot', () => {
  it('holds the agent (0755) and the empty mount-point directories (0755), nothing else', async () => {
    const cache = await cacheDir();
    const root = await prepareKrunRoot(AGENT, { cacheDir: cache });
    expect(root.startsWith(`${cache}/v1-`)).toBe(true);
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
    // No temporary or stale directories left beside it.
    expect(await readdir(cache)).toEqual([root.slice(cache.length + 1)]);
  });

  it('is idempotent: the same agent reuses the same directory untouched; another agent gets its own', async () => {
    const cache = await cacheDir();
    const first = await prepareKrunRoot(AGENT, { cacheDir: cache });
    const before = await lstat(join(first, KRUN_ROOT_AGENT_PATH));
    const again = await prepareKrunRoot(AGENT, { cacheDir: cache });
    expect(again).toBe(first);
    expect((await lstat(join(again, KRUN_ROOT_AGENT_PATH))).ino).toBe(before.ino);
    const other = await prepareKrunRoot(Buffer.concat([AGENT, Buffer.from('v2')]), { cacheDir: cache });
    expect(other).not.toBe(first);
    expect((await readdir(cache)).length).toBe(2);
  });

  it('rebuilds a directory whose agent was changed, or that lacks a mount point, or is a symlink', async () => {
    const cache = await cacheDir();
    const root = await prepareKrunRoot(AGENT, { cacheDir: cache });
    await writeFile(join(root, KRUN_ROOT_AGENT_PATH), 'tampered');
    expect(await prepareKrunRoot(AGENT, { cacheDir: cache })).toBe(root);
    expect(await readFile(join(root, KRUN_ROOT_AGENT_PATH))).toEqual(AGENT);

    await rm(join(root, 'proc'), { recursive: true });
    await prepareKrunRoot(AGENT, { cacheDir: cache });
    expect((await lstat(join(root, 'proc'))).isDirectory()).toBe(true);

    await chmod(join(root, KRUN_ROOT_AGENT_PATH), 0o644);
    await prepareKrunRoot(AGENT, { cacheDir: cache });
    expect(((await lstat(join(root, KRUN_ROOT_AGENT_PATH))).mode & 0o777).toString(8)).toBe('755');

    const elsewhere = await mkdtemp(join(tmpdir(), 'smolvm-krun-root-elsewhere-'));
    dirs.push(elsewhere);
    await rm(root, { recursive: true });
    await symlink(elsewhere, root);
    await prepareKrunRoot(AGENT, { cacheDir: cache });
    expect((await lstat(root)).isDirectory()).toBe(true);
    expect(await readdir(elsewhere)).toEqual([]);
    expect((await readdir(cache)).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('is safe for many concurrent creators in one process: one directory, complete, no leftovers', async () => {
    const cache = await cacheDir();
    const roots = await Promise.all(Array.from({ length: 12 }, () => prepareKrunRoot(AGENT, { cacheDir: cache })));
    expect(new Set(roots).size).toBe(1);
    expect(await readFile(join(roots[0]!, KRUN_ROOT_AGENT_PATH))).toEqual(AGENT);
    expect(await readdir(cache)).toEqual([roots[0]!.slice(cache.length + 1)]);
  });

  it('is safe for concurrent creators in separate processes', async () => {
    const cache = await cacheDir();
    const agentFile = join(cache, '..', '..', 'agent.bin');
    await writeFile(agentFile, AGENT);
    // The children run the current source: krun-root.ts and errors.ts (its only local import) transpiled
    // to JavaScript with TypeScript's own transpiler.
    const ts = (await import('typescript')).default;
    const out = join(cache, '..', '..', 'js');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'package.json'), '{"type":"module"}');
    for (const name of ['krun-root', 'errors']) {
      const src = await readFile(new URL(`../src/${name}.ts`, import.meta.url), 'utf8');
      const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      await writeFile(join(out, `${name}.js`), js);
    }
    const module = pathToFileURL(join(out, 'krun-root.js'));
    const script = `import(${JSON.stringify(module.href)}).then(async (m) => { const fs = await import('node:fs'); ` +
      `process.stdout.write(await m.prepareKrunRoot(fs.readFileSync(${JSON.stringify(agentFile)}), { cacheDir: ${JSON.stringify(cache)} })); })`;
    const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--input-type=module', '-e', script])));
    const roots = new Set(outs.map((o) => o.stdout));
    expect(roots.size).toBe(1);
    const root = [...roots][0]!;
    expect(await readFile(join(root, KRUN_ROOT_AGENT_PATH))).toEqual(AGENT);
    expect(await readdir(cache)).toEqual([root.slice(cache.length + 1)]);
  });

  it('lives under SMOLVM_CACHE_DIR, else XDG_CACHE_HOME/smolvm, else ~/.cache/smolvm', () => {
    expect(krunRootCacheDir({ SMOLVM_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/c/krun-root');
    expect(krunRootCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/smolvm/krun-root');
    expect(krunRootCacheDir({ HOME: '/h' })).toBe('/h/.cache/smolvm/krun-root');
  });

  it('says what to do when the cache directory cannot be written', async () => {
    const base = await cacheDir();
    await writeFile(join(base, '..', '..', 'file'), 'not a directory');
    await expect(prepareKrunRoot(AGENT, { cacheDir: join(base, '..', '..', 'file', 'krun-root') })).rejects.toMatchObject({
      code: 'SMOLVM_ERR_BOOT_FAILED',
      hint: expect.stringMatching(/SMOLVM_CACHE_DIR/),
    });
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
