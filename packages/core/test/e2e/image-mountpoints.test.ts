// End-to-end: an image whose mount points are not directories (a file at /run, a symlink /tmp -> /var/tmp,
// a hostile /dev -> /) still boots, and nothing is mounted outside the workload root.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Machine } from '../../src/index.js';
import { isolateTmp } from './helpers.js';

const T = 120_000;
let tmp: ReturnType<typeof isolateTmp>;
let rootfs: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  tmp = isolateTmp();
  const work = mkdtempSync(join(tmp.dir, '..', 'smolvm-mountpoints-'));
  rootfs = join(work, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  mkdirSync(join(rootfs, 'var', 'tmp'), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of ['sh', 'ls', 'cat', 'readlink', 'test', 'echo', 'stat', 'mount', 'grep']) symlinkSync('busybox', join(rootfs, 'bin', a));
  writeFileSync(join(rootfs, 'run'), 'a file where a directory is mounted\n');
  symlinkSync('/var/tmp', join(rootfs, 'tmp'));
  symlinkSync('/', join(rootfs, 'dev'));
  env = { ...process.env, SMOLVM_CACHE_DIR: join(work, 'cache') };
  return () => rmSync(work, { recursive: true, force: true });
});
afterAll(() => {
  try {
    expect(tmp.leftovers()).toEqual({ processes: [], entries: [] });
  } finally {
    tmp.dispose();
  }
});

describe('image mount points', () => {
  it('replaces files and symlinks at mount points with directories inside the root', async () => {
    const r = await Machine.run({
      image: `rootfs:${rootfs}`,
      cmd: ['sh', '-c', 'test -d /run && echo run-dir; test -d /tmp -a ! -L /tmp && echo tmp-dir; test -c /dev/null && echo dev-ok; grep -c " /smolvm/" /proc/mounts'],
      hostEnv: env,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('run-dir\ntmp-dir\ndev-ok\n0\n');
    expect(r.exitCode).toBe(1); // grep -c printing 0 exits 1
  }, T);
});
