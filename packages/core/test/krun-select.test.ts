// Engine selection and `doctor` with and without libkrun. libkrun is the stand-in library of
// @smolvm/krun's contract tests (SMOLVM_LIBKRUN), and the hypervisor checks read a fake filesystem root,
// so every case runs on any Linux host. Nothing boots.
import { realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultKrunfwCandidates, findKrunfw, krunfwNamesIn, type FindKrunfwResult } from '@smolvm/krun';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { doctor, type DoctorReport } from '../src/doctor.js';
import { krunfwSearchEnv } from '../src/krun-engine.js';
import { chooseKrunKernel } from '../src/krun-host.js';
import { chooseEngine, selectEngine } from '../src/select-engine.js';
import { makeKrunFixtures, removeKrunFixtures, type KrunTestFixtures } from './krun-fixtures.js';

let fx: KrunTestFixtures;
beforeAll(async () => {
  fx = await makeKrunFixtures();
}, 60_000);
afterAll(() => removeKrunFixtures(fx));

const NO_LIBKRUN = '/nonexistent/libkrun.so.1';

function checkOf(report: DoctorReport, name: string) {
  const c = report.checks.find((x) => x.name === name);
  if (!c) throw new Error(`doctor has no ${name} check`);
  return c;
}

describe.runIf(process.platform === 'linux')('automatic engine choice (Linux)', () => {
  it('picks libkrun when it loads and /dev/kvm is usable', () => {
    const choice = chooseEngine({ SMOLVM_LIBKRUN: fx.full }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(choice.engine.name).toBe('libkrun');
    expect(choice.reason).toBe('automatic: libkrun is usable');
    expect(choice.krun?.library?.path).toBe(fx.full);
    expect(selectEngine({ SMOLVM_LIBKRUN: fx.full }, { root: fx.kvmRoot, krunfwCandidates: [] }).name).toBe('libkrun');
  });

  it('falls back to QEMU without libkrun, and says why', () => {
    const choice = chooseEngine({ SMOLVM_LIBKRUN: NO_LIBKRUN }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(choice.engine.name).toBe('qemu');
    expect(choice.reason).toBe(`automatic: libkrun is not usable (SMOLVM_LIBKRUN (${NO_LIBKRUN}) does not exist.)`);
    expect(choice.krun?.libraryError?.code).toBe('SMOLVM_ERR_KRUN_NOT_FOUND');
  });

  it.each([
    ['a PVM nested hypervisor', 'pvmRoot', '/dev/kvm is a PVM nested hypervisor (kvm_pvm), which cannot run a standard guest kernel'],
    ['no /dev/kvm', 'noKvmRoot', '/dev/kvm does not exist (no hardware virtualization)'],
  ] as const)('falls back to QEMU with libkrun installed but %s, without loading libkrun', (_what, root, reason) => {
    const choice = chooseEngine({ SMOLVM_LIBKRUN: fx.full }, { root: fx[root] });
    expect(choice.engine.name).toBe('qemu');
    expect(choice.reason).toBe(`automatic: libkrun needs a hypervisor (${reason})`);
    expect(choice.krun).toBeUndefined();
  });

  it('counts SMOLVM_ACCEL=tcg as no hypervisor for libkrun', () => {
    const choice = chooseEngine({ SMOLVM_LIBKRUN: fx.full, SMOLVM_ACCEL: 'tcg' }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(choice.engine.name).toBe('qemu');
    expect(choice.reason).toBe('automatic: libkrun needs a hypervisor (forced by SMOLVM_ACCEL=tcg)');
  });

  it('falls back to QEMU on a libkrun that lacks the calls the engine makes, or is not libkrun', () => {
    const minimal = chooseEngine({ SMOLVM_LIBKRUN: fx.minimal }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(minimal.engine.name).toBe('qemu');
    expect(minimal.reason).toBe(`automatic: libkrun is not usable (${fx.minimal} lacks krun_add_disk2 or krun_add_disk, which the libkrun engine calls)`);
    const noCore = chooseEngine({ SMOLVM_LIBKRUN: fx.noCore }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(noCore.engine.name).toBe('qemu');
    expect(noCore.reason).toMatch(/not a usable libkrun \(not libkrun: lacks krun_create_ctx\)/);
  });
});

describe('SMOLVM_ENGINE', () => {
  it('forces QEMU even where libkrun is usable', () => {
    const choice = chooseEngine({ SMOLVM_ENGINE: 'qemu', SMOLVM_LIBKRUN: fx.full }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(choice).toMatchObject({ reason: 'forced by SMOLVM_ENGINE=qemu', krun: undefined });
    expect(choice.engine.name).toBe('qemu');
  });

  it('forces libkrun, whose check() then says why it cannot run', () => {
    const missing = selectEngine({ SMOLVM_ENGINE: 'libkrun', SMOLVM_LIBKRUN: NO_LIBKRUN }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(missing.name).toBe('libkrun');
    expect(() => missing.check()).toThrow(
      expect.objectContaining({
        code: 'SMOLVM_ERR_ENGINE_UNAVAILABLE',
        message: `the libkrun engine cannot run on this host: SMOLVM_LIBKRUN (${NO_LIBKRUN}) does not exist.`,
        hint: expect.stringMatching(/Point SMOLVM_LIBKRUN at an installed libkrun/),
        cause: expect.objectContaining({ code: 'SMOLVM_ERR_KRUN_NOT_FOUND' }),
      }),
    );
    const usable = selectEngine({ SMOLVM_ENGINE: 'libkrun', SMOLVM_LIBKRUN: fx.full }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(() => usable.check()).not.toThrow();
  });

  it.runIf(process.platform === 'linux')('forces libkrun without KVM: check() names the hypervisor problem', () => {
    const e = selectEngine({ SMOLVM_ENGINE: 'libkrun', SMOLVM_LIBKRUN: fx.full }, { root: fx.pvmRoot, krunfwCandidates: [] });
    expect(() => e.check()).toThrow(/the libkrun engine cannot run on this host: no usable hypervisor: \/dev\/kvm is a PVM nested hypervisor/);
  });

  it('refuses an unknown engine', () => {
    expect(() => selectEngine({ SMOLVM_ENGINE: 'firecracker' })).toThrow(
      expect.objectContaining({ code: 'SMOLVM_ERR_INVALID_OPTION', message: 'SMOLVM_ENGINE=firecracker is not an engine' }),
    );
  });
});

describe.runIf(process.platform === 'linux')('doctor', () => {
  it('shows the libkrun in use: where, which version, which features, which hypervisor', async () => {
    const file = realpathSync(fx.versioned);
    // No QEMU on this PATH: not needed while libkrun is the engine.
    const report = await doctor({ SMOLVM_LIBKRUN: fx.versioned, PATH: '/nonexistent' }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(checkOf(report, 'engine')).toEqual({ name: 'engine', ok: true, detail: 'libkrun (automatic: libkrun is usable)' });
    expect(checkOf(report, 'libkrun')).toEqual({
      name: 'libkrun',
      ok: true,
      detail: `${fx.versioned} -> ${file} (libkrun 1.19.0; features: net, blk, init-blob; kernel: smolvm's own (libkrunfw was not found); hypervisor: /dev/kvm is usable)`,
    });
    expect(checkOf(report, 'qemu')).toMatchObject({ ok: true, detail: expect.stringMatching(/^not needed while the libkrun engine is used \(qemu-system-\w+ was not found on PATH\)$/) });
  });

  it('without libkrun: QEMU is the engine, and the libkrun line says what was missing and what to install', async () => {
    const report = await doctor({ SMOLVM_LIBKRUN: NO_LIBKRUN }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(checkOf(report, 'engine')).toEqual({
      name: 'engine',
      ok: true,
      detail: `qemu (automatic: libkrun is not usable (SMOLVM_LIBKRUN (${NO_LIBKRUN}) does not exist.))`,
    });
    expect(checkOf(report, 'libkrun')).toEqual({
      name: 'libkrun',
      ok: true,
      detail: `not available: SMOLVM_LIBKRUN (${NO_LIBKRUN}) does not exist.; the QEMU engine is used instead`,
      hint: expect.stringMatching(/dnf install libkrun libkrunfw/),
    });
  });

  it('with libkrun but no usable KVM: QEMU is the engine, and the libkrun line shows the library and why not', async () => {
    const report = await doctor({ SMOLVM_LIBKRUN: fx.full }, { root: fx.pvmRoot, krunfwCandidates: [] });
    expect(checkOf(report, 'engine').detail).toBe(
      'qemu (automatic: libkrun needs a hypervisor (/dev/kvm is a PVM nested hypervisor (kvm_pvm), which cannot run a standard guest kernel))',
    );
    expect(checkOf(report, 'libkrun')).toMatchObject({
      ok: true,
      detail:
        `${fx.full} (version unknown (libkrun reports none; not in the file name); features: net, blk, init-blob; ` +
        "kernel: smolvm's own (libkrunfw was not found); " +
        'no usable hypervisor: /dev/kvm is a PVM nested hypervisor (kvm_pvm), which cannot run a standard guest kernel); the QEMU engine is used instead',
      hint: expect.stringMatching(/libkrun needs KVM/),
    });
  });

  it('with an old libkrun: features inferred from its symbols (the stand-in exports the GPU, input and TEE calls), and what it lacks', async () => {
    const report = await doctor({ SMOLVM_LIBKRUN: fx.minimal }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(checkOf(report, 'libkrun').detail).toBe(
      `${fx.minimal} (version unknown (libkrun reports none; not in the file name); features: gpu, input, tee (inferred from its symbols); ` +
        "lacks krun_add_disk2 or krun_add_disk; kernel: smolvm's own (libkrunfw was not found); hypervisor: /dev/kvm is usable); the QEMU engine is used instead",
    );
  });

  it('with SMOLVM_ENGINE=libkrun and no libkrun: the engine and libkrun checks fail, with what to do', async () => {
    const report = await doctor({ SMOLVM_ENGINE: 'libkrun', SMOLVM_LIBKRUN: NO_LIBKRUN }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(report.ok).toBe(false);
    expect(checkOf(report, 'engine')).toEqual({
      name: 'engine',
      ok: false,
      detail: `the libkrun engine cannot run on this host: SMOLVM_LIBKRUN (${NO_LIBKRUN}) does not exist.`,
      hint: expect.stringMatching(/Point SMOLVM_LIBKRUN at an installed libkrun/),
    });
    expect(checkOf(report, 'libkrun')).toMatchObject({ ok: false, detail: `not available: SMOLVM_LIBKRUN (${NO_LIBKRUN}) does not exist.` });
  });

  it('with SMOLVM_ENGINE=qemu: QEMU, and libkrun still described', async () => {
    const report = await doctor({ SMOLVM_ENGINE: 'qemu', SMOLVM_LIBKRUN: fx.full }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(checkOf(report, 'engine').detail).toBe('qemu (forced by SMOLVM_ENGINE=qemu)');
    expect(checkOf(report, 'libkrun')).toMatchObject({ ok: true, detail: expect.stringMatching(/^\/.*fake-libkrun-full\.so \(.*hypervisor: \/dev\/kvm is usable\)$/) });
  });

  it('with SMOLVM_ENGINE set to nonsense: the engine check fails', async () => {
    const report = await doctor({ SMOLVM_ENGINE: 'firecracker', SMOLVM_LIBKRUN: NO_LIBKRUN }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(checkOf(report, 'engine')).toMatchObject({ ok: false, detail: 'SMOLVM_ENGINE=firecracker is not an engine', hint: 'Use qemu or libkrun, or unset it.' });
  });
});

describe('the guest kernel under libkrun (libkrunfw by default, SMOLVM_KERNEL honoured)', () => {
  const hasRoot = { has: () => true };
  const found = (path = '/usr/lib64/libkrunfw.so.5'): FindKrunfwResult => ({ found: { path, version: 5 }, tried: [] });
  const notFound: FindKrunfwResult = { found: undefined, tried: [{ candidate: 'libkrunfw.so.5', reason: 'cannot open shared object file' }] };

  it.each([
    ['libkrunfw found, nothing set', {}, found(), { mode: 'libkrunfw', reason: 'default, libkrunfw found: /usr/lib64/libkrunfw.so.5, version 5' }],
    ['libkrunfw not found', {}, notFound, { mode: 'smolvm', reason: 'libkrunfw was not found' }],
    ['SMOLVM_KERNEL set', { SMOLVM_KERNEL: '/k/vmlinux' }, found(), { mode: 'smolvm', reason: 'SMOLVM_KERNEL is set' }],
    ['SMOLVM_KRUN_KERNEL=smolvm', { SMOLVM_KRUN_KERNEL: 'smolvm' }, found(), { mode: 'smolvm', reason: 'forced by SMOLVM_KRUN_KERNEL=smolvm' }],
    [
      'SMOLVM_KRUN_KERNEL=libkrunfw over SMOLVM_KERNEL',
      { SMOLVM_KRUN_KERNEL: 'libkrunfw', SMOLVM_KERNEL: '/k/vmlinux' },
      found(),
      { mode: 'libkrunfw', reason: 'forced by SMOLVM_KRUN_KERNEL=libkrunfw: /usr/lib64/libkrunfw.so.5, version 5' },
    ],
  ] as const)('%s', (_what, env, krunfw, expected) => {
    const choice = chooseKrunKernel(env, krunfw, hasRoot);
    expect(choice).toMatchObject(expected);
    expect(choice.problem).toBeUndefined();
  });

  it('reports the problems of a choice that cannot work', () => {
    expect(chooseKrunKernel({ SMOLVM_KRUN_KERNEL: 'libkrunfw' }, notFound, hasRoot).problem).toEqual({
      reason: 'SMOLVM_KRUN_KERNEL=libkrunfw, but libkrunfw was not found (tried libkrunfw.so.5...)',
      hint: expect.stringMatching(/Install libkrunfw/),
    });
    expect(chooseKrunKernel({ SMOLVM_KRUN_KERNEL: 'libkrunfw' }, found(), { has: () => false }).problem?.reason).toMatch(/lacks krun_set_root/);
    expect(chooseKrunKernel({ SMOLVM_KRUN_KERNEL: 'bzimage' }, found(), hasRoot).problem?.hint).toMatch(/SMOLVM_KRUN_KERNEL=libkrunfw or SMOLVM_KRUN_KERNEL=smolvm/);
    // Automatic: a libkrun without krun_set_root (a TEE build) boots our kernel instead.
    expect(chooseKrunKernel({}, found(), { has: () => false })).toMatchObject({ mode: 'smolvm', reason: expect.stringMatching(/lacks krun_set_root/) });
  });

  it('finds a libkrunfw by path, skipping missing files and libraries that are not libkrunfw', () => {
    const r = findKrunfw([join(fx.dir, 'nowhere/libkrunfw.so.5'), fx.notKrunfw, fx.krunfw]);
    expect(r.found).toEqual({ path: fx.krunfw, version: 5 });
    expect(r.tried).toEqual([
      { candidate: join(fx.dir, 'nowhere/libkrunfw.so.5'), reason: 'no such file' },
      { candidate: fx.notKrunfw, reason: 'not libkrunfw: lacks krunfw_get_kernel' },
    ]);
  });

  it('looks for the libkrunfw names the libkrun file refers to first, beside it, then in the usual places', () => {
    expect(krunfwNamesIn(fx.full)).toEqual([]);
    const lib = join(fx.dir, 'libkrun-names.so');
    writeFileSync(lib, Buffer.from('\0ELF...libkrunfw-sev.so.5\0...libkrunfw.so.4\0...', 'latin1'));
    expect(krunfwNamesIn(lib)).toEqual(['libkrunfw.so.4']);
    expect(defaultKrunfwCandidates({ platform: 'linux', env: {}, libkrunFile: lib }).slice(0, 3)).toEqual(['libkrunfw.so.4', 'libkrunfw.so.5', join(fx.dir, 'libkrunfw.so.4')]);
    const c = defaultKrunfwCandidates({ platform: 'linux', arch: 'x64', env: {}, libkrunFile: '/opt/krun/lib/libkrun.so.1' });
    expect(c.slice(0, 4)).toEqual(['libkrunfw.so.5', 'libkrunfw.so.4', '/opt/krun/lib/libkrunfw.so.5', '/opt/krun/lib/libkrunfw.so.4']);
    expect(c).toContain('/usr/lib64/libkrunfw.so.5');
    expect(defaultKrunfwCandidates({ platform: 'darwin', env: {} }).slice(0, 2)).toEqual(['libkrunfw.5.dylib', 'libkrunfw.4.dylib']);
  });

  it('lets the runner\'s dynamic loader find a libkrunfw found at a path', () => {
    const k = (path: string | undefined, mode: 'libkrunfw' | 'smolvm' = 'libkrunfw') =>
      ({ mode, reason: '', krunfw: path ? { path, version: 5 } : undefined }) as const;
    expect(krunfwSearchEnv({ A: '1' }, k('/opt/fw/libkrunfw.so.5'), 'linux')).toEqual({ A: '1', LD_LIBRARY_PATH: '/opt/fw' });
    expect(krunfwSearchEnv({ LD_LIBRARY_PATH: '/x' }, k('/opt/fw/libkrunfw.so.5'), 'linux').LD_LIBRARY_PATH).toBe('/opt/fw:/x');
    expect(krunfwSearchEnv({ LD_LIBRARY_PATH: '/opt/fw' }, k('/opt/fw/libkrunfw.so.5'), 'linux').LD_LIBRARY_PATH).toBe('/opt/fw');
    expect(krunfwSearchEnv({}, k('/opt/homebrew/lib/libkrunfw.5.dylib'), 'darwin')).toEqual({ DYLD_FALLBACK_LIBRARY_PATH: '/opt/homebrew/lib' });
    expect(krunfwSearchEnv({}, k('libkrunfw.so.5'), 'linux')).toEqual({});
    expect(krunfwSearchEnv({}, k('/opt/fw/libkrunfw.so.5', 'smolvm'), 'linux')).toEqual({});
  });

  it.runIf(process.platform === 'linux')('doctor says which kernel libkrun boots, and why', async () => {
    const report = await doctor({ SMOLVM_LIBKRUN: fx.full, PATH: '/nonexistent' }, { root: fx.kvmRoot, krunfwCandidates: [fx.krunfw] });
    expect(checkOf(report, 'libkrun').detail).toContain(`kernel: libkrunfw's (default, libkrunfw found: ${fx.krunfw}, version 5)`);
    const forced = await doctor({ SMOLVM_LIBKRUN: fx.full, SMOLVM_KRUN_KERNEL: 'smolvm' }, { root: fx.kvmRoot, krunfwCandidates: [fx.krunfw] });
    expect(checkOf(forced, 'libkrun').detail).toContain("kernel: smolvm's own (forced by SMOLVM_KRUN_KERNEL=smolvm)");
    const broken = await doctor({ SMOLVM_ENGINE: 'libkrun', SMOLVM_LIBKRUN: fx.full, SMOLVM_KRUN_KERNEL: 'libkrunfw' }, { root: fx.kvmRoot, krunfwCandidates: [] });
    expect(checkOf(broken, 'engine')).toMatchObject({ ok: false, detail: expect.stringMatching(/SMOLVM_KRUN_KERNEL=libkrunfw, but libkrunfw was not found/) });
    expect(checkOf(broken, 'libkrun')).toMatchObject({ ok: false, hint: expect.stringMatching(/Install libkrunfw/) });
  });
});
