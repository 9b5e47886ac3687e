// Test images for the image end-to-end tests (core and CLI): busybox-static and a few files over three
// layers (a whiteout, a symlink, a file owned by uid 1000, the last layer gzipped), with an image config
// that sets Env, Entrypoint, Cmd, WorkingDir and User. The image has no /proc, /sys, /dev, /tmp or /run:
// the agent makes its mount points in the overlay. Built as OCI layouts, pushed by skopeo to a real
// registry (Debian's docker-registry on 127.0.0.1). Reuses @smolvm/oci's test helpers.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { writeOciLayout, type TestImage } from '../../../oci/test/helpers/layout.js';
import { tarArchive, type TarWriterEntry } from '../../../oci/test/helpers/tar-writer.js';
import { digestOf } from '../../../oci/src/index.js';

import { skopeoCopy } from '../../../oci/test/helpers/registry.js';

export { startRegistry, skopeoCopy, type TestRegistry } from '../../../oci/test/helpers/registry.js';

const execFileP = promisify(execFile);

export const APPLETS = ['sh', 'id', 'ls', 'cat', 'stat', 'pwd', 'env', 'echo', 'readlink', 'test', 'mount', 'touch', 'grep', 'uname', 'true'];

export const IMAGE_CONFIG = {
  Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello from the image'],
  Entrypoint: ['/bin/sh', '-c'],
  Cmd: ['echo "$GREETING|$(pwd)|$(id -u):$(id -g)"'],
  WorkingDir: '/srv/app',
  User: '1000:1000',
};

/** A config that needs the runtime to look the user up in /etc/passwd and make the WorkingDir (as Docker does). */
export const NAMED_CONFIG = { ...IMAGE_CONFIG, User: 'app', WorkingDir: '/made/by/runtime' };

export function testImage(config: Record<string, unknown> = IMAGE_CONFIG): TestImage {
  const l1: TarWriterEntry[] = [
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    ...APPLETS.map((a): TarWriterEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' },
    { name: 'etc/group', data: 'root:x:0:\napp:x:1000:\n' },
    { name: 'etc/removeme', data: 'should be whited out' },
    { name: 'home/app/', type: 'dir', uid: 1000, gid: 1000, mode: 0o750 },
    { name: 'home/app/owned.txt', data: 'mine\n', uid: 1000, gid: 1000, mode: 0o640 },
    { name: 'srv/app/', type: 'dir' },
  ];
  const l2: TarWriterEntry[] = [
    { name: 'etc/.wh.removeme', data: '' },
    { name: 'data/', type: 'dir' },
    { name: 'data/link', type: 'symlink', linkname: '/home/app/owned.txt' },
  ];
  const l3: TarWriterEntry[] = [{ name: 'etc/greeting', data: 'layer three\n' }];
  const tars = [tarArchive(l1), tarArchive(l2), tarArchive(l3)];
  return {
    layers: [tars[0] as Buffer, tars[1] as Buffer, gzipSync(tars[2] as Buffer)],
    diffIds: tars.map((t) => digestOf(t)),
    config,
  };
}

/** A one-layer image for another CPU (never booted: the runtime must refuse it). */
export function foreignImage(): TestImage {
  const t = tarArchive([{ name: 'arch', data: 'arm64' }]);
  return { layers: [t], diffIds: [digestOf(t)], architecture: 'arm64' };
}

/** Writes the test image as an OCI layout under `dir` (tag `1`). */
export function writeTestLayout(dir: string, config: Record<string, unknown> = IMAGE_CONFIG): string {
  writeOciLayout(dir, '1', [testImage(config)]);
  return dir;
}

/** A shell line that prints what the tests check, one `key=value` per line. */
export const PROBE = [
  'echo "greeting=$GREETING"',
  'echo "pwd=$(pwd)"',
  'echo "id=$(id -u):$(id -g)"',
  'echo "owned=$(stat -c %u:%g:%a /home/app/owned.txt)"',
  'echo "homeapp=$(stat -c %u:%g:%a /home/app)"',
  'echo "link=$(readlink /data/link)"',
  'echo "viaLink=$(cat /data/link)"',
  'echo "removed=$(test -e /etc/removeme && echo present || echo gone)"',
  'echo "layer3=$(cat /etc/greeting)"',
  'echo "proc=$(test -r /proc/self/status && echo yes)"',
  'echo "tmp=$(touch /tmp/x && echo writable)"',
  'echo "mounts=$(grep -c -E " /(proc|sys|dev|tmp|run) " /proc/mounts)"',
].join('; ');

export function parseProbe(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** What PROBE must print for the test image run with its own config. */
export const EXPECTED_PROBE = {
  greeting: 'hello from the image',
  pwd: '/srv/app',
  id: '1000:1000',
  owned: '1000:1000:640',
  homeapp: '1000:1000:750',
  link: '/home/app/owned.txt',
  viaLink: 'mine',
  removed: 'gone',
  layer3: 'layer three',
  proc: 'yes',
  tmp: 'writable',
  mounts: '5',
};

/** Pushes the test image (and a multi-platform one with an arm64 entry) to the registry; returns the references. */
export async function pushTestImages(host: string, work: string): Promise<{ ref: string; multi: string; layout: string }> {
  const layout = writeTestLayout(join(work, 'layout'));
  await skopeoCopy(`oci:${layout}:1`, `docker://${host}/test/img:1`);
  const multiDir = join(work, 'multi');
  writeOciLayout(multiDir, 'multi', [{ ...testImage(), architecture: 'amd64' }, foreignImage()], { index: true });
  await skopeoCopy(`oci:${multiDir}:multi`, `docker://${host}/test/multi:1`, { all: true });
  return { ref: `${host}/test/img:1`, multi: `${host}/test/multi:1`, layout };
}

/** `docker save`-style archive of the test image, written by skopeo. */
export async function writeDockerArchive(layout: string, file: string): Promise<string> {
  await execFileP('skopeo', ['copy', '--quiet', '--insecure-policy', `oci:${layout}:1`, `docker-archive:${file}:test/archived:1`], { timeout: 60_000 });
  return file;
}
