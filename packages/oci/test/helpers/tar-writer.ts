// A small tar writer for tests: ustar headers, PAX records for long names and xattrs, GNU long names on
// request. It writes what the test asks for, including hostile names, so tests can build any layer.
export interface TarWriterEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  data?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | string>;
  /** How to carry names longer than 100 bytes: PAX (default) or GNU 'L'/'K' records. */
  longNames?: 'pax' | 'gnu';
}

const TYPEFLAG = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function octal(value: number, len: number): string {
  return value.toString(8).padStart(len - 1, '0') + '\0';
}

function header(fields: { name: string; typeflag: string; size: number; mode: number; uid: number; gid: number; mtime: number; linkname: string; devmajor: number; devminor: number; gnu?: boolean }): Buffer {
  const b = Buffer.alloc(512);
  const name = Buffer.from(fields.name);
  name.copy(b, 0, 0, Math.min(100, name.length));
  b.write(octal(fields.mode, 8), 100, 'latin1');
  b.write(octal(fields.uid, 8), 108, 'latin1');
  b.write(octal(fields.gid, 8), 116, 'latin1');
  b.write(octal(fields.size, 12), 124, 'latin1');
  b.write(octal(fields.mtime, 12), 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(fields.typeflag, 156, 'latin1');
  const link = Buffer.from(fields.linkname);
  link.copy(b, 157, 0, Math.min(100, link.length));
  if (fields.gnu) b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\x0000', 257, 'latin1');
  b.write(octal(fields.devmajor, 8), 329, 'latin1');
  b.write(octal(fields.devminor, 8), 337, 'latin1');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(octal(sum, 7), 148, 'latin1');
  return b;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

export function tarEntry(e: TarWriterEntry): Buffer {
  const type = e.type ?? 'file';
  const data = type === 'file' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
  const linkname = e.linkname ?? '';
  const parts: Buffer[] = [];
  const common = {
    mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644),
    uid: e.uid ?? 0,
    gid: e.gid ?? 0,
    mtime: e.mtime ?? 1_700_000_000,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  };
  const longName = Buffer.byteLength(e.name) > 100;
  const longLink = Buffer.byteLength(linkname) > 100;
  if (e.longNames === 'gnu' && (longName || longLink)) {
    for (const [flag, value] of [['L', longName ? e.name : undefined], ['K', longLink ? linkname : undefined]] as const) {
      if (value === undefined) continue;
      const v = Buffer.concat([Buffer.from(value), Buffer.from([0])]);
      parts.push(header({ ...common, name: '././@LongLink', typeflag: flag, size: v.length, linkname: '', gnu: true }), v, pad(v.length));
    }
  } else {
    const records: Buffer[] = [];
    if (longName) records.push(paxRecord('path', Buffer.from(e.name)));
    if (longLink) records.push(paxRecord('linkpath', Buffer.from(linkname)));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
    if (records.length > 0) {
      const body = Buffer.concat(records);
      parts.push(header({ ...common, name: 'PaxHeaders/x', typeflag: 'x', size: body.length, linkname: '' }), body, pad(body.length));
    }
  }
  parts.push(header({ ...common, name: e.name, typeflag: TYPEFLAG[type], size: data.length, linkname, gnu: e.longNames === 'gnu' }), data, pad(data.length));
  return Buffer.concat(parts);
}

/** A whole archive, with the two zero blocks at the end. */
export function tarArchive(entries: TarWriterEntry[]): Buffer {
  return Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024)]);
}
