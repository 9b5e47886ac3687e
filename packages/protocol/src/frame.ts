import { FrameDecodeError } from './errors.js';

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 12;
export const MAX_PAYLOAD = 1_048_576;
export const MAX_DATA_CHUNK = 65_536;
export const MAX_STRING = 262_144;
export const MAX_LIST = 4096;
export const STDIN_WINDOW = 262_144;
export const FLAG_FIN = 0x01;

export const Capability = { TTY: 0x1, SIGNALS: 0x2, FLOW_CONTROL: 0x4, FILES: 0x8, TCP: 0x10 } as const;
export const ALL_CAPABILITIES = 0x1f;
/** `FS_WRITE` flag: create missing parents; `FS_MKDIR`: parents; `FS_REMOVE`: recursive. */
export const FsFlag = { MKDIRS: 0x1, PARENTS: 0x1, RECURSIVE: 0x1 } as const;
export const FsKind = { FILE: 1, DIRECTORY: 2, SYMLINK: 3, CHAR_DEVICE: 4, BLOCK_DEVICE: 5, FIFO: 6, SOCKET: 7 } as const;
export const ExecFlag = { TTY: 0x1, STDIN: 0x2 } as const;

export const AgentErrorCode = {
  UNSUPPORTED_VERSION: 1,
  MALFORMED: 2,
  BAD_STREAM: 3,
  EXEC_SETUP: 4,
  FLOW_CONTROL: 5,
  INTERNAL: 6,
} as const;

export const FrameType = {
  HELLO: 0x01,
  HELLO_ACK: 0x02,
  PING: 0x03,
  PONG: 0x04,
  SHUTDOWN: 0x05,
  EXEC: 0x10,
  STDIN: 0x11,
  STDOUT: 0x12,
  STDERR: 0x13,
  WINDOW: 0x14,
  SIGNAL: 0x15,
  RESIZE: 0x16,
  EXIT: 0x17,
  ERROR: 0x1f,
  FS_WRITE: 0x20,
  FS_READ: 0x21,
  FS_STAT: 0x22,
  FS_LIST: 0x23,
  FS_MKDIR: 0x24,
  FS_REMOVE: 0x25,
  FS_DONE: 0x26,
  FS_ENTRY: 0x27,
  TCP_CONNECT: 0x28,
} as const;

export type Frame =
  | { type: 'HELLO'; stream: 0; minVersion: number; maxVersion: number; capabilities: number }
  | { type: 'HELLO_ACK'; stream: 0; version: number; capabilities: number; agent: Buffer }
  | { type: 'PING'; stream: 0; nonce: bigint }
  | { type: 'PONG'; stream: 0; nonce: bigint }
  | { type: 'SHUTDOWN'; stream: 0 }
  | {
      type: 'EXEC';
      stream: number;
      flags: number;
      uid: number;
      gid: number;
      rows: number;
      cols: number;
      window: number;
      argv: Buffer[];
      env: Buffer[];
      cwd: Buffer;
    }
  | { type: 'STDIN' | 'STDOUT' | 'STDERR'; stream: number; fin: boolean; data: Buffer }
  | { type: 'WINDOW'; stream: number; fd: number; increment: number }
  | { type: 'SIGNAL'; stream: number; signo: number }
  | { type: 'RESIZE'; stream: number; rows: number; cols: number }
  | { type: 'EXIT'; stream: number; exitCode: number; signal: number; execErrno: number }
  | { type: 'ERROR'; stream: number; code: number; message: Buffer }
  | { type: 'FS_WRITE'; stream: number; mode: number; flags: number; path: Buffer }
  | { type: 'FS_READ'; stream: number; window: number; path: Buffer }
  | { type: 'FS_STAT' | 'FS_LIST'; stream: number; path: Buffer }
  | { type: 'FS_MKDIR'; stream: number; mode: number; flags: number; path: Buffer }
  | { type: 'FS_REMOVE'; stream: number; flags: number; path: Buffer }
  | { type: 'FS_DONE'; stream: number; errno: number; message: Buffer }
  | { type: 'TCP_CONNECT'; stream: number; window: number; port: number }
  | {
      type: 'FS_ENTRY';
      stream: number;
      kind: number;
      mode: number;
      uid: number;
      gid: number;
      size: bigint;
      mtime: bigint;
      name: Buffer;
      target: Buffer;
    };

export type FrameTypeName = Frame['type'];

const codeByName = FrameType as Record<FrameTypeName, number>;
const nameByCode = new Map<number, FrameTypeName>(
  Object.entries(FrameType).map(([name, code]) => [code, name as FrameTypeName]),
);
const controlTypes = new Set<FrameTypeName>(['HELLO', 'HELLO_ACK', 'PING', 'PONG', 'SHUTDOWN']);
const dataTypes = new Set<FrameTypeName>(['STDIN', 'STDOUT', 'STDERR']);

/** Writes payload fields into a growable buffer. */
class Writer {
  private parts: Buffer[] = [];
  private size = 0;
  u8(v: number): this {
    return this.push(Buffer.from([v & 0xff]));
  }
  u16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16BE(v);
    return this.push(b);
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0);
    return this.push(b);
  }
  i32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v | 0);
    return this.push(b);
  }
  u64(v: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(v);
    return this.push(b);
  }
  i64(v: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(v);
    return this.push(b);
  }
  str(v: Buffer): this {
    if (v.length > MAX_STRING) throw new RangeError(`string of ${v.length} bytes exceeds ${MAX_STRING}`);
    return this.u32(v.length).push(v);
  }
  strlist(v: Buffer[]): this {
    if (v.length > MAX_LIST) throw new RangeError(`list of ${v.length} entries exceeds ${MAX_LIST}`);
    this.u32(v.length);
    for (const s of v) this.str(s);
    return this;
  }
  push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

/** Encodes one frame, header included. Throws RangeError for values the spec does not allow. */
export function encodeFrame(frame: Frame): Buffer {
  const w = new Writer();
  let flags = 0;
  switch (frame.type) {
    case 'HELLO':
      w.u16(frame.minVersion).u16(frame.maxVersion).u32(frame.capabilities);
      break;
    case 'HELLO_ACK':
      w.u16(frame.version).u32(frame.capabilities).str(frame.agent);
      break;
    case 'PING':
    case 'PONG':
      w.u64(frame.nonce);
      break;
    case 'SHUTDOWN':
      break;
    case 'EXEC':
      w.u32(frame.flags).u32(frame.uid).u32(frame.gid).u16(frame.rows).u16(frame.cols).u32(frame.window);
      w.strlist(frame.argv).strlist(frame.env).str(frame.cwd);
      break;
    case 'STDIN':
    case 'STDOUT':
    case 'STDERR':
      if (frame.data.length > MAX_DATA_CHUNK) throw new RangeError(`data frame of ${frame.data.length} bytes`);
      flags = frame.fin ? FLAG_FIN : 0;
      w.push(frame.data);
      break;
    case 'WINDOW':
      w.u8(frame.fd).u32(frame.increment);
      break;
    case 'SIGNAL':
      w.u32(frame.signo);
      break;
    case 'RESIZE':
      w.u16(frame.rows).u16(frame.cols);
      break;
    case 'EXIT':
      w.i32(frame.exitCode).u32(frame.signal).u32(frame.execErrno);
      break;
    case 'ERROR':
      w.u32(frame.code).str(frame.message);
      break;
    case 'FS_WRITE':
    case 'FS_MKDIR':
      w.u32(frame.mode).u32(frame.flags).str(frame.path);
      break;
    case 'FS_READ':
      w.u32(frame.window).str(frame.path);
      break;
    case 'FS_STAT':
    case 'FS_LIST':
      w.str(frame.path);
      break;
    case 'FS_REMOVE':
      w.u32(frame.flags).str(frame.path);
      break;
    case 'FS_DONE':
      w.u32(frame.errno).str(frame.message);
      break;
    case 'TCP_CONNECT':
      w.u32(frame.window).u16(frame.port);
      break;
    case 'FS_ENTRY':
      w.u8(frame.kind).u32(frame.mode).u32(frame.uid).u32(frame.gid).u64(frame.size).i64(frame.mtime).str(frame.name).str(frame.target);
      break;
  }
  const payload = w.finish();
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt8(codeByName[frame.type], 4);
  header.writeUInt8(flags, 5);
  header.writeUInt16BE(0, 6);
  header.writeUInt32BE(frame.stream >>> 0, 8);
  return Buffer.concat([header, payload], HEADER_SIZE + payload.length);
}

/** Parsed header of a frame; `checkHeader` validates everything that does not need the payload. */
export interface FrameHeader {
  length: number;
  type: FrameTypeName;
  flags: number;
  stream: number;
}

export function checkHeader(buf: Buffer, offset = 0): FrameHeader {
  const length = buf.readUInt32BE(offset);
  const code = buf.readUInt8(offset + 4);
  const flags = buf.readUInt8(offset + 5);
  const reserved = buf.readUInt16BE(offset + 6);
  const stream = buf.readUInt32BE(offset + 8);
  if (length > MAX_PAYLOAD) throw new FrameDecodeError('too_large', `payload length ${length} exceeds ${MAX_PAYLOAD}`, true);
  const type = nameByCode.get(code);
  if (type === undefined) throw new FrameDecodeError('unknown_type', `type 0x${code.toString(16)}`, true);
  const allowed = dataTypes.has(type) ? FLAG_FIN : 0;
  if ((flags & ~allowed) !== 0) throw new FrameDecodeError('bad_flags', `flags 0x${flags.toString(16)} on ${type}`, true);
  if (reserved !== 0) throw new FrameDecodeError('bad_reserved', `reserved field is ${reserved}`, true);
  if (controlTypes.has(type) !== (stream === 0) && type !== 'ERROR') {
    throw new FrameDecodeError('bad_stream', `${type} on stream ${stream}`, true);
  }
  return { length, type, flags, stream };
}

/** Reads payload fields with bounds checks; every overrun is `short_payload`. */
class Reader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly stream: number,
  ) {}
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw this.fail('short_payload', `needs ${n} more bytes at offset ${this.pos}`);
  }
  fail(reason: 'short_payload' | 'trailing_bytes' | 'limit' | 'bad_flags', detail: string): FrameDecodeError {
    return new FrameDecodeError(reason, detail, false, this.stream);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  str(): Buffer {
    const n = this.u32();
    if (n > MAX_STRING) throw this.fail('limit', `string of ${n} bytes exceeds ${MAX_STRING}`);
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  strlist(): Buffer[] {
    const n = this.u32();
    if (n > MAX_LIST) throw this.fail('limit', `list of ${n} entries exceeds ${MAX_LIST}`);
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) out.push(this.str());
    return out;
  }
  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }
  end(): void {
    if (this.pos !== this.buf.length) throw this.fail('trailing_bytes', `${this.buf.length - this.pos} bytes left over`);
  }
}

/** Decodes the payload of a frame whose header passed `checkHeader`. */
export function decodePayload(header: FrameHeader, payload: Buffer): Frame {
  const r = new Reader(payload, header.stream);
  const stream = header.stream;
  let frame: Frame;
  switch (header.type) {
    case 'HELLO':
      frame = { type: 'HELLO', stream: 0, minVersion: r.u16(), maxVersion: r.u16(), capabilities: r.u32() };
      break;
    case 'HELLO_ACK':
      frame = { type: 'HELLO_ACK', stream: 0, version: r.u16(), capabilities: r.u32(), agent: r.str() };
      break;
    case 'PING':
    case 'PONG':
      frame = { type: header.type, stream: 0, nonce: r.u64() };
      break;
    case 'SHUTDOWN':
      frame = { type: 'SHUTDOWN', stream: 0 };
      break;
    case 'EXEC': {
      const flags = r.u32();
      if ((flags & ~(ExecFlag.TTY | ExecFlag.STDIN)) !== 0) throw r.fail('bad_flags', `unknown exec flags 0x${flags.toString(16)}`);
      const uid = r.u32();
      const gid = r.u32();
      const rows = r.u16();
      const cols = r.u16();
      const window = r.u32();
      if (window < 1) throw r.fail('limit', 'exec window must be at least 1 byte');
      const argv = r.strlist();
      if (argv.length < 1) throw r.fail('limit', 'exec argv is empty');
      const env = r.strlist();
      const cwd = r.str();
      frame = { type: 'EXEC', stream, flags, uid, gid, rows, cols, window, argv, env, cwd };
      break;
    }
    case 'STDIN':
    case 'STDOUT':
    case 'STDERR': {
      // MAX_DATA_CHUNK is a sender rule; the receiver only relies on the frame size bound.
      const data = r.rest();
      frame = { type: header.type, stream, fin: (header.flags & FLAG_FIN) !== 0, data };
      break;
    }
    case 'WINDOW': {
      const fd = r.u8();
      const increment = r.u32();
      if (fd > 2) throw r.fail('limit', `window fd ${fd}`);
      if (increment < 1) throw r.fail('limit', 'window increment must be at least 1');
      frame = { type: 'WINDOW', stream, fd, increment };
      break;
    }
    case 'SIGNAL': {
      const signo = r.u32();
      if (signo < 1 || signo > 64) throw r.fail('limit', `signal ${signo}`);
      frame = { type: 'SIGNAL', stream, signo };
      break;
    }
    case 'RESIZE':
      frame = { type: 'RESIZE', stream, rows: r.u16(), cols: r.u16() };
      break;
    case 'EXIT':
      frame = { type: 'EXIT', stream, exitCode: r.i32(), signal: r.u32(), execErrno: r.u32() };
      break;
    case 'ERROR':
      frame = { type: 'ERROR', stream, code: r.u32(), message: r.str() };
      break;
    case 'FS_WRITE':
    case 'FS_MKDIR': {
      const mode = r.u32();
      if (mode > 0o7777) throw r.fail('limit', `mode ${mode.toString(8)} has more than permission bits`);
      const flags = r.u32();
      if ((flags & ~0x1) !== 0) throw r.fail('bad_flags', `unknown ${header.type} flags 0x${flags.toString(16)}`);
      frame = { type: header.type, stream, mode, flags, path: r.str() };
      break;
    }
    case 'FS_READ': {
      const window = r.u32();
      if (window < 1) throw r.fail('limit', 'read window must be at least 1 byte');
      frame = { type: 'FS_READ', stream, window, path: r.str() };
      break;
    }
    case 'FS_STAT':
    case 'FS_LIST':
      frame = { type: header.type, stream, path: r.str() };
      break;
    case 'FS_REMOVE': {
      const flags = r.u32();
      if ((flags & ~0x1) !== 0) throw r.fail('bad_flags', `unknown FS_REMOVE flags 0x${flags.toString(16)}`);
      frame = { type: 'FS_REMOVE', stream, flags, path: r.str() };
      break;
    }
    case 'FS_DONE':
      frame = { type: 'FS_DONE', stream, errno: r.u32(), message: r.str() };
      break;
    case 'TCP_CONNECT': {
      const window = r.u32();
      if (window < 1) throw r.fail('limit', 'TCP_CONNECT window must be at least 1 byte');
      const port = r.u16();
      if (port < 1) throw r.fail('limit', 'TCP_CONNECT port 0');
      frame = { type: 'TCP_CONNECT', stream, window, port };
      break;
    }
    case 'FS_ENTRY': {
      const kind = r.u8();
      if (kind < 1 || kind > 7) throw r.fail('limit', `entry kind ${kind}`);
      const mode = r.u32();
      if (mode > 0o7777) throw r.fail('limit', `mode ${mode.toString(8)} has more than permission bits`);
      frame = { type: 'FS_ENTRY', stream, kind, mode, uid: r.u32(), gid: r.u32(), size: r.u64(), mtime: r.i64(), name: r.str(), target: r.str() };
      break;
    }
  }
  r.end();
  return frame;
}

/** Decodes exactly one complete frame (used by tests and vectors). */
export function decodeFrame(buf: Buffer): Frame {
  if (buf.length < HEADER_SIZE) throw new FrameDecodeError('truncated', `${buf.length} bytes is less than a header`, true);
  const header = checkHeader(buf);
  if (buf.length < HEADER_SIZE + header.length) {
    throw new FrameDecodeError('truncated', `payload has ${buf.length - HEADER_SIZE} of ${header.length} bytes`, true);
  }
  if (buf.length > HEADER_SIZE + header.length) {
    throw new FrameDecodeError('trailing_bytes', 'bytes after the frame', true);
  }
  return decodePayload(header, buf.subarray(HEADER_SIZE));
}

/**
 * Incremental decoder for a byte stream. Holds at most one frame's bytes (header + MAX_PAYLOAD), so memory
 * is bounded whatever the peer sends. `push` returns the complete frames; payload errors are returned as
 * FrameDecodeError values (the stream can go on); header errors throw (the stream cannot).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private header: FrameHeader | undefined;

  push(chunk: Buffer): Array<Frame | FrameDecodeError> {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Array<Frame | FrameDecodeError> = [];
    for (;;) {
      if (this.header === undefined) {
        if (this.buffered < HEADER_SIZE) break;
        this.header = checkHeader(this.take(HEADER_SIZE));
      }
      if (this.buffered < this.header.length) break;
      const header = this.header;
      this.header = undefined;
      const payload = this.take(header.length);
      try {
        out.push(decodePayload(header, payload));
      } catch (e) {
        if (e instanceof FrameDecodeError) out.push(e);
        else throw e;
      }
    }
    return out;
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const joined = Buffer.concat(this.chunks, this.buffered);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}
