// Contract tests of loading: nothing native at import, the lookup order, and what a loaded library
// reports about itself. Run against stand-in libraries (test/fixtures/fake-libkrun.c); they prove the
// loading and binding layer, not that a VM boots.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KrunError } from '../src/errors.js';
import { loadKrun } from '../src/loader.js';
import { KRUN_FUNCTION_NAMES } from '../src/symbols.js';
import { childEnv, distIndex, fixtures, packageDir, runNode } from './helpers.js';

const MISSING_IN_MINIMAL = [
  'krun_set_root_disk',
  'krun_set_data_disk',
  'krun_add_disk',
  'krun_add_disk2',
  'krun_add_disk3',
  'krun_add_net_unixstream',
  'krun_add_net_unixgram',
  'krun_add_net_tap',
  'krun_set_passt_fd',
  'krun_set_gvproxy_path',
  'krun_set_net_mac',
  'krun_has_feature',
  'krun_set_root_disk_remount',
];

function thrown(f: () => unknown): KrunError {
  try {
    f();
  } catch (err) {
    return err as KrunError;
  }
  throw new Error('expected a throw');
}

describe('lazy loading', () => {
  // A fresh process: importing the package must neither load koffi nor open any library.
  const probe = `
    import { createRequire } from 'node:module';
    import { readFileSync } from 'node:fs';
    const maps = () => process.platform === 'linux' ? readFileSync('/proc/self/maps', 'utf8') : '';
    const koffiRequired = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('koffi'));
    const snapshot = (state) => ({ state, koffiRequired: koffiRequired(),
      koffiMapped: maps().includes('koffi'), fakeMapped: maps().includes('fake-libkrun') });
    const krun = await import(${JSON.stringify(distIndex)});
    const out = { afterImport: snapshot(krun.krunLoaderState()) };
    if (process.argv.includes('--load')) {
      try { krun.loadKrun(); out.loaded = true; } catch (e) { out.error = e.code; }
      out.afterLoad = snapshot(krun.krunLoaderState());
    }
    console.log(JSON.stringify(out));`;

  it('does not load koffi or open the library on import, and does on loadKrun()', async () => {
    const result = await runNode(['--input-type=module', '-e', probe, '--', '--load'], {
      env: childEnv({ SMOLVM_LIBKRUN: fixtures().full }),
    });
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout);
    expect(out.afterImport).toEqual({
      state: { koffiLoaded: false, libraries: [] },
      koffiRequired: false,
      koffiMapped: false,
      fakeMapped: false,
    });
    // The same probes see the load once it happens (so their "false" above means something).
    expect(out.loaded).toBe(true);
    expect(out.afterLoad).toEqual({
      state: { koffiLoaded: true, libraries: [fixtures().full] },
      koffiRequired: true,
      koffiMapped: process.platform === 'linux',
      fakeMapped: process.platform === 'linux',
    });
  });

  it('imports fine when SMOLVM_LIBKRUN names a file that does not exist', async () => {
    const result = await runNode(['--input-type=module', '-e', probe, '--', '--load'], {
      env: childEnv({ SMOLVM_LIBKRUN: '/nonexistent/libkrun.so.1' }),
    });
    const out = JSON.parse(result.stdout);
    expect(out.afterImport.state.koffiLoaded).toBe(false);
    expect(out.error).toBe('SMOLVM_ERR_KRUN_NOT_FOUND');
  });
});

describe('lookup order', () => {
  it('takes options.path over SMOLVM_LIBKRUN', () => {
    const krun = loadKrun({ path: fixtures().full, env: { SMOLVM_LIBKRUN: fixtures().minimal } });
    expect(krun.path).toBe(fixtures().full);
  });

  it('takes SMOLVM_LIBKRUN over every default candidate', () => {
    const krun = loadKrun({ env: { SMOLVM_LIBKRUN: fixtures().minimal }, candidates: [fixtures().full] });
    expect(krun.path).toBe(fixtures().minimal);
  });

  it('does not fall back when SMOLVM_LIBKRUN names a missing file', () => {
    const err = thrown(() =>
      loadKrun({ env: { SMOLVM_LIBKRUN: '/nonexistent/libkrun.so.1' }, candidates: [fixtures().full] }),
    );
    expect(err.code).toBe('SMOLVM_ERR_KRUN_NOT_FOUND');
    expect(err.message).toContain('SMOLVM_LIBKRUN (/nonexistent/libkrun.so.1) does not exist');
    expect(err.tried).toEqual([{ candidate: '/nonexistent/libkrun.so.1', source: 'SMOLVM_LIBKRUN', reason: 'no such file' }]);
  });

  it('reports a file the dynamic loader refuses as LOAD_FAILED', () => {
    const notALibrary = join(packageDir, 'test/fixtures/fake-libkrun.c');
    const err = thrown(() => loadKrun({ env: { SMOLVM_LIBKRUN: notALibrary } }));
    expect(err.code).toBe('SMOLVM_ERR_KRUN_LOAD_FAILED');
    expect(err.libraryPath).toBe(notALibrary);
  });

  it('reports a library without the core symbols as INCOMPATIBLE when named', () => {
    const err = thrown(() => loadKrun({ env: { SMOLVM_LIBKRUN: fixtures().noCore } }));
    expect(err.code).toBe('SMOLVM_ERR_KRUN_INCOMPATIBLE');
    expect(err.message).toContain('krun_create_ctx');
  });

  it('tries default candidates in order, skipping missing and unusable ones', () => {
    const krun = loadKrun({
      env: {},
      candidates: ['/nonexistent/libkrun.so.1', 'libkrun-smolvm-test-none.so.1', fixtures().noCore, fixtures().minimal, fixtures().full],
    });
    expect(krun.path).toBe(fixtures().minimal);
  });

  it('lists every path tried, in order, and what to install, when nothing is found', () => {
    const candidates = ['libkrun-smolvm-test-none.so.1', '/nonexistent/a/libkrun.so.1', fixtures().noCore];
    const err = thrown(() => loadKrun({ env: {}, candidates }));
    expect(err.code).toBe('SMOLVM_ERR_KRUN_NOT_FOUND');
    expect(err.tried?.map((t) => t.candidate)).toEqual(candidates);
    expect(err.tried?.map((t) => t.source)).toEqual(['default', 'default', 'default']);
    expect(err.tried?.[1]?.reason).toBe('no such file');
    expect(err.tried?.[2]?.reason).toContain('not libkrun');
    const positions = candidates.map((c) => err.message.indexOf(c));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(err.hint).toContain('dnf install libkrun libkrunfw');
    expect(err.hint).toContain('brew install libkrun');
    expect(err.hint).toContain('pacman -S libkrun');
    expect(err.hint).toContain('SMOLVM_LIBKRUN=');
  });

  it('caches a loaded library per path', () => {
    expect(loadKrun({ path: fixtures().full })).toBe(loadKrun({ path: fixtures().full }));
  });
});

describe('features', () => {
  it('reports everything present in the full stand-in, with build features from krun_has_feature', () => {
    const features = loadKrun({ path: fixtures().full }).features();
    expect(features).toEqual({
      libraryPath: fixtures().full,
      available: [...KRUN_FUNCTION_NAMES],
      missing: [],
      source: 'krun_has_feature',
      build: {
        net: true,
        blk: true,
        gpu: false,
        input: false,
        tee: false,
        'amd-sev': false,
        'intel-tdx': false,
        'aws-nitro': false,
        'virgl-resource-map2': false,
        'init-blob': true,
      },
    });
  });

  it('reports the symbols a smaller build lacks, inferring build features from symbols', () => {
    const features = loadKrun({ path: fixtures().minimal }).features();
    expect(features.missing).toEqual(MISSING_IN_MINIMAL);
    expect(features.available).toEqual(KRUN_FUNCTION_NAMES.filter((n) => !MISSING_IN_MINIMAL.includes(n)));
    expect(features.source).toBe('symbols');
    expect(features.build).toMatchObject({ net: false, blk: false, 'init-blob': null });
  });

  it.each([
    ['krun_add_disk2', (k: ReturnType<typeof loadKrun>) => k.addDisk2(0, 'vda', '/a.img', 'raw', true), 'BLK=1'],
    ['krun_add_net_unixstream', (k: ReturnType<typeof loadKrun>) => k.addNetUnixstream(0, { fd: 3 }, '02:00:00:00:00:01', 0, 0), 'NET=1'],
    ['krun_has_feature', (k: ReturnType<typeof loadKrun>) => k.hasFeature('net'), 'upgrade libkrun'],
  ])('throws a coded error naming %s when it is called but missing', (fn, call, hint) => {
    const krun = loadKrun({ path: fixtures().minimal });
    expect(krun.has(fn as 'krun_add_disk2')).toBe(false);
    const err = thrown(() => call(krun));
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_KRUN_SYMBOL_MISSING', fn });
    expect(err.message).toContain(fn);
    expect(err.hint).toContain(hint);
  });
});
