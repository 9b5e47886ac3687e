// A bounded, streaming tar reader for untrusted input: ustar, PAX (x) headers with path/linkpath/size/
// uid/gid/mtime and SCHILY/LIBARCHIVE xattrs, GNU long names (L/K) and base-256 numbers. It buffers
// nothing but headers, caps every header extension and the total size, and throws only OciError.
import { OciError } from './errors.js';

/** Bytes as chunks: a stream, an async generator, or simply an array of buffers. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** The entry's path exactly as the archive names it (PAX or GNU long names applied). */
  name: string;
  type: TarEntryType;
  /** Bytes of content that follow (files only; 0 for every other type). */
  size: number;
  /** Permission bits including setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (may carry a fraction from PAX). */
  mtime: number;
  /** Target of a symlink or hard link; empty otherwise. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.*` / `LIBARCHIVE.xattr.*` records. */
  xattrs: Map<string, Buffer>;
}

export interface TarReadLimits {
  /** Most entries in one archive (default 2,000,000). */
  maxEntries?: number;
  /** Most bytes of PAX or GNU long-name data in front of one entry (default 1 MiB). */
  maxHeaderBytes?: number;
  /** Longest path or link target in bytes (default 16 KiB). */
  maxPathBytes?: number;
  /** Most bytes the whole archive may have (default 64 GiB). */
  maxTotalBytes?: number;
  /** Most extended attributes per entry (default 256). */
  maxXattrs?: number;
  /** Largest extended attribute value in bytes (default 64 KiB). */
  maxXattrBytes?: number;
}

export interface TarEntryWithBody extends TarEntry {
  /** The content; must be consumed (or left) before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;
const DEFAULTS: Required<TarReadLimits> = {
  maxEntries: 2_000_000,
  maxHeaderBytes: 1 << 20,
  maxPathBytes: 16 << 10,
  maxTotalBytes: 64 * 2 ** 30,
  maxXattrs: 256,
  maxXattrBytes: 64 << 10,
};
const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string, path?: string): OciError {
  return new OciError('SMOLVM_ERR_OCI_LAYER_INVALID', `malformed tar archive: ${message}`, {
    hint: 'The layer or archive is corrupt or was written by a tool that breaks the tar format; rebuild or re-export the image.',
    ...(path === undefined ? {} : { path }),
  });
}

/** Reads exact byte counts from an async iterable of chunks, keeping at most one chunk beyond the request. */
export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(source: ByteSource, private readonly maxTotal = Number.MAX_SAFE_INTEGER) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const v = r.value as unknown;
      if (!(v instanceof Uint8Array)) throw invalid('the input stream produced something other than bytes');
      if (v.byteLength === 0) continue;
      this.chunks.push(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      this.buffered += v.byteLength;
    }
  }

  private take(n: number): Buffer {
    this.consumed += n;
    if (this.consumed > this.maxTotal) {
      throw new OciError('SMOLVM_ERR_OCI_TOO_LARGE', `the archive is larger than the limit of ${this.maxTotal} bytes`, {
        hint: 'Raise the size limit if the image really is this large; otherwise the archive may be a decompression bomb.',
      });
    }
    const first = this.chunks[0] as Buffer;
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Exactly n bytes, or null at a clean end of input (no byte left); a partial read is an error. */
  async readExact(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buffered === 0 && this.ended) return null;
    if (this.buffered < n) throw invalid(`the archive ends in the middle of a block (offset ${this.consumed + this.buffered})`);
    return this.take(n);
  }

  /** Up to `max` bytes (at least one), or null at end of input. */
  async readSome(max: number): Promise<Buffer | null> {
    if (this.buffered === 0) await this.fill(1);
    if (this.buffered === 0) return null;
    return this.take(Math.min(max, (this.chunks[0] as Buffer).length));
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const c = await this.readSome(left);
      if (!c) throw invalid(`the archive ends ${left} bytes early (offset ${this.consumed})`);
      left -= c.length;
    }
  }

  /** Reads and discards everything left in the input. */
  async drain(): Promise<void> {
    while ((await this.readSome(1 << 20)) !== null) {
      /* discard */
    }
  }
}

function cstring(block: Buffer, off: number, len: number): Buffer {
  const field = block.subarray(off, off + len);
  const nul = field.indexOf(0);
  return nul < 0 ? field : field.subarray(0, nul);
}

function decodeName(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw invalid(`${what} is not valid UTF-8`);
  }
}

/** Octal ASCII (space/NUL padded) or GNU base-256 (high bit set). */
function parseNumber(block: Buffer, off: number, len: number, what: string): number {
  const field = block.subarray(off, off + len);
  const first = field[0] as number;
  if (first & 0x80) {
    if (first !== 0x80) throw invalid(`${what} is a negative or oversized base-256 number`);
    let v = 0;
    for (let i = 1; i < field.length; i++) {
      v = v * 256 + (field[i] as number);
      if (v > Number.MAX_SAFE_INTEGER) throw invalid(`${what} is too large`);
    }
    return v;
  }
  let s = field.toString('latin1');
  const nul = s.indexOf('\0');
  if (nul >= 0) s = s.slice(0, nul);
  s = s.trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw invalid(`${what} is not an octal number`);
  const v = parseInt(s, 8);
  if (!Number.isSafeInteger(v)) throw invalid(`${what} is too large`);
  return v;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function checkChecksum(block: Buffer): void {
  const stored = parseNumber(block, 148, 8, 'header checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) throw invalid('a header has a bad checksum (the archive is corrupt or not a tar file)');
}

interface PaxAttrs {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  xattrs: Map<string, Buffer>;
}

function paxDecimal(value: Buffer, key: string): number {
  const s = value.toString('latin1');
  if (!/^\d{1,16}$/.test(s)) throw invalid(`PAX ${key} is not a decimal number`);
  const v = Number(s);
  if (!Number.isSafeInteger(v)) throw invalid(`PAX ${key} is too large`);
  return v;
}

function parsePax(buf: Buffer, attrs: PaxAttrs, limits: Required<TarReadLimits>): void {
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) {
      // Some writers pad the extended header with NULs; anything after them must be NULs too.
      for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) throw invalid('PAX header has data after padding');
      return;
    }
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 12) throw invalid('PAX record has no length');
    const lenText = buf.toString('latin1', pos, sp);
    if (!/^[1-9]\d*$/.test(lenText)) throw invalid('PAX record length is not a number');
    const len = Number(lenText);
    if (len > buf.length - pos || len < sp - pos + 4) throw invalid('PAX record length is out of range');
    const rec = buf.subarray(sp + 1, pos + len);
    if (rec[rec.length - 1] !== 0x0a) throw invalid('PAX record does not end with a newline');
    const eq = rec.indexOf(0x3d);
    if (eq < 1) throw invalid('PAX record has no key');
    const key = decodeName(rec.subarray(0, eq), 'a PAX key');
    const value = rec.subarray(eq + 1, rec.length - 1);
    pos += len;
    applyPaxRecord(key, value, attrs, limits);
  }
}

function paxPath(value: Buffer, key: string, limits: Required<TarReadLimits>): string {
  if (value.length > limits.maxPathBytes) throw invalid(`PAX ${key} is longer than ${limits.maxPathBytes} bytes`);
  if (value.includes(0)) throw invalid(`PAX ${key} contains a NUL byte`);
  return decodeName(value, `PAX ${key}`);
}

function setXattr(attrs: PaxAttrs, name: string, value: Buffer, limits: Required<TarReadLimits>): void {
  if (name.length === 0 || name.length > 255 || name.includes('\0')) throw invalid('an extended attribute has an invalid name');
  if (value.length > limits.maxXattrBytes) throw invalid(`extended attribute ${name.slice(0, 80)} is larger than ${limits.maxXattrBytes} bytes`);
  if (!attrs.xattrs.has(name) && attrs.xattrs.size >= limits.maxXattrs) throw invalid(`an entry has more than ${limits.maxXattrs} extended attributes`);
  attrs.xattrs.set(name, Buffer.from(value));
}

function applyPaxRecord(key: string, value: Buffer, attrs: PaxAttrs, limits: Required<TarReadLimits>): void {
  switch (key) {
    case 'path':
      if (value.length > 0) attrs.path = paxPath(value, key, limits);
      return;
    case 'linkpath':
      if (value.length > 0) attrs.linkpath = paxPath(value, key, limits);
      return;
    case 'size':
      attrs.size = paxDecimal(value, key);
      return;
    case 'uid':
      attrs.uid = paxDecimal(value, key);
      return;
    case 'gid':
      attrs.gid = paxDecimal(value, key);
      return;
    case 'SCHILY.devmajor':
      attrs.devmajor = paxDecimal(value, key);
      return;
    case 'SCHILY.devminor':
      attrs.devminor = paxDecimal(value, key);
      return;
    case 'mtime': {
      const s = value.toString('latin1');
      if (!/^-?\d{1,16}(\.\d{0,18})?$/.test(s)) throw invalid('PAX mtime is not a number');
      attrs.mtime = Number(s);
      return;
    }
  }
  if (key.startsWith('SCHILY.xattr.')) {
    setXattr(attrs, key.slice('SCHILY.xattr.'.length), value, limits);
    return;
  }
  if (key.startsWith('LIBARCHIVE.xattr.')) {
    let name: string;
    try {
      name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
    } catch {
      throw invalid('a LIBARCHIVE.xattr name is not URL-encoded');
    }
    const text = value.toString('latin1');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw invalid('a LIBARCHIVE.xattr value is not base64');
    setXattr(attrs, name, Buffer.from(text, 'base64'), limits);
    return;
  }
  if (key.startsWith('GNU.sparse.')) {
    throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', 'the archive holds a GNU sparse file, which smolvm does not read', {
      hint: 'Rebuild the layer without --sparse (GNU tar) so that files are stored whole.',
    });
  }
  // Everything else (atime, ctime, uname, gname, comment, hdrcharset, vendor keys) does not matter here.
}

/**
 * Reads entries one by one. Each entry's body must be consumed (or ignored) before the next one is
 * requested. After the end-of-archive marker the rest of the input is read and discarded, so a digest
 * computed over the stream covers every byte.
 */
export async function* readTar(source: ByteSource, limitsIn: TarReadLimits = {}): AsyncGenerator<TarEntryWithBody> {
  const limits: Required<TarReadLimits> = { ...DEFAULTS, ...limitsIn };
  const reader = new ByteReader(source, limits.maxTotalBytes);
  let entries = 0;
  let pax: PaxAttrs = { xattrs: new Map() };
  let longName: string | undefined;
  let longLink: string | undefined;
  let metaBytes = 0;

  const readMeta = async (size: number, what: string): Promise<Buffer> => {
    metaBytes += size;
    if (metaBytes > limits.maxHeaderBytes) throw invalid(`${what} data in front of one entry is larger than ${limits.maxHeaderBytes} bytes`);
    const data = size === 0 ? Buffer.alloc(0) : await reader.readExact(size);
    if (data === null) throw invalid(`the archive ends inside ${what} data`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await reader.skip(pad);
    return data;
  };

  for (;;) {
    const block = await reader.readExact(BLOCK);
    if (block === null) {
      // EOF at a block boundary without the end-of-archive marker: accepted, as GNU tar does.
      if (longName !== undefined || longLink !== undefined || metaBytes > 0) throw invalid('the archive ends after an extended header');
      return;
    }
    if (isZeroBlock(block)) {
      if (longName !== undefined || longLink !== undefined || metaBytes > 0) throw invalid('an extended header is followed by the end of the archive');
      await reader.drain();
      return;
    }
    checkChecksum(block);
    const typeflag = String.fromCharCode(block[156] as number);
    const magic = block.toString('latin1', 257, 263);
    const version = block.toString('latin1', 263, 265);
    const isUstar = magic === 'ustar\0' && version === '00';
    const isGnu = magic === 'ustar ' && version === ' \0';
    const rawSize = parseNumber(block, 124, 12, 'size');

    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (rawSize > limits.maxHeaderBytes) throw invalid(`an extended header is larger than ${limits.maxHeaderBytes} bytes`);
      const data = await readMeta(rawSize, typeflag === 'x' || typeflag === 'g' ? 'PAX' : 'GNU long name');
      if (typeflag === 'x') parsePax(data, pax, limits);
      // 'g' (global PAX) records are ignored, as Docker and containerd do.
      if (typeflag === 'L' || typeflag === 'K') {
        const raw = cstring(data, 0, data.length);
        if (raw.length > limits.maxPathBytes) throw invalid(`a GNU long name is longer than ${limits.maxPathBytes} bytes`);
        const text = decodeName(raw, 'a GNU long name');
        if (typeflag === 'L') longName = text;
        else longLink = text;
      }
      continue;
    }

    if (++entries > limits.maxEntries) throw invalid(`the archive has more than ${limits.maxEntries} entries`);
    let name = decodeName(cstring(block, 0, 100), 'an entry name');
    if (isUstar) {
      const prefix = cstring(block, 345, 155);
      if (prefix.length > 0) name = `${decodeName(prefix, 'an entry name prefix')}/${name}`;
    }
    let linkname = decodeName(cstring(block, 157, 100), 'a link target');
    if (longName !== undefined) name = longName;
    if (longLink !== undefined) linkname = longLink;
    if (pax.path !== undefined) name = pax.path;
    if (pax.linkpath !== undefined) linkname = pax.linkpath;
    const hasDev = isUstar || isGnu;
    const entry: TarEntry = {
      name,
      type: 'file',
      size: pax.size ?? rawSize,
      mode: parseNumber(block, 100, 8, 'mode') & 0o7777,
      uid: pax.uid ?? parseNumber(block, 108, 8, 'uid'),
      gid: pax.gid ?? parseNumber(block, 116, 8, 'gid'),
      mtime: pax.mtime ?? parseNumber(block, 136, 12, 'mtime'),
      linkname,
      devmajor: pax.devmajor ?? (hasDev ? parseNumber(block, 329, 8, 'devmajor') : 0),
      devminor: pax.devminor ?? (hasDev ? parseNumber(block, 337, 8, 'devminor') : 0),
      xattrs: pax.xattrs,
    };
    pax = { xattrs: new Map() };
    longName = undefined;
    longLink = undefined;
    metaBytes = 0;
    if (entry.name.length === 0) throw invalid('an entry has an empty name');
    if (Buffer.byteLength(entry.name) > limits.maxPathBytes) throw invalid(`an entry name is longer than ${limits.maxPathBytes} bytes`);
    if (entry.uid > 0xffffffff || entry.gid > 0xffffffff) throw invalid('an entry has a uid or gid above 2^32-1', entry.name);

    let dataSize = entry.size;
    switch (typeflag) {
      case '0':
      case '\0':
      case '7':
        entry.type = entry.name.endsWith('/') && typeflag === '\0' ? 'dir' : 'file';
        break;
      case '1':
        entry.type = 'hardlink';
        break;
      case '2':
        entry.type = 'symlink';
        break;
      case '3':
        entry.type = 'char';
        break;
      case '4':
        entry.type = 'block';
        break;
      case '5':
      case 'D': // GNU dumpdir: a directory whose body lists names; the body is skipped.
        entry.type = 'dir';
        break;
      case '6':
        entry.type = 'fifo';
        break;
      case 'V': // GNU volume label: not a file.
        await reader.skip(entry.size + ((BLOCK - (entry.size % BLOCK)) % BLOCK));
        continue;
      case 'S':
      case 'M':
      case 'N':
        throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', `the archive uses GNU tar extension '${typeflag}' (sparse, multi-volume or old long names), which smolvm does not read`, {
          hint: 'Rebuild the layer with a plain ustar or PAX writer.',
          path: entry.name,
        });
      default:
        throw invalid(`entry type ${JSON.stringify(typeflag)} is not known`, entry.name);
    }
    // As in Go's archive/tar (and so Docker): links, devices, fifos and directories carry no data, whatever
    // the size field says; only GNU dumpdirs and files have bodies.
    if (entry.type !== 'file' && typeflag !== 'D') dataSize = 0;
    if (entry.type !== 'file') entry.size = 0;
    if ((entry.type === 'symlink' || entry.type === 'hardlink') && entry.linkname.length === 0) {
      throw invalid(`${entry.type} has no target`, entry.name);
    }

    let remaining = typeflag === 'D' ? 0 : dataSize;
    let toSkip = typeflag === 'D' ? dataSize : 0;
    let active = true;
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: async function* () {
        while (remaining > 0) {
          if (!active) throw invalid('an entry body was read after the next entry was requested', entry.name);
          const chunk = await reader.readSome(Math.min(remaining, 1 << 20));
          if (chunk === null) throw invalid(`the archive ends inside the content of ${entry.name.slice(0, 200)}`, entry.name);
          remaining -= chunk.length;
          yield chunk;
        }
      },
    };
    yield { ...entry, body };
    active = false;
    toSkip += remaining;
    remaining = 0;
    await reader.skip(toSkip + ((BLOCK - (dataSize % BLOCK)) % BLOCK));
  }
}
