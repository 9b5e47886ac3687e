import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ALL_CAPABILITIES,
  AgentConnection,
  Capability,
  FrameDecodeError,
  FrameReader,
  HEADER_SIZE,
  MAX_PAYLOAD,
  decodeFrame,
  encodeFrame,
  type Frame,
} from '../src/index.js';

const buf = (s: string): Buffer => Buffer.from(s);

const arbBytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
const arbStream = fc.integer({ min: 1, max: 0xffffffff });
const arbFrame: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ type: fc.constant('HELLO' as const), stream: fc.constant(0 as const), minVersion: fc.integer({ min: 0, max: 65535 }), maxVersion: fc.integer({ min: 0, max: 65535 }), capabilities: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ type: fc.constant('HELLO_ACK' as const), stream: fc.constant(0 as const), version: fc.integer({ min: 0, max: 65535 }), capabilities: fc.integer({ min: 0, max: 0xffffffff }), agent: arbBytes(40) }),
  fc.record({ type: fc.constantFrom('PING' as const, 'PONG' as const), stream: fc.constant(0 as const), nonce: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  fc.record({
    type: fc.constant('EXEC' as const),
    stream: arbStream,
    flags: fc.integer({ min: 0, max: 3 }),
    uid: fc.integer({ min: 0, max: 0xffffffff }),
    gid: fc.integer({ min: 0, max: 0xffffffff }),
    rows: fc.integer({ min: 0, max: 65535 }),
    cols: fc.integer({ min: 0, max: 65535 }),
    window: fc.integer({ min: 1, max: 0xffffffff }),
    argv: fc.array(arbBytes(20), { minLength: 1, maxLength: 5 }),
    env: fc.array(arbBytes(20), { maxLength: 5 }),
    cwd: arbBytes(20),
  }),
  fc.record({ type: fc.constantFrom('STDIN' as const, 'STDOUT' as const, 'STDERR' as const), stream: arbStream, fin: fc.boolean(), data: arbBytes(100) }),
  fc.record({ type: fc.constant('WINDOW' as const), stream: arbStream, fd: fc.integer({ min: 0, max: 2 }), increment: fc.integer({ min: 1, max: 0xffffffff }) }),
  fc.record({ type: fc.constant('SIGNAL' as const), stream: arbStream, signo: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ type: fc.constant('RESIZE' as const), stream: arbStream, rows: fc.integer({ min: 0, max: 65535 }), cols: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ type: fc.constant('EXIT' as const), stream: arbStream, exitCode: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), signal: fc.integer({ min: 0, max: 64 }), execErrno: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ type: fc.constant('ERROR' as const), stream: fc.integer({ min: 0, max: 0xffffffff }), code: fc.integer({ min: 0, max: 0xffffffff }), message: arbBytes(60) }),
  fc.record({ type: fc.constant('TCP_CONNECT' as const), stream: arbStream, window: fc.integer({ min: 1, max: 0xffffffff }), port: fc.integer({ min: 1, max: 65535 }) }),
);

describe('frame codec', () => {
  it('round-trips every kind of frame', () => {
    fc.assert(
      fc.property(arbFrame, (f) => {
        expect(decodeFrame(encodeFrame(f))).toEqual(f);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but FrameDecodeError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeFrame(Buffer.from(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(FrameDecodeError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws anything but FrameDecodeError on mutated valid frames', () => {
    fc.assert(
      fc.property(arbFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (f, muts) => {
        const b = Buffer.from(encodeFrame(f));
        for (const [at, v] of muts) b[at % b.length] = v;
        try {
          decodeFrame(b);
        } catch (e) {
          expect(e).toBeInstanceOf(FrameDecodeError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses values the spec does not allow when encoding', () => {
    expect(() => encodeFrame({ type: 'STDOUT', stream: 1, fin: false, data: Buffer.alloc(65537) })).toThrow(RangeError);
    expect(() =>
      encodeFrame({ type: 'EXEC', stream: 1, flags: 0, uid: 0, gid: 0, rows: 0, cols: 0, window: 1, argv: Array(4097).fill(buf('x')), env: [], cwd: buf('') }),
    ).toThrow(RangeError);
  });
});

describe('FrameReader', () => {
  const frames: Frame[] = [
    { type: 'PING', stream: 0, nonce: 7n },
    { type: 'STDOUT', stream: 3, fin: false, data: buf('hello') },
    { type: 'EXIT', stream: 3, exitCode: 42, signal: 0, execErrno: 0 },
  ];
  const wire = Buffer.concat(frames.map(encodeFrame));

  it('reassembles frames split at every possible byte boundary', () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const r = new FrameReader();
      const out = [...r.push(wire.subarray(0, cut)), ...r.push(wire.subarray(cut))];
      expect(out).toEqual(frames);
    }
  });

  it('reassembles frames fed one byte at a time', () => {
    const r = new FrameReader();
    const out: unknown[] = [];
    for (const b of wire) out.push(...r.push(Buffer.from([b])));
    expect(out).toEqual(frames);
  });

  it('rejects an oversized length before buffering the payload', () => {
    const h = Buffer.alloc(HEADER_SIZE);
    h.writeUInt32BE(MAX_PAYLOAD + 1, 0);
    h.writeUInt8(0x12, 4);
    h.writeUInt32BE(1, 8);
    const r = new FrameReader();
    expect(() => r.push(h)).toThrow(/too_large/);
  });

  it('reports a bad payload as a value and keeps decoding the following frames', () => {
    const badWindow = encodeFrame({ type: 'WINDOW', stream: 5, fd: 1, increment: 1 });
    badWindow.writeUInt8(3, HEADER_SIZE); // fd 3
    const r = new FrameReader();
    const out = r.push(Buffer.concat([badWindow, encodeFrame(frames[0]!)]));
    expect(out[0]).toBeInstanceOf(FrameDecodeError);
    expect((out[0] as FrameDecodeError).reason).toBe('limit');
    expect((out[0] as FrameDecodeError).streamId).toBe(5);
    expect(out[1]).toEqual(frames[0]);
  });
});

describe('AgentConnection.tcpConnect', () => {
  const ack = (capabilities: number): Buffer =>
    encodeFrame({ type: 'HELLO_ACK', stream: 0, version: 1, capabilities, agent: buf('test-agent 1') });

  it('sends TCP_CONNECT only to an agent that offered TCP, after the handshake', async () => {
    const sent: Frame[] = [];
    const conn = new AgentConnection({ send: (b) => sent.push(decodeFrame(b)) });
    expect(() => conn.tcpConnect(80)).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_HANDSHAKE_PENDING' }));
    const hello = conn.handshake();
    conn.receive(ack(ALL_CAPABILITIES));
    await hello;
    conn.tcpConnect(8080, {}, 4096);
    expect(sent.at(-1)).toEqual({ type: 'TCP_CONNECT', stream: 1, window: 4096, port: 8080 });
    expect(() => conn.tcpConnect(0)).toThrow(RangeError);
  });

  it('refuses an agent without the TCP capability, sending nothing', async () => {
    const sent: Frame[] = [];
    const conn = new AgentConnection({ send: (b) => sent.push(decodeFrame(b)) });
    const hello = conn.handshake();
    conn.receive(ack(ALL_CAPABILITIES & ~Capability.TCP));
    await hello;
    expect(() => conn.tcpConnect(80)).toThrow(expect.objectContaining({ code: 'SMOLVM_ERR_AGENT_TOO_OLD', message: expect.stringMatching(/test-agent 1.*does not support TCP/) }));
    expect(sent.map((f) => f.type)).toEqual(['HELLO']);
  });

  it('reports the end of the service\'s output and the connection\'s errno', async () => {
    const conn = new AgentConnection({ send: () => {} });
    const hello = conn.handshake();
    conn.receive(ack(ALL_CAPABILITIES));
    await hello;
    const ends: number[] = [];
    const s = conn.tcpConnect(80, { onEnd: (fd) => ends.push(fd) });
    conn.receive(encodeFrame({ type: 'STDOUT', stream: s.id, fin: true, data: Buffer.alloc(0) }));
    conn.receive(encodeFrame({ type: 'FS_DONE', stream: s.id, errno: 104, message: buf('127.0.0.1:80: Connection reset by peer') }));
    expect(ends).toEqual([1]);
    await expect(s.exited).rejects.toMatchObject({ code: 'SMOLVM_ERR_GUEST_FS', errno: 104 });
  });
});
