import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FrameDecodeError, decodeFrame, describeFrame, encodeFrame } from '../src/index.js';

// The same file is run by the C agent's `make vectors-test`: both sides must agree byte for byte.
const file = fileURLToPath(new URL('../vectors/v1.txt', import.meta.url));
const lines = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'));

const ok = lines.filter((l) => l.startsWith('ok '));
const bad = lines.filter((l) => l.startsWith('bad '));

describe('protocol test vectors', () => {
  it('has vectors of both kinds', () => {
    expect(ok.length).toBeGreaterThan(10);
    expect(bad.length).toBeGreaterThan(10);
  });

  it.each(ok.map((l) => [l.slice(3, 50), l] as const))('ok %s', (_name, line) => {
    const [, hex, ...rest] = line.split(' ');
    const bytes = Buffer.from(hex!, 'hex');
    const frame = decodeFrame(bytes);
    expect(describeFrame(frame)).toBe(rest.join(' '));
    expect(encodeFrame(frame).toString('hex')).toBe(hex);
  });

  it.each(bad.map((l) => [l.split(' ')[2]!, l] as const))('bad %s', (reason, line) => {
    const hex = line.split(' ')[1]!;
    let caught: unknown;
    try {
      decodeFrame(Buffer.from(hex, 'hex'));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(FrameDecodeError);
    expect((caught as FrameDecodeError).reason).toBe(reason);
  });
});
