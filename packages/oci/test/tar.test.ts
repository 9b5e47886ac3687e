// The tar reader against hand-made and mutated archives: every malformed input ends in a coded error,
// never a crash, a hang or an unbounded buffer.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decompressLayer, isOciError, readTar, type TarEntry, type TarReadLimits } from '../src/index.js';
import { tarArchive, tarEntry, type TarWriterEntry } from './helpers/tar-writer.js';

async function readAll(bytes: Buffer | AsyncIterable<Uint8Array>, limits?: TarReadLimits): Promise<Array<TarEntry & { data: Buffer }>> {
  const out: Array<TarEntry & { data: Buffer }> = [];
  const source = Buffer.isBuffer(bytes) ? [bytes] : bytes;
  for await (const e of readTar(source, limits)) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    const { body: _body, ...rest } = e;
    out.push({ ...rest, data: Buffer.concat(chunks) });
  }
  return out;
}

/** Splits a buffer into random-sized chunks, as a network stream would. */
async function* chunked(b: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let off = 0;
  let i = 0;
  while (off < b.length) {
    const n = Math.max(1, sizes[i++ % sizes.length] ?? 1);
    yield b.subarray(off, off + n);
    off += n;
  }
}

const sample: TarWriterEntry[] = [
  { name: 'dir/', type: 'dir', mode: 0o750, uid: 7, gid: 8 },
  { name: 'dir/file', data: 'hello', mode: 0o4755 },
  { name: `long/${'x'.repeat(200)}`, data: 'pax name' },
  { name: `gnu/${'y'.repeat(200)}`, data: 'gnu name', longNames: 'gnu' },
  { name: 'link', type: 'symlink', linkname: `/${'z'.repeat(150)}` },
  { name: 'hard', type: 'hardlink', linkname: 'dir/file' },
  { name: 'dev/tty', type: 'char', devmajor: 5, devminor: 0 },
  { name: 'fifo', type: 'fifo' },
  { name: 'caps', data: '', xattrs: { 'security.capability': Buffer.from([0, 1, 2, 255]) } },
];

describe('readTar', () => {
  it('reads ustar, PAX and GNU entries', async () => {
    const entries = await readAll(tarArchive(sample));
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['dir/', 'dir'],
      ['dir/file', 'file'],
      [`long/${'x'.repeat(200)}`, 'file'],
      [`gnu/${'y'.repeat(200)}`, 'file'],
      ['link', 'symlink'],
      ['hard', 'hardlink'],
      ['dev/tty', 'char'],
      ['fifo', 'fifo'],
      ['caps', 'file'],
    ]);
    expect(entries[0]).toMatchObject({ mode: 0o750, uid: 7, gid: 8 });
    expect(entries[1]).toMatchObject({ mode: 0o4755, size: 5 });
    expect(entries[1]?.data.toString()).toBe('hello');
    expect(entries[4]?.linkname).toBe(`/${'z'.repeat(150)}`);
    expect(entries[6]).toMatchObject({ devmajor: 5, devminor: 0 });
    expect([...(entries[8]?.xattrs.get('security.capability') ?? [])]).toEqual([0, 1, 2, 255]);
  });

  it('reads the same entries however the stream is chunked', async () => {
    const bytes = tarArchive(sample);
    const want = await readAll(bytes);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 20 }), async (sizes) => {
        const got = await readAll(chunked(bytes, sizes));
        expect(got).toEqual(want);
      }),
      { numRuns: 50 },
    );
  });

  it('accepts base-256 numbers and an archive without the end marker', async () => {
    const e = tarEntry({ name: 'big-uid', data: 'x', uid: 0 });
    e[108] = 0x80;
    e.fill(0, 109, 116);
    e.writeUInt32BE(3_000_000_000, 112);
    // Recompute the checksum for the edited header.
    e.write('        ', 148, 'latin1');
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += e[i] as number;
    e.write(`${sum.toString(8).padStart(6, '0')}\0`, 148, 'latin1');
    const [entry] = await readAll(e);
    expect(entry?.uid).toBe(3_000_000_000);
  });

  it.each([
    ['bad checksum', () => {
      const b = tarArchive([{ name: 'a', data: 'a' }]);
      b[0] = 0x62;
      return b;
    }],
    ['truncated body', () => tarArchive([{ name: 'a', data: 'a'.repeat(2000) }]).subarray(0, 1200)],
    ['truncated header', () => tarArchive([{ name: 'a', data: 'a' }]).subarray(0, 300)],
    ['unknown type', () => {
      const b = tarEntry({ name: 'a', data: '' });
      b[156] = 0x51; // 'Q'
      b.write('        ', 148, 'latin1');
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += b[i] as number;
      b.write(`${sum.toString(8).padStart(6, '0')}\0`, 148, 'latin1');
      return b;
    }],
  ])('refuses a %s with a coded error', async (_name, make) => {
    const err = await readAll(make()).catch((e: unknown) => e);
    expect(isOciError(err)).toBe(true);
  });

  it('enforces its limits', async () => {
    const many = tarArchive(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: '' })));
    expect(await readAll(many, { maxEntries: 10 }).catch((e: unknown) => e)).toMatchObject({ code: 'SMOLVM_ERR_OCI_LAYER_INVALID' });
    const big = tarArchive([{ name: 'big', data: Buffer.alloc(3 << 20) }]);
    expect(await readAll(big, { maxTotalBytes: 1 << 20 }).catch((e: unknown) => e)).toMatchObject({ code: 'SMOLVM_ERR_OCI_TOO_LARGE' });
    const longName = tarArchive([{ name: 'n'.repeat(5000), data: '' }]);
    expect(await readAll(longName, { maxPathBytes: 4096 }).catch((e: unknown) => e)).toMatchObject({ code: 'SMOLVM_ERR_OCI_LAYER_INVALID' });
    const xattr = tarArchive([{ name: 'x', data: '', xattrs: { 'user.big': Buffer.alloc(100_000) } }]);
    expect(await readAll(xattr).catch((e: unknown) => e)).toMatchObject({ code: 'SMOLVM_ERR_OCI_LAYER_INVALID' });
  });

  it('stops a gzip bomb at the size limit', async () => {
    const bomb = gzipSync(tarArchive([{ name: 'zeros', data: Buffer.alloc(16 << 20) }]));
    expect(bomb.length).toBeLessThan(100_000);
    const err = await readAll(decompressLayer([bomb]), { maxTotalBytes: 1 << 20 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_OCI_TOO_LARGE' });
  });
});

describe('readTar fuzz', () => {
  const valid = tarArchive(sample);
  const check = async (bytes: Buffer, gz = false): Promise<void> => {
    try {
      await readAll(gz ? decompressLayer([bytes]) : bytes, { maxTotalBytes: 8 << 20 });
    } catch (e) {
      if (!isOciError(e)) throw e;
    }
  };

  it('random bytes give entries or coded errors', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (b) => check(Buffer.from(b))), { numRuns: 300 });
  });

  it('mutated archives give entries or coded errors', async () => {
    const mutation = fc.record({
      flips: fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }),
      cut: fc.option(fc.nat(valid.length), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(mutation, async ({ flips, cut }) => {
        const b = Buffer.from(valid);
        for (const [at, v] of flips) b[at] = v;
        await check(cut === undefined ? b : b.subarray(0, cut));
      }),
      { numRuns: 400 },
    );
  });

  it('mutated gzip layers give entries or coded errors', async () => {
    const gz = gzipSync(valid);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(gz.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(gz.length), async (flips, cut) => {
        const b = Buffer.from(gz);
        for (const [at, v] of flips) b[at] = v;
        await check(b.subarray(0, Math.max(cut, 2)), true);
      }),
      { numRuns: 200 },
    );
  });

  it('mutated PAX headers give entries or coded errors', async () => {
    const records = fc.array(
      fc.tuple(fc.constantFrom('path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'SCHILY.xattr.user.a', 'LIBARCHIVE.xattr.user.b', 'GNU.sparse.major', 'x'), fc.string({ maxLength: 20 }), fc.integer({ min: -3, max: 3 })),
      { maxLength: 5 },
    );
    await fc.assert(
      fc.asyncProperty(records, async (recs) => {
        const body = Buffer.concat(recs.map(([k, v, skew]) => {
          const rec = ` ${k}=${v}\n`;
          const len = Buffer.byteLength(rec) + String(Buffer.byteLength(rec) + 2).length;
          return Buffer.from(`${len + skew}${rec}`);
        }));
        const head = tarEntry({ name: 'PaxHeaders/x', data: body });
        head[156] = 0x78; // 'x'
        head.write('        ', 148, 'latin1');
        let sum = 0;
        for (let i = 0; i < 512; i++) sum += head[i] as number;
        head.write(`${sum.toString(8).padStart(6, '0')}\0`, 148, 'latin1');
        await check(Buffer.concat([head, tarArchive([{ name: 'after', data: 'data' }])]));
      }),
      { numRuns: 300 },
    );
  });
});
