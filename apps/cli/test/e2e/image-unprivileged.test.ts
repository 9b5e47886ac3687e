// Images work without host root: as `nobody` (setpriv), the CLI imports an OCI layout, builds its disk
// and boots it under QEMU (TCG needs no privileges), and the guest sees the image's owners, not the
// builder's. State, cache and temp dirs live in a directory nobody owns; the code and the layout stay
// root's (read-only to nobody).
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { resolveGuestAssets } from '../../../../packages/guest/dist/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTestLayout } from '../../../../packages/core/test/e2e/image-fixtures.js';

const execFileP = promisify(execFile);
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const T = 120_000;

let work: string;
beforeAll(() => {
  if (!isRoot) {
    // Not root: the other image tests already run as an unprivileged user, which is what this test proves.
    console.log('image-unprivileged.test: skipped, not running as root (the other image tests already run unprivileged)');
    return;
  }
  work = mkdtempSync(join(tmpdir(), 'smolvm-cli-nobody-'));
  chmodSync(work, 0o755);
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('as an unprivileged user', () => {
  it('runs `machine run --image <oci layout> -- id` and sees the image’s owners', async () => {
    const layout = writeTestLayout(join(work, 'layout'));
    // The kernel is usually cached under root's home, which nobody cannot read: hand it a copy.
    const kernel = join(work, 'vmlinux');
    copyFileSync((await resolveGuestAssets()).kernel, kernel);
    chmodSync(kernel, 0o644);
    const own = join(work, 'nobody');
    mkdirSync(own, { mode: 0o700 });
    chownSync(own, NOBODY, NOBODY);
    const env = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: own,
      SMOLVM_HOME: join(own, 'home'),
      SMOLVM_CACHE_DIR: join(own, 'cache'),
      TMPDIR: own,
      SMOLVM_KERNEL: kernel,
      SMOLVM_QUIET: '1',
      ...(process.env.SMOLVM_GUEST_ASSETS ? { SMOLVM_GUEST_ASSETS: process.env.SMOLVM_GUEST_ASSETS } : {}),
    };
    const probe = 'echo "$(id -u):$(id -g) $(stat -c %u:%g /home/app/owned.txt) $(stat -c %u:%g /bin/busybox)"';
    const { stdout, stderr } = await execFileP(
      'setpriv',
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, bin, 'machine', 'run', '--image', layout, '--', probe],
      { cwd: own, env, timeout: T },
    );
    expect(stderr).toBe('');
    expect(stdout).toBe('1000:1000 1000:1000 0:0\n');
    // And `-- id` with the image's user, as the issue puts it.
    const id = await execFileP('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, bin, 'machine', 'run', '--image', layout, '--entrypoint', 'id'], { cwd: own, env, timeout: T });
    expect(id.stdout).toMatch(/^uid=1000\(app\) gid=1000\(app\)/);
    // The disk was built by nobody, once, and is read-only; nothing else is left in the temp dir.
    const disks = readdirSync(join(own, 'cache', 'oci', 'disks')).filter((n) => n.endsWith('.ext4'));
    expect(disks).toHaveLength(1);
    const st = statSync(join(own, 'cache', 'oci', 'disks', disks[0]!));
    expect({ uid: st.uid, mode: st.mode & 0o777 }).toEqual({ uid: NOBODY, mode: 0o444 });
    expect(readdirSync(own).sort()).toEqual(['cache']);
  }, T);
});
