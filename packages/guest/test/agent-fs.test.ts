// File operations of the guest agent (SPEC.md "File operations") against `smolvm-agent-host --stdio
// --root DIR`: raw frames, as in agent.test.ts, so that this test pins the wire format. Every test gets a
// fresh directory tree: `root` (what the agent sees as "/") next to `outside` (what it must never reach).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentProcess, FIN, T, frame, killRunning, str, u16, u32, u8, type Frame } from './agent-harness.js';

const agentDir = fileURLToPath(new URL('../agent/', import.meta.url));
// A private build directory: other test files build the agent too, concurrently.
const buildDir = mkdtempSync(join(tmpdir(), 'smolvm-agent-fs-build-'));
const agentBin = join(buildDir, 'smolvm-agent-host');

const E = osConstants.errno;
const KIND = { file: 1, dir: 2, symlink: 3, chr: 4, blk: 5, fifo: 6, sock: 7 } as const;

const fsWrite = (stream: number, path: string, mode = 0o644, mkdirs = false): Buffer =>
  frame(T.FS_WRITE, stream, Buffer.concat([u32(mode), u32(mkdirs ? 1 : 0), str(path)]));
const fsRead = (stream: number, path: string, window = 262144): Buffer => frame(T.FS_READ, stream, Buffer.concat([u32(window), str(path)]));
const fsStat = (stream: number, path: string): Buffer => frame(T.FS_STAT, stream, str(path));
const fsList = (stream: number, path: string): Buffer => frame(T.FS_LIST, stream, str(path));
const fsMkdir = (stream: number, path: string, mode = 0o755, parents = false): Buffer =>
  frame(T.FS_MKDIR, stream, Buffer.concat([u32(mode), u32(parents ? 1 : 0), str(path)]));
const fsRemove = (stream: number, path: string, recursive = false): Buffer =>
  frame(T.FS_REMOVE, stream, Buffer.concat([u32(recursive ? 1 : 0), str(path)]));
const stdin = (stream: number, data: Buffer, fin = false): Buffer => frame(T.STDIN, stream, data, fin ? FIN : 0);
const windowFrame = (stream: number, fd: number, n: number): Buffer => frame(T.WINDOW, stream, Buffer.concat([u8(fd), u32(n)]));

interface Entry {
  kind: number;
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  mtime: bigint;
  name: string;
  target: string;
}
function parseEntry(p: Buffer): Entry {
  const nameLen = p.readUInt32BE(29);
  const name = p.subarray(33, 33 + nameLen).toString();
  const tOff = 33 + nameLen;
  return {
    kind: p.readUInt8(0),
    mode: p.readUInt32BE(1),
    uid: p.readUInt32BE(5),
    gid: p.readUInt32BE(9),
    size: p.readBigUInt64BE(13),
    mtime: p.readBigInt64BE(21),
    name,
    target: p.subarray(tOff + 4, tOff + 4 + p.readUInt32BE(tOff)).toString(),
  };
}
const parseDone = (f: Frame): { errno: number; message: string } => ({
  errno: f.payload.readUInt32BE(0),
  message: f.payload.subarray(8, 8 + f.payload.readUInt32BE(4)).toString(),
});

class Agent extends AgentProcess {
  constructor(root: string, extra: string[] = []) {
    super(agentBin, ['--stdio', '--root', root, ...extra]);
  }

  /** Frames of one stream up to its FS_DONE (or ERROR); STDOUT credit is granted back as it arrives. */
  async collect(stream: number, grant = true): Promise<{ data: Buffer; entries: Entry[]; end: Frame; frames: Frame[]; done: { errno: number; message: string } }> {
    const data: Buffer[] = [];
    const entries: Entry[] = [];
    const frames: Frame[] = [];
    for (;;) {
      const f = await this.next();
      if (!f) throw new Error(`EOF before the end of stream ${stream}; stderr: ${this.stderr}`);
      expect(f.stream).toBe(stream);
      frames.push(f);
      if (f.type === T.STDOUT) {
        data.push(f.payload);
        if (grant && f.payload.length > 0) this.send(windowFrame(stream, 1, f.payload.length));
      }
      if (f.type === T.FS_ENTRY) entries.push(parseEntry(f.payload));
      if (f.type === T.FS_DONE || f.type === T.ERROR)
        return { data: Buffer.concat(data), entries, end: f, frames, done: f.type === T.FS_DONE ? parseDone(f) : { errno: -1, message: '' } };
    }
  }

  /** A simple request whose answer is FS_DONE (after entries, for stat/list). */
  async op(stream: number, req: Buffer): Promise<{ errno: number; message: string; entries: Entry[] }> {
    this.send(req);
    const r = await this.collect(stream);
    expect(r.end.type).toBe(T.FS_DONE);
    return { ...r.done, entries: r.entries };
  }

  /**
   * FS_WRITE with content in 64 KiB STDIN frames under the agent's credit (262144 bytes to start, then its
   * WINDOW fd=0 grants). Returns the FS_DONE.
   */
  async write(stream: number, path: string, content: Buffer, mode = 0o644, mkdirs = false): Promise<{ errno: number; message: string }> {
    this.send(fsWrite(stream, path, mode, mkdirs));
    let credit = 262144;
    let off = 0;
    let granted = 0;
    let finSent = false;
    for (;;) {
      while (off < content.length && credit > 0) {
        const n = Math.min(65536, credit, content.length - off);
        this.send(stdin(stream, content.subarray(off, off + n)));
        off += n;
        credit -= n;
      }
      if (off >= content.length && !finSent) {
        this.send(stdin(stream, Buffer.alloc(0), true));
        finSent = true;
      }
      const f = await this.next();
      if (!f) throw new Error(`EOF during a write; stderr: ${this.stderr}`);
      expect(f.stream).toBe(stream);
      if (f.type === T.WINDOW) {
        expect(f.payload.readUInt8(0)).toBe(0);
        credit += f.payload.readUInt32BE(1);
        granted += f.payload.readUInt32BE(1);
        expect(granted).toBeLessThanOrEqual(content.length);
        continue;
      }
      expect(f.type).toBe(T.FS_DONE);
      return parseDone(f);
    }
  }
}

let base: string;
let root: string;
let outside: string;

beforeAll(() => {
  const build = spawnSync('make', ['-C', agentDir, 'host', `O=${buildDir}`], { encoding: 'utf8', timeout: 120_000 });
  if (build.status !== 0 || !existsSync(agentBin)) throw new Error(`make -C agent host failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
}, 130_000);
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'smolvm-agent-fs-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'host secret\n');
});
afterEach(() => {
  killRunning();
  rmSync(base, { recursive: true, force: true });
});

const modeOf = (p: string): number => lstatSync(p).mode & 0o7777;
const tempFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('.smolvm-write'));

describe('FS_WRITE and FS_READ', () => {
  it('round-trips 5 MB of binary data with its mode, under credit both ways', async () => {
    const a = new Agent(root);
    await a.handshake();
    const content = randomBytes(5 * 1024 * 1024);
    mkdirSync(join(root, 'data'));
    expect(await a.write(1, '/data/blob.bin', content, 0o4750)).toEqual({ errno: 0, message: '' });
    expect(readFileSync(join(root, 'data/blob.bin')).equals(content)).toBe(true);
    expect(modeOf(join(root, 'data/blob.bin'))).toBe(0o4750);
    expect(readdirSync(join(root, 'data'))).toEqual(['blob.bin']);

    a.send(fsRead(2, 'data/blob.bin', 65536)); // relative paths are relative to /
    const r = await a.collect(2);
    expect(r.done).toEqual({ errno: 0, message: '' });
    expect(r.data.equals(content)).toBe(true);
    const out = r.frames.filter((f) => f.type === T.STDOUT);
    for (const f of out) expect(f.payload.length).toBeLessThanOrEqual(65536);
    expect(out.at(-1)!.flags & FIN).toBe(FIN); // content ends with FIN, then FS_DONE
    expect(out.at(-1)!.payload.length).toBe(0);
  });

  it('writes an empty file and replaces an existing one', async () => {
    const a = new Agent(root);
    await a.handshake();
    writeFileSync(join(root, 'f'), 'old content', { mode: 0o600 });
    expect((await a.write(1, '/f', Buffer.from('new'), 0o644)).errno).toBe(0);
    expect(readFileSync(join(root, 'f'), 'utf8')).toBe('new');
    expect(modeOf(join(root, 'f'))).toBe(0o644);
    expect((await a.write(2, '/empty', Buffer.alloc(0), 0o600)).errno).toBe(0);
    expect(statSync(join(root, 'empty')).size).toBe(0);
  });

  it('creates missing parents with MKDIRS (0755), and fails with ENOENT without it', async () => {
    const a = new Agent(root);
    await a.handshake();
    const no = await a.write(1, '/x/y/z.txt', Buffer.from('hi'));
    expect(no.errno).toBe(E.ENOENT);
    expect(no.message).toContain('/x/y/z.txt');
    expect(existsSync(join(root, 'x'))).toBe(false);
    expect((await a.write(2, '/x/y/z.txt', Buffer.from('hi'), 0o600, true)).errno).toBe(0);
    expect(readFileSync(join(root, 'x/y/z.txt'), 'utf8')).toBe('hi');
    expect(modeOf(join(root, 'x'))).toBe(0o755);
    expect(modeOf(join(root, 'x/y'))).toBe(0o755);
  });

  it('fails with EISDIR when the target or the read path is a directory', async () => {
    const a = new Agent(root);
    await a.handshake();
    mkdirSync(join(root, 'd'));
    expect((await a.write(1, '/d', Buffer.from('x'))).errno).toBe(E.EISDIR);
    expect((await a.write(2, '/', Buffer.from('x'))).errno).toBe(E.EISDIR);
    const r = await a.op(3, fsRead(3, '/d'));
    expect(r.errno).toBe(E.EISDIR);
    expect(r.message).toBe(`/d: ${'Is a directory'}`);
    expect((await a.op(4, fsRead(4, '/missing'))).errno).toBe(E.ENOENT);
    expect(tempFiles(root)).toEqual([]);
  });

  for (const tmpfile of [true, false]) {
    const how = tmpfile ? 'O_TMPFILE' : 'a named temporary file';
    it(`leaves nothing behind when a write is abandoned with SIGNAL (${how})`, async () => {
      const a = new Agent(root, tmpfile ? [] : ['--no-tmpfile']);
      await a.handshake();
      writeFileSync(join(root, 'keep'), 'original');
      a.send(fsWrite(1, '/keep', 0o644), stdin(1, Buffer.alloc(100_000, 'a')), fsWrite(2, '/new', 0o644), stdin(2, Buffer.alloc(50_000, 'b')));
      // Both writes are under way: their input was taken (credit comes back).
      const seen = new Set<number>();
      while (seen.size < 2) {
        const f = await a.next();
        expect(f?.type).toBe(T.WINDOW);
        seen.add(f!.stream);
      }
      if (!tmpfile) expect(tempFiles(root).length).toBe(2);
      a.send(frame(T.SIGNAL, 1, u32(9)), frame(T.SIGNAL, 2, u32(15)));
      for (const s of [1, 2]) {
        const f = await a.next();
        expect(f?.type).toBe(T.FS_DONE);
        expect(f?.stream).toBe(s);
        expect(parseDone(f!).errno).toBe(E.ECANCELED);
      }
      expect(readFileSync(join(root, 'keep'), 'utf8')).toBe('original');
      expect(readdirSync(root).sort()).toEqual(['keep']);
      // Late input for the ended stream is ignored; the channel goes on.
      a.send(stdin(1, Buffer.from('late'), true), frame(T.PING, 0, Buffer.alloc(8)));
      expect((await a.next())?.type).toBe(T.PONG);
    });

    it(`leaves nothing behind when the channel closes mid-write (${how})`, async () => {
      const a = new Agent(root, tmpfile ? [] : ['--no-tmpfile']);
      await a.handshake();
      a.send(fsWrite(1, '/partial', 0o644), stdin(1, Buffer.alloc(70_000, 'p')));
      expect((await a.next())?.type).toBe(T.WINDOW);
      if (!tmpfile) expect(tempFiles(root).length).toBe(1);
      a.child.stdin.end();
      expect(await a.exited).toBe(0);
      expect(readdirSync(root)).toEqual([]);
    });
  }

  it('refuses more STDIN than its credit with ERROR 5 and discards the file', async () => {
    const a = new Agent(root, ['--no-tmpfile']);
    await a.handshake();
    a.send(fsWrite(1, '/f'));
    for (let i = 0; i < 4; i++) a.send(stdin(1, Buffer.alloc(65536)));
    // The agent grants credit back as it writes; race it by sending past the first 262144 bytes at once.
    a.send(stdin(1, Buffer.alloc(300_000)));
    let f: Frame | undefined;
    do f = await a.next();
    while (f?.type === T.WINDOW);
    expect(f?.type).toBe(T.ERROR);
    expect(f?.payload.readUInt32BE(0)).toBe(5);
    expect(readdirSync(root)).toEqual([]);
  });

  it('streams a large read without stalling other streams (credit per stream)', async () => {
    const a = new Agent(root);
    await a.handshake();
    writeFileSync(join(root, 'big'), randomBytes(3 * 1024 * 1024));
    writeFileSync(join(root, 'small'), 'small\n');
    a.send(fsRead(1, '/big', 1000));
    const first = await a.next();
    expect(first?.type).toBe(T.STDOUT);
    expect(first?.payload.length).toBe(1000);
    expect(await a.quiet(100)).toBe(true); // out of credit
    const small = await a.op(2, fsRead(2, '/small'));
    expect(small.errno).toBe(0);
    a.send(frame(T.EXEC, 3, Buffer.concat([u32(0), u32(0), u32(0), u16(0), u16(0), u32(65536), u32(2), str('echo'), str('ok'), u32(1), str(`PATH=${process.env.PATH}`), str('')])));
    const got: Frame[] = [];
    while (!got.some((f) => f.type === T.EXIT)) got.push((await a.next())!);
    expect(Buffer.concat(got.filter((f) => f.type === T.STDOUT).map((f) => f.payload)).toString()).toBe('ok\n');
    a.send(windowFrame(1, 1, 1 << 30));
    const rest = await a.collect(1, false);
    expect(rest.data.length + 1000).toBe(3 * 1024 * 1024);
    expect(rest.done.errno).toBe(0);
  });
});

describe('FS_STAT and FS_LIST', () => {
  it('reports kinds, modes, sizes, owners and symlink targets (lstat semantics)', async () => {
    const a = new Agent(root);
    await a.handshake();
    writeFileSync(join(root, 'file'), 'abc', { mode: 0o600 });
    mkdirSync(join(root, 'dir'), { mode: 0o750 });
    symlinkSync('/etc', join(root, 'lnk'));
    symlinkSync('../nowhere', join(root, 'dangling'));
    spawnSync('mkfifo', [join(root, 'fifo')]);
    const st = statSync(join(root, 'file'));

    const f = await a.op(1, fsStat(1, '/file'));
    expect(f.errno).toBe(0);
    expect(f.entries).toEqual([
      { kind: KIND.file, mode: 0o600, uid: st.uid, gid: st.gid, size: 3n, mtime: BigInt(Math.floor(st.mtimeMs / 1000)), name: 'file', target: '' },
    ]);
    const l = await a.op(2, fsStat(2, '/lnk'));
    expect(l.entries[0]).toMatchObject({ kind: KIND.symlink, name: 'lnk', target: '/etc' });
    expect((await a.op(3, fsStat(3, '/dangling'))).entries[0]).toMatchObject({ kind: KIND.symlink, target: '../nowhere' });
    expect((await a.op(4, fsStat(4, '/'))).entries[0]).toMatchObject({ kind: KIND.dir, name: '/' });
    expect((await a.op(5, fsStat(5, '/dir/'))).entries[0]).toMatchObject({ kind: KIND.dir, mode: 0o750, name: 'dir' });
    const missing = await a.op(6, fsStat(6, '/nope'));
    expect(missing).toEqual({ errno: E.ENOENT, message: '/nope: No such file or directory', entries: [] });

    const list = await a.op(7, fsList(7, '/'));
    expect(list.errno).toBe(0);
    const byName = Object.fromEntries(list.entries.map((e) => [e.name, e]));
    expect(Object.keys(byName).sort()).toEqual(['dangling', 'dir', 'fifo', 'file', 'lnk']);
    expect(byName.file).toMatchObject({ kind: KIND.file, mode: 0o600, size: 3n });
    expect(byName.dir).toMatchObject({ kind: KIND.dir, mode: 0o750 });
    expect(byName.lnk).toMatchObject({ kind: KIND.symlink, target: '/etc' });
    expect(byName.fifo).toMatchObject({ kind: KIND.fifo });
    expect((await a.op(8, fsList(8, '/file'))).errno).toBe(E.ENOTDIR);
  });

  it('lists a large directory in chunks', async () => {
    const a = new Agent(root);
    await a.handshake();
    mkdirSync(join(root, 'many'));
    const n = 1200;
    for (let i = 0; i < n; i++) writeFileSync(join(root, 'many', `entry-with-a-longish-name-${i}`), '');
    const r = await a.op(1, fsList(1, '/many'));
    expect(r.errno).toBe(0);
    expect(new Set(r.entries.map((e) => e.name)).size).toBe(n);
  });
});

describe('FS_MKDIR and FS_REMOVE', () => {
  it('makes directories with the exact mode, with and without PARENTS', async () => {
    const a = new Agent(root);
    await a.handshake();
    expect((await a.op(1, fsMkdir(1, '/m', 0o700))).errno).toBe(0);
    expect(modeOf(join(root, 'm'))).toBe(0o700);
    expect((await a.op(2, fsMkdir(2, '/m', 0o700))).errno).toBe(E.EEXIST);
    expect((await a.op(3, fsMkdir(3, '/m', 0o700, true))).errno).toBe(0);
    expect((await a.op(4, fsMkdir(4, '/p/q/r', 0o1777))).errno).toBe(E.ENOENT);
    expect((await a.op(5, fsMkdir(5, '/p/q/r', 0o1777, true))).errno).toBe(0);
    expect(modeOf(join(root, 'p/q/r'))).toBe(0o1777);
    expect(modeOf(join(root, 'p'))).toBe(0o755);
    writeFileSync(join(root, 'plain'), '');
    expect((await a.op(6, fsMkdir(6, '/plain', 0o755, true))).errno).toBe(E.EEXIST);
    expect((await a.op(7, fsMkdir(7, '/', 0o755, true))).errno).toBe(0);
  });

  it('removes files and trees, never following symlinks', async () => {
    const a = new Agent(root);
    await a.handshake();
    writeFileSync(join(root, 'f'), '');
    expect((await a.op(1, fsRemove(1, '/f'))).errno).toBe(0);
    expect(existsSync(join(root, 'f'))).toBe(false);
    expect((await a.op(2, fsRemove(2, '/f'))).errno).toBe(E.ENOENT);

    mkdirSync(join(root, 'empty'));
    expect((await a.op(3, fsRemove(3, '/empty'))).errno).toBe(0);

    // A tree with links that point outside (absolute and relative): only the links go.
    mkdirSync(join(root, 't/a/b/c'), { recursive: true });
    for (let i = 0; i < 600; i++) writeFileSync(join(root, 't/a', `f${i}`), 'x');
    writeFileSync(join(root, 't/a/b/c/deep'), 'x');
    symlinkSync(outside, join(root, 't/abs'));
    symlinkSync('../../outside', join(root, 't/a/rel'));
    const ne = await a.op(4, fsRemove(4, '/t'));
    expect(ne.errno).toBe(E.ENOTEMPTY);
    expect(ne.message).toBe('/t: Directory not empty');
    expect((await a.op(5, fsRemove(5, '/t/', true))).errno).toBe(0);
    expect(existsSync(join(root, 't'))).toBe(false);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('host secret\n');

    // A symlink to a directory is removed as a link, even with RECURSIVE.
    symlinkSync(outside, join(root, 'link'));
    expect((await a.op(6, fsRemove(6, '/link', true))).errno).toBe(0);
    expect(existsSync(join(outside, 'secret'))).toBe(true);

    expect((await a.op(7, fsRemove(7, '/', true))).errno).toBe(E.EBUSY);
    mkdirSync(join(root, 'x'));
    expect((await a.op(8, fsRemove(8, '/x/..', true))).errno).toBe(E.EINVAL);
    expect((await a.op(9, fsRemove(9, '/x/.', true))).errno).toBe(E.EINVAL);
    expect(readdirSync(root)).toEqual(['x']);
  });

  it('stops at 256 levels of directories with ELOOP', async () => {
    const a = new Agent(root);
    await a.handshake();
    const deep = join(root, 'deep', ...Array<string>(260).fill('d'));
    mkdirSync(deep, { recursive: true });
    const r = await a.op(1, fsRemove(1, '/deep', true));
    expect(r.errno).toBe(E.ELOOP);
    expect(r.message).toMatch(/^\/deep(\/d)+: /);
    rmSync(join(root, 'deep'), { recursive: true });
  });
});

describe('paths stay inside the root', () => {
  it('resolves .. and absolute symlinks inside the root', async () => {
    const a = new Agent(root);
    await a.handshake();
    expect((await a.op(1, fsRead(1, '../../etc/passwd'))).errno).toBe(E.ENOENT);
    expect((await a.op(2, fsRead(2, '/../../../outside/secret'))).errno).toBe(E.ENOENT);
    mkdirSync(join(root, 'tmp'));
    symlinkSync('/etc', join(root, 'tmp/x'));
    expect((await a.op(3, fsRead(3, '/tmp/x/passwd'))).errno).toBe(E.ENOENT);
    // The link does resolve, inside the root.
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/passwd'), 'inside\n');
    a.send(fsRead(4, '/tmp/x/passwd'));
    const r = await a.collect(4);
    expect(r.data.toString()).toBe('inside\n');
    // A link to the outside directory's absolute path is looked up inside the root too.
    symlinkSync(join(outside, 'secret'), join(root, 'abs-secret'));
    expect((await a.op(5, fsRead(5, '/abs-secret'))).errno).toBe(E.ENOENT);
  });

  it('clamps relative symlinks that climb above the root', async () => {
    const a = new Agent(root);
    await a.handshake();
    symlinkSync('../../..', join(root, 'a'));
    writeFileSync(join(root, 'marker'), 'root marker');
    expect((await a.op(1, fsRead(1, '/a/outside/secret'))).errno).toBe(E.ENOENT);
    a.send(fsRead(2, '/a/marker'));
    expect((await a.collect(2)).data.toString()).toBe('root marker');
    const l = await a.op(3, fsList(3, '/a/../..'));
    expect(l.entries.map((e) => e.name).sort()).toEqual(['a', 'marker']);
    expect((await a.op(4, fsStat(4, '/a/../outside/secret'))).errno).toBe(E.ENOENT);
  });

  it('never writes, makes or removes through a symlinked parent that points outside', async () => {
    const a = new Agent(root);
    await a.handshake();
    symlinkSync(outside, join(root, 'out'));
    symlinkSync('../outside', join(root, 'rel'));
    expect((await a.write(1, '/out/pwned', Buffer.from('x'))).errno).toBe(E.ENOENT);
    expect((await a.write(2, '/rel/pwned', Buffer.from('x'))).errno).toBe(E.ENOENT);
    expect((await a.op(3, fsMkdir(3, '/out/newdir'))).errno).toBe(E.ENOENT);
    expect((await a.op(4, fsRemove(4, '/out/secret'))).errno).toBe(E.ENOENT);
    expect((await a.op(5, fsRemove(5, '/rel/secret', true))).errno).toBe(E.ENOENT);
    // MKDIRS does not create through a link that dangles inside the root (as `mkdir -p` would not).
    expect((await a.write(6, '/out/pwned', Buffer.from('x'), 0o644, true)).errno).toBe(E.ENOENT);
    expect((await a.op(7, fsMkdir(7, '/out/sub/dir', 0o755, true))).errno).toBe(E.ENOENT);
    expect(readdirSync(root).sort()).toEqual(['out', 'rel']);
    // A link inside the root that leads to a real directory works as a parent.
    mkdirSync(join(root, 'real'));
    symlinkSync('/real', join(root, 'via'));
    expect((await a.write(8, '/via/ok', Buffer.from('y'), 0o644, true)).errno).toBe(0);
    expect(readFileSync(join(root, 'real/ok'), 'utf8')).toBe('y');
    expect(readdirSync(outside)).toEqual(['secret']);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('host secret\n');
  });

  it('refuses /proc magic links (RESOLVE_NO_MAGICLINKS)', async () => {
    const a = new Agent('/');
    await a.handshake();
    const r = await a.op(1, fsRead(1, '/proc/self/root/etc/hostname'));
    expect(r.errno).toBe(E.ELOOP);
    expect((await a.op(2, fsStat(2, '/proc/self/cwd/x'))).errno).toBe(E.ELOOP);
  });

  it('rejects paths with NUL bytes, and a stream id in use', async () => {
    const a = new Agent(root);
    await a.handshake();
    expect((await a.op(1, fsStat(1, '/a\0b'))).errno).toBe(E.EINVAL);
    a.send(fsWrite(2, '/w'));
    a.send(fsStat(2, '/'));
    const f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(f?.payload.readUInt32BE(0)).toBe(3);
    expect(readdirSync(root)).toEqual([]);
  });
});
