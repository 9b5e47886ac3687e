// The test image's layers: every kind of entry the layer rules cover, spread over three layers (the last
// gzip-compressed) so that whiteouts and opaque directories act on lower layers.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { digestOf } from '../../src/index.js';
import { fsck, imageCat, imageLs, imageStat, imageXattrs } from './ext4.js';
import { tarArchive, type TarWriterEntry } from './tar-writer.js';

export const LONG_DIR = `deep/${'d'.repeat(90)}/${'e'.repeat(90)}/${'f'.repeat(90)}`;
export const LONG_FILE = `${LONG_DIR}/${'g'.repeat(120)}.txt`;
export const GNU_LONG = `gnu/${'h'.repeat(150)}/${'i'.repeat(60)}`;

export function layerFiles(): { layers: Buffer[]; diffIds: string[] } {
  const busybox = readFileSync('/bin/busybox');
  const l1: TarWriterEntry[] = [
    { name: './', type: 'dir', mode: 0o755 },
    { name: 'bin/', type: 'dir' },
    { name: 'bin/busybox', data: busybox, mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox', mode: 0o777 },
    { name: 'bin/ls', type: 'hardlink', linkname: 'bin/busybox' },
    { name: 'etc/', type: 'dir' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n' },
    { name: 'etc/shadow', data: 'root:*:1::::::\n', mode: 0o640, gid: 42 },
    { name: 'etc/removeme', data: 'bye' },
    { name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' },
    { name: 'etc/dangling', type: 'symlink', linkname: '../nowhere/at/all' },
    { name: 'home/user/', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 },
    { name: 'home/user/notes.txt', data: 'mine', uid: 1000, gid: 1000, mode: 0o600 },
    { name: 'usr/bin/su', data: 'not really su', mode: 0o4755 },
    { name: 'usr/bin/su-link', type: 'hardlink', linkname: 'usr/bin/su' },
    { name: 'usr/bin/ping', data: 'ping', mode: 0o755, xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 'user.note': 'hello' } },
    { name: 'dev/', type: 'dir' },
    { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'run/initctl', type: 'fifo', mode: 0o600 },
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
    { name: 'ro/', type: 'dir', mode: 0o555 },
    { name: 'ro/locked', data: 'x', mode: 0o000 },
    { name: 'opq/a', data: 'lower a' },
    { name: 'opq/sub/b', data: 'lower b' },
    { name: 'opq2/old', data: 'lower' },
    { name: 'gone/child/file', data: 'lower' },
    { name: 'becomes-dir', data: 'file now' },
    { name: 'becomes-file/inner', data: 'dir now' },
    { name: LONG_FILE, data: 'long path' },
    { name: `${LONG_DIR}/link-to-long`, type: 'symlink', linkname: `/${LONG_FILE}` },
    { name: GNU_LONG, data: 'gnu long name', longNames: 'gnu' },
    { name: 'gnu/longlink', type: 'symlink', linkname: `/${GNU_LONG}`, longNames: 'gnu' },
    { name: 'quote"name', data: 'q' },
  ];
  const l2: TarWriterEntry[] = [
    { name: 'etc/.wh.removeme', data: '' },
    { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n' },
    { name: 'opq/', type: 'dir', mode: 0o750 },
    { name: 'opq/.wh..wh..opq', data: '' },
    { name: 'opq/c', data: 'upper c' },
    // Same layer: a new entry before the opaque marker survives it.
    { name: 'opq2/new', data: 'upper' },
    { name: 'opq2/.wh..wh..opq', data: '' },
    { name: '.wh.gone', data: '' },
    { name: 'becomes-dir/', type: 'dir' },
    { name: 'becomes-dir/x', data: 'x' },
    { name: 'becomes-file', data: 'file now' },
    { name: 'dev/.wh.sda', data: '' },
  ];
  const l3: TarWriterEntry[] = [{ name: 'etc/hostname', data: 'smol\n' }];
  const tars = [tarArchive(l1), tarArchive(l2), tarArchive(l3)];
  return { layers: [tars[0] as Buffer, tars[1] as Buffer, gzipSync(tars[2] as Buffer)], diffIds: tars.map((t) => digestOf(t)) };
}

/** The checks every disk built from `layerFiles()` must pass, whatever route the layers took. */
export function expectTestImage(img: string): void {
  fsck(img);
  expect(imageStat(img, '/home/user/notes.txt')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o600 });
  expect(imageStat(img, '/usr/bin/su')).toMatchObject({ uid: 0, gid: 0, mode: 0o4755, links: 2 });
  expect(imageStat(img, '/dev/null')).toMatchObject({ type: 'character special', device: '1:3', mode: 0o666 });
  expect(imageStat(img, '/run/initctl')?.type).toBe('FIFO');
  expect(imageStat(img, '/bin/sh')).toMatchObject({ type: 'symlink', linkTarget: 'busybox' });
  expect(imageStat(img, '/etc/localtime')?.linkTarget).toBe('/usr/share/zoneinfo/UTC');
  expect(imageStat(img, '/etc/removeme')).toBeNull();
  expect(imageStat(img, '/gone')).toBeNull();
  expect(imageLs(img, '/opq').sort()).toEqual(['c']);
  expect(imageLs(img, '/opq2').sort()).toEqual(['new']);
  expect(imageCat(img, `/${LONG_FILE}`).toString()).toBe('long path');
  expect(imageCat(img, '/etc/hostname').toString()).toBe('smol\n');
  expect(imageXattrs(img, '/usr/bin/ping')).toContain('security.capability');
  expect(imageCat(img, '/bin/busybox').equals(readFileSync('/bin/busybox'))).toBe(true);
}
