// hypervisorNode: the Node binary the libkrun runner starts with. macOS behaviour is exercised on any host
// with a stand-in codesign (fixtures/fake-codesign.sh) and a small stand-in "node" file; that proves the
// flow (which binary, copy, entitlements, signing, caching, errors), not Apple's codesign itself.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { HYPERVISOR_ENTITLEMENT, hypervisorNode } from '../src/hypervisor-node.js';

const fakeCodesign = fileURLToPath(new URL('./fixtures/fake-codesign.sh', import.meta.url));
const run = promisify(execFile);
const dirs: string[] = [];
afterEach(() => {
  delete process.env.FAKE_CODESIGN_LOG;
  delete process.env.FAKE_CODESIGN_FAIL;
  delete process.env.FAKE_CODESIGN_NOOP;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(): { dir: string; node: string; cacheDir: string; log: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'smolvm-hv-node-'));
  dirs.push(dir);
  const node = join(dir, 'node');
  writeFileSync(node, '#!/bin/sh\necho stand-in node\nexit 0\n');
  chmodSync(node, 0o755);
  const log = join(dir, 'codesign.log');
  process.env.FAKE_CODESIGN_LOG = log;
  const calls = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
  return { dir, node, cacheDir: join(dir, 'cache'), log, calls };
}

describe('hypervisorNode', () => {
  it('uses Node as it is off macOS, without running codesign', async () => {
    const t = setup();
    expect(await hypervisorNode({ platform: 'linux', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign })).toBe(t.node);
    expect(t.calls()).toEqual([]);
    expect(existsSync(t.cacheDir)).toBe(false);
  });

  it('on macOS signs a copy once with the hypervisor entitlement, and reuses it', async () => {
    const t = setup();
    const first = await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} });
    expect(first).not.toBe(t.node);
    expect(first.startsWith(join(t.cacheDir, 'krun-node'))).toBe(true);
    const copy = readFileSync(first, 'utf8');
    expect(copy.startsWith(readFileSync(t.node, 'utf8'))).toBe(true);
    expect(copy).toContain(`<key>${HYPERVISOR_ENTITLEMENT}</key>`);
    expect(readFileSync(t.node, 'utf8')).not.toContain('FAKE-ENTS'); // the original is untouched
    const signs = t.calls().filter((c) => c.startsWith('--sign'));
    expect(signs).toHaveLength(1);
    expect(signs[0]).toMatch(/^--sign - --force --entitlements \S+\.entitlements\.plist \S+$/);

    const again = await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} });
    expect(again).toBe(first);
    expect(t.calls().filter((c) => c.startsWith('--sign'))).toHaveLength(1);
    // Only the signed binary is left: no temporary copy, no entitlements file.
    expect(readdirSync(join(first, '..'))).toEqual(['node']);
  });

  it("keeps Node's own entitlements beside the hypervisor's", async () => {
    const t = setup();
    writeFileSync(t.node, '#!/bin/sh\nexit 0\nFAKE-ENTS:<dict><key>com.apple.security.cs.allow-jit</key><true/></dict>\n');
    const signed = await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} });
    const plist = readFileSync(`${t.log}.plist`, 'utf8');
    expect(plist).toMatch(/^<\?xml .*<plist version="1.0">\n<dict><key>com\.apple\.security\.cs\.allow-jit<\/key><true\/>\s*<key>com\.apple\.security\.hypervisor<\/key>\n\s*<true\/>\n<\/dict>\n<\/plist>\n$/s);
    expect(readFileSync(signed, 'utf8')).toContain('allow-jit');
  });

  it('uses a Node that already has the entitlement, and SMOLVM_KRUN_NODE as given', async () => {
    const t = setup();
    writeFileSync(t.node, `#!/bin/sh\nexit 0\nFAKE-ENTS:<dict><key>${HYPERVISOR_ENTITLEMENT}</key><true/></dict>\n`);
    expect(await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} })).toBe(t.node);
    expect(await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: { SMOLVM_KRUN_NODE: '/opt/node-hv' } })).toBe(
      '/opt/node-hv',
    );
  });

  it('says what went wrong when signing fails, leaves nothing behind, and tries again next time', async () => {
    const t = setup();
    process.env.FAKE_CODESIGN_FAIL = '1';
    await expect(hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} })).rejects.toMatchObject({
      code: 'SMOLVM_ERR_KRUN_RUNNER_UNSIGNED',
      message: expect.stringMatching(/exited with status 1: .*codesign_allocate helper tool cannot be found/),
      hint: expect.stringMatching(/xcode-select --install.*SMOLVM_KRUN_NODE.*SMOLVM_ENGINE=qemu/),
    });
    const keyDirs = readdirSync(join(t.cacheDir, 'krun-node'));
    expect(keyDirs.flatMap((k) => readdirSync(join(t.cacheDir, 'krun-node', k)))).toEqual([]);
    delete process.env.FAKE_CODESIGN_FAIL;
    const signed = await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} });
    expect(readFileSync(signed, 'utf8')).toContain(HYPERVISOR_ENTITLEMENT);
    // Removed behind this process's back (a cleared cache): made again rather than handed out missing.
    rmSync(signed);
    expect(await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} })).toBe(signed);
    expect(existsSync(signed)).toBe(true);
  });

  it('removes temporary copies a killed process left, and refuses a signature without the entitlement or a missing codesign', async () => {
    const t = setup();
    const first = await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: fakeCodesign, env: {} });
    const dir = join(first, '..');
    // A pid above any pid_max: that process is certainly gone.
    const stale = join(dir, '.node-4194305-deadbeef');
    const live = join(dir, `.node-${process.pid}-cafebabe`);
    writeFileSync(live, 'a copy being made right now');
    utimesSync(live, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    writeFileSync(stale, 'half a copy');
    utimesSync(stale, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
    rmSync(first);
    process.env.FAKE_CODESIGN_NOOP = '1';
    const other = { platform: 'darwin' as const, nodePath: t.node, cacheDir: join(t.dir, 'other-cache'), codesign: fakeCodesign, env: {} };
    await expect(hypervisorNode(other)).rejects.toThrow(/the signed copy does not show the entitlement/);
    delete process.env.FAKE_CODESIGN_NOOP;
    await hypervisorNode({ platform: 'darwin', nodePath: t.node, cacheDir: t.cacheDir, codesign: join(t.dir, 'no-codesign'), env: {} }).then(
      () => expect.unreachable(),
      (e: unknown) => expect(e).toMatchObject({ code: 'SMOLVM_ERR_KRUN_RUNNER_UNSIGNED', message: expect.stringMatching(/no-codesign is missing/) }),
    );
    // A fresh process (no in-process memo) rebuilds the removed copy and sweeps the stale one.
    const mod = fileURLToPath(new URL('../dist/hypervisor-node.js', import.meta.url));
    const script = `import { hypervisorNode } from ${JSON.stringify(mod)}; process.stdout.write(await hypervisorNode({ platform: 'darwin', nodePath: ${JSON.stringify(t.node)}, cacheDir: ${JSON.stringify(t.cacheDir)}, codesign: ${JSON.stringify(fakeCodesign)}, env: {} }));`;
    expect((await run(process.execPath, ['--input-type=module', '-e', script])).stdout).toBe(first);
    // The dead process's copy is gone; a live process's copy, however old its times, is left alone.
    expect(readdirSync(dir).sort()).toEqual([`.node-${process.pid}-cafebabe`, 'node']);
    rmSync(live);
  });

  it('gives concurrent processes one working signed binary', async () => {
    const t = setup();
    // The built module (the global setup builds dist/), in separate Node processes.
    const mod = fileURLToPath(new URL('../dist/hypervisor-node.js', import.meta.url));
    const script = `
      import { hypervisorNode } from ${JSON.stringify(mod)};
      process.stdout.write(await hypervisorNode({ platform: 'darwin', nodePath: ${JSON.stringify(t.node)}, cacheDir: ${JSON.stringify(t.cacheDir)}, codesign: ${JSON.stringify(fakeCodesign)}, env: {} }));
    `;
    const results = await Promise.all(Array.from({ length: 4 }, () => run(process.execPath, ['--input-type=module', '-e', script])));
    const paths = new Set(results.map((r) => r.stdout.trim().split('\n').pop()));
    expect(paths.size).toBe(1);
    const [path] = [...paths];
    expect(readFileSync(path!, 'utf8')).toContain(HYPERVISOR_ENTITLEMENT);
    expect(readdirSync(join(path!, '..'))).toEqual(['node']);
    // The signed copy runs.
    expect((await run(path!, [])).stdout).toBe('stand-in node\n');
  }, 60_000);
});
