// Containment of layer application: hostile names are refused or kept inside the root, never followed
// out of it. The property test throws random layer sequences (symlinks aimed everywhere, `..` chains,
// whiteouts, hard links) at a staging tree placed next to a sentinel directory, and checks that nothing
// outside the root changed and that only coded errors came out.
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StagingTree, cleanEntryPath, isOciError } from '../src/index.js';
import { tarArchive, type TarWriterEntry } from './helpers/tar-writer.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'smolvm-oci-staging-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
function jail(): { root: string; outside: string; tree: StagingTree } {
  const dir = join(work, `jail${n++}`);
  const outside = join(dir, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'sentinel'), 'untouched');
  const root = join(dir, 'root');
  return { root, outside, tree: new StagingTree(root) };
}

async function apply(tree: StagingTree, entries: TarWriterEntry[]): Promise<void> {
  await tree.applyLayer([tarArchive(entries)]);
}

function assertOutsideUntouched(outside: string): void {
  expect(readdirSync(outside)).toEqual(['sentinel']);
  expect(readFileSync(join(outside, 'sentinel'), 'utf8')).toBe('untouched');
  expect(statSync(join(outside, 'sentinel')).nlink).toBe(1);
}

describe('cleanEntryPath', () => {
  it.each([
    ['a/b/c', ['a', 'b', 'c']],
    ['./a//b/', ['a', 'b']],
    ['/etc/passwd', ['etc', 'passwd']],
    ['a/../b', ['b']],
    ['.', []],
    ['a/..', []],
  ])('%s', (input, want) => {
    expect(cleanEntryPath(input)).toEqual(want);
  });

  it.each(['..', '../x', 'a/../../x', '../../etc/passwd', '/../x'])('refuses %s', (input) => {
    expect(() => cleanEntryPath(input)).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_OCI_PATH_ESCAPE' }));
  });
});

describe('xattrs', () => {
  it('keeps the namespaces ext4 stores, and drops overlayfs control attributes', async () => {
    const { tree } = jail();
    await apply(tree, [{ name: 'f', data: '', xattrs: { 'security.capability': 'c', 'user.a': 'a', 'trusted.overlay.opaque': 'y', 'weird.ns': 'w', '-r': 'x' } }]);
    expect([...(tree.meta.get('f')?.xattrs?.keys() ?? [])].sort()).toEqual(['security.capability', 'user.a']);
  });
});

describe('StagingTree containment', () => {
  it('refuses ../ entries', async () => {
    const { tree, outside } = jail();
    const err = await apply(tree, [{ name: '../outside/pwned', data: 'x' }]).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_PATH_ESCAPE')).toBe(true);
    const err2 = await apply(tree, [{ name: 'a/../../../etc/passwd', data: 'x' }]).catch((e: unknown) => e);
    expect(isOciError(err2, 'SMOLVM_ERR_OCI_PATH_ESCAPE')).toBe(true);
    assertOutsideUntouched(outside);
  });

  it('keeps absolute names inside the root', async () => {
    const { tree, root } = jail();
    await apply(tree, [{ name: '/etc/abs', data: 'inside' }]);
    expect(readFileSync(join(root, 'etc/abs'), 'utf8')).toBe('inside');
  });

  it('follows a symlinked parent inside the root, never out of it', async () => {
    const { tree, root, outside } = jail();
    // Absolute target naming the real outside directory, and a relative one climbing out.
    await apply(tree, [
      { name: 'evil', type: 'symlink', linkname: outside },
      { name: 'climb', type: 'symlink', linkname: '../../../../../../../outside' },
    ]);
    await apply(tree, [
      { name: 'evil/pwned', data: 'x' },
      { name: 'climb/pwned2', data: 'y' },
      { name: 'evil/.wh.sentinel', data: '' },
    ]);
    assertOutsideUntouched(outside);
    expect(readFileSync(join(root, outside, 'pwned'), 'utf8')).toBe('x');
    expect(readFileSync(join(root, 'outside', 'pwned2'), 'utf8')).toBe('y');
    expect(readlinkSync(join(root, 'evil'))).toBe(outside);
  });

  it('never hard-links to a host file', async () => {
    const { tree, root, outside } = jail();
    await apply(tree, [{ name: 'evil', type: 'symlink', linkname: outside }]);
    const err = await apply(tree, [{ name: 'stolen', type: 'hardlink', linkname: 'evil/sentinel' }]).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_LAYER_INVALID')).toBe(true);
    const err2 = await apply(tree, [{ name: 'stolen', type: 'hardlink', linkname: '../outside/sentinel' }]).catch((e: unknown) => e);
    expect(isOciError(err2, 'SMOLVM_ERR_OCI_PATH_ESCAPE')).toBe(true);
    expect(statSync(join(outside, 'sentinel')).nlink).toBe(1);
    expect(lstatSync(join(root, 'stolen'), { throwIfNoEntry: false })).toBeUndefined();
  });

  it('does not write through a symlink that is the entry itself', async () => {
    const { tree, root, outside } = jail();
    await apply(tree, [{ name: 'f', type: 'symlink', linkname: join(outside, 'sentinel') }]);
    await apply(tree, [{ name: 'f', data: 'replaced' }]);
    assertOutsideUntouched(outside);
    expect(readFileSync(join(root, 'f'), 'utf8')).toBe('replaced');
  });

  it('stops symlink loops with a coded error', async () => {
    const { tree } = jail();
    await apply(tree, [
      { name: 'a', type: 'symlink', linkname: 'b' },
      { name: 'b', type: 'symlink', linkname: 'a' },
    ]);
    const err = await apply(tree, [{ name: 'a/x', data: '' }]).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_LAYER_INVALID')).toBe(true);
  });

  it('records metadata the host cannot hold', async () => {
    const { tree, root } = jail();
    await apply(tree, [
      { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'bin/su', data: 'su', mode: 0o4755, uid: 0 },
      { name: 'home/u/f', data: 'f', uid: 1000, gid: 1000, mode: 0o000 },
    ]);
    expect(tree.meta.get('dev/null')).toMatchObject({ type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
    const err = await apply(tree, [{ name: 'dev/huge', type: 'block', devmajor: 5000, devminor: 0 }]).catch((e: unknown) => e);
    expect(isOciError(err, 'SMOLVM_ERR_OCI_LAYER_INVALID')).toBe(true);
    expect(tree.meta.get('home/u/f')).toMatchObject({ uid: 1000, gid: 1000, mode: 0 });
    // Host copies: never set-id, always readable by the builder.
    expect(statSync(join(root, 'bin/su')).mode & 0o7777).toBe(0o755);
    expect(statSync(join(root, 'home/u/f')).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, 'dev/null')).isFile()).toBe(true);
  });
});

// Random layers over a small name space, so entries collide, nest and point at each other; symlinks
// aimed at the real outside directory are frequent on purpose.
const component = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b'), weight: 6 },
  { arbitrary: fc.constantFrom('..', '.', 'outside', 'sentinel', '.wh.a', '.wh.sentinel', '.wh..wh..opq'), weight: 2 },
);
const name = fc.array(component, { minLength: 1, maxLength: 4 }).map((p) => p.join('/'));
const prefix = fc.constantFrom('', '/', './');

function entryArb(outside: string): fc.Arbitrary<TarWriterEntry> {
  const target = fc.oneof(
    { arbitrary: fc.constantFrom(outside, `${outside}/sentinel`, `${outside}/`, '../../../../outside', '/', '..', '../..', '/../outside'), weight: 3 },
    { arbitrary: name, weight: 1 },
    { arbitrary: name.map((x) => `/${x}`), weight: 1 },
  );
  return fc.oneof(
    { arbitrary: fc.record({ name: fc.tuple(prefix, name).map(([p, x]) => p + x), type: fc.constant('file' as const), data: fc.string({ maxLength: 8 }) }), weight: 3 },
    { arbitrary: fc.record({ name, type: fc.constant('dir' as const), mode: fc.constantFrom(0o755, 0o000, 0o555) }), weight: 1 },
    { arbitrary: fc.record({ name, type: fc.constant('symlink' as const), linkname: target }), weight: 3 },
    { arbitrary: fc.record({ name, type: fc.constant('hardlink' as const), linkname: target }), weight: 2 },
    { arbitrary: fc.record({ name, type: fc.constant('fifo' as const) }), weight: 1 },
  );
}

describe('StagingTree property: nothing escapes', () => {
  it('random layer sequences leave the outside untouched and throw only coded errors', async () => {
    const probe = jail();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(entryArb(probe.outside), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }), async (layers) => {
        const { tree, outside, root } = jail();
        // The targets name the probe's outside directory: reset it, so each run is judged on its own.
        rmSync(outside, { recursive: true, force: true });
        rmSync(probe.outside, { recursive: true, force: true });
        mkdirSync(probe.outside);
        writeFileSync(join(probe.outside, 'sentinel'), 'untouched');
        for (const entries of layers) {
          try {
            await apply(tree, entries);
          } catch (e) {
            if (!isOciError(e)) throw e;
          }
        }
        assertOutsideUntouched(probe.outside);
        // Every symlink in the tree is only data: walking with lstat never leaves the root.
        const walk = (dir: string): void => {
          for (const e of readdirSync(dir)) {
            const p = join(dir, e);
            const st = lstatSync(p);
            if (st.isDirectory()) walk(p);
            if (st.isFile() && st.nlink > 1) expect(p.startsWith(root)).toBe(true);
          }
        };
        walk(root);
        rmSync(join(root, '..'), { recursive: true, force: true });
      }),
      { numRuns: 300 },
    );
    assertOutsideUntouched(probe.outside);
  });
});
