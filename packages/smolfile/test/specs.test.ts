import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatPortSpec,
  formatVolumeSpec,
  parseCidr,
  parseDuration,
  parseEnvEntry,
  parseHostPattern,
  parseIpAddress,
  parsePortSpec,
  parseVolumeSpec,
  SmolfileError,
} from '../src/index.js';

function thrown(run: () => unknown): SmolfileError {
  try {
    run();
  } catch (error) {
    if (error instanceof SmolfileError) return error;
    throw error;
  }
  throw new Error('expected a SmolfileError');
}

describe('parseDuration', () => {
  it.each([
    ['0s', 0],
    ['250ms', 250],
    ['10s', 10_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['90s', 90_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'empty duration'],
    ['10', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'has no unit'],
    ['10 s', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'invalid duration'],
    ['1.5s', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'invalid duration'],
    ['-1s', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'invalid duration'],
    ['1s1m', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'largest first'],
    ['1s1s', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'largest first'],
    ['1S', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'invalid duration'],
    ['1d', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'invalid duration'],
    [`${'9'.repeat(20)}h`, 'SMOLVM_ERR_SMOLFILE_RANGE', 'too long to represent'],
  ])('rejects %j', (text, code, message) => {
    const error = thrown(() => parseDuration(text));
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });

  it('says what to write for a bare number', () => {
    expect(thrown(() => parseDuration('30')).hint).toBe('write "30s" for seconds or "30ms" for milliseconds');
  });

  it('rejects a non-string with a coded error', () => {
    expect(thrown(() => parseDuration(10 as unknown as string)).code).toBe('SMOLVM_ERR_SMOLFILE_FORMAT');
  });

  it.each([
    [0, '0s'],
    [250, '250ms'],
    [90_000, '1m30s'],
    [3_723_004, '1h2m3s4ms'],
    [86_400_000, '24h'],
  ])('formats %d ms as %s, and back', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });
});

describe('parsePortSpec', () => {
  it.each([
    ['8080:80', { hostPort: 8080, guestPort: 80 }],
    ['1:65535', { hostPort: 1, guestPort: 65_535 }],
    ['0.0.0.0:8080:80', { hostPort: 8080, guestPort: 80, hostAddress: '0.0.0.0' }],
    ['[::1]:8080:80', { hostPort: 8080, guestPort: 80, hostAddress: '::1' }],
    ['[0:0:0:0:0:0:0:1]:22:22', { hostPort: 22, guestPort: 22, hostAddress: '::1' }],
    ['08080:080', { hostPort: 8080, guestPort: 80 }],
  ])('%s', (text, spec) => {
    expect(parsePortSpec(text)).toEqual(spec);
    expect(parsePortSpec(formatPortSpec(spec))).toEqual(spec);
  });

  it.each([
    ['', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['80:', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    [':80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['a:b', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['+80:80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['123456:80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['0:80', 'SMOLVM_ERR_SMOLFILE_RANGE'],
    ['80:65536', 'SMOLVM_ERR_SMOLFILE_RANGE'],
    ['1.2.3:80:80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['256.0.0.1:80:80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['[::1]80:80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['[fe80::1%eth0]:80:80', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['80:80/tcp', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    ['1:2:3:4', 'SMOLVM_ERR_SMOLFILE_FORMAT'],
    [`${'1'.repeat(65)}`, 'SMOLVM_ERR_SMOLFILE_FORMAT'],
  ])('rejects %j', (text, code) => {
    expect(thrown(() => parsePortSpec(text)).code).toBe(code);
  });
});

describe('parseVolumeSpec', () => {
  it.each([
    ['./data:/data', '/base', { hostPath: '/base/data', guestPath: '/data', readOnly: false }],
    ['data:/data:ro', '/base', { hostPath: '/base/data', guestPath: '/data', readOnly: true }],
    ['../up:/up:rw', '/base/dir', { hostPath: '/base/up', guestPath: '/up', readOnly: false }],
    ['/abs//path/:/mnt//x/', '/base', { hostPath: '/abs/path', guestPath: '/mnt/x', readOnly: false }],
    ['/a/./b:/c/./d', '/base', { hostPath: '/a/b', guestPath: '/c/d', readOnly: false }],
  ])('%s from %s', (text, baseDir, spec) => {
    expect(parseVolumeSpec(text, { baseDir })).toEqual(spec);
    expect(parseVolumeSpec(formatVolumeSpec(spec))).toEqual(spec);
  });

  it('resolves relative host paths against the current directory by default', () => {
    expect(parseVolumeSpec('x:/x').hostPath).toBe(`${process.cwd()}/x`);
  });

  it.each(['', 'x', 'x:', ':/x', 'x:y', 'x:/y:z', '~/x:/x', 'x:/', 'x:/a/../b', 'a:b:c:d', 'x:/y\0'])('rejects %j', (text) => {
    expect(thrown(() => parseVolumeSpec(text)).code).toBe('SMOLVM_ERR_SMOLFILE_FORMAT');
  });
});

describe('parseIpAddress and parseCidr', () => {
  it.each([
    ['127.0.0.1', 4, '127.0.0.1'],
    ['0.0.0.0', 4, '0.0.0.0'],
    ['::', 6, '::'],
    ['::1', 6, '::1'],
    ['2001:DB8:0:0:0:0:0:1', 6, '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', 6, '2001:db8::1:0:0:1'],
    ['1:0:0:2:0:0:0:3', 6, '1:0:0:2::3'],
    ['fe80::', 6, 'fe80::'],
    ['::ffff:192.0.2.1', 6, '::ffff:192.0.2.1'],
    ['::ffff:c000:201', 6, '::ffff:192.0.2.1'],
    ['1:2:3:4:5:6:7:8', 6, '1:2:3:4:5:6:7:8'],
    ['1::8', 6, '1::8'],
    ['0:0:1:0:0:0:0:0', 6, '0:0:1::'],
  ])('%s is IPv%d %s', (text, family, address) => {
    expect(parseIpAddress(text)).toMatchObject({ family, address });
  });

  it.each([
    '', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1.2.3.-4', ':::', '1:::2', '1::2::3', ':1', '1:', '12345::',
    '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '::1%lo', '1.2.3.4::', '::1.2.3', ' 1.2.3.4',
  ])('%j is not an address', (text) => {
    expect(parseIpAddress(text)).toBeUndefined();
  });

  it.each([
    ['10.0.0.0/8', { family: 4, address: '10.0.0.0', prefixLength: 8, cidr: '10.0.0.0/8' }],
    ['0.0.0.0/0', { family: 4, address: '0.0.0.0', prefixLength: 0, cidr: '0.0.0.0/0' }],
    ['192.168.1.128/25', { family: 4, address: '192.168.1.128', prefixLength: 25, cidr: '192.168.1.128/25' }],
    ['203.0.113.7', { family: 4, address: '203.0.113.7', prefixLength: 32, cidr: '203.0.113.7/32' }],
    ['2001:db8::/32', { family: 6, address: '2001:db8::', prefixLength: 32, cidr: '2001:db8::/32' }],
    ['::/0', { family: 6, address: '::', prefixLength: 0, cidr: '::/0' }],
    ['fe80::/10', { family: 6, address: 'fe80::', prefixLength: 10, cidr: 'fe80::/10' }],
    ['::1', { family: 6, address: '::1', prefixLength: 128, cidr: '::1/128' }],
  ])('%s', (text, cidr) => {
    expect(parseCidr(text)).toEqual(cidr);
  });

  it.each([
    ['10.0.0.1/8', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'did you mean "10.0.0.0/8"?'],
    ['192.168.1.129/25', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'did you mean "192.168.1.128/25"?'],
    ['fe80::1/10', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'did you mean "fe80::/10"?'],
    ['10.0.0.0/33', 'SMOLVM_ERR_SMOLFILE_RANGE', undefined],
    ['10.0.0.0/', 'SMOLVM_ERR_SMOLFILE_FORMAT', undefined],
    ['10.0.0.0/8/8', 'SMOLVM_ERR_SMOLFILE_FORMAT', undefined],
    ['10.0.0.0/-1', 'SMOLVM_ERR_SMOLFILE_FORMAT', undefined],
    ['example.com/8', 'SMOLVM_ERR_SMOLFILE_FORMAT', 'host names go in allow_hosts; allow_cidrs takes IP addresses'],
  ])('rejects %j', (text, code, hint) => {
    const error = thrown(() => parseCidr(text));
    expect(error.code).toBe(code);
    expect(error.hint).toBe(hint);
  });
});

describe('parseHostPattern', () => {
  it.each([
    ['example.com', { pattern: 'example.com', domain: 'example.com', wildcard: false }],
    ['*.example.com', { pattern: '*.example.com', domain: 'example.com', wildcard: true }],
    ['Example.COM.', { pattern: 'example.com', domain: 'example.com', wildcard: false }],
    ['localhost', { pattern: 'localhost', domain: 'localhost', wildcard: false }],
    ['xn--bcher-kva.de', { pattern: 'xn--bcher-kva.de', domain: 'xn--bcher-kva.de', wildcard: false }],
    ['_acme.example.com', { pattern: '_acme.example.com', domain: '_acme.example.com', wildcard: false }],
    ['a-b.c-d.example', { pattern: 'a-b.c-d.example', domain: 'a-b.c-d.example', wildcard: false }],
  ])('%s', (text, pattern) => {
    expect(parseHostPattern(text)).toEqual(pattern);
  });

  it.each(['', '*', '*.', '*.com', 'a.*.com', '**.a.com', '1.2.3.4', '::1', 'http://a.com', 'a.com/x', 'a.com:80', '-a.com', 'a-.com', 'a..com', `${'a'.repeat(64)}.com`, 'a.123', 'a b.com', 'bücher.de'])(
    'rejects %j',
    (text) => {
      expect(thrown(() => parseHostPattern(text)).code).toBe('SMOLVM_ERR_SMOLFILE_FORMAT');
    },
  );
});

describe('parseEnvEntry', () => {
  it.each([
    ['A=1', { name: 'A', value: '1' }],
    ['_A_1=', { name: '_A_1', value: '' }],
    ['A==b=', { name: 'A', value: '=b=' }],
    ['PATH=/a:/b', { name: 'PATH', value: '/a:/b' }],
    ['A= spaced ', { name: 'A', value: ' spaced ' }],
  ])('%j', (text, entry) => {
    expect(parseEnvEntry(text)).toEqual(entry);
  });

  it.each(['', 'A', '=1', '1A=x', 'A-B=x', 'A B=x', 'A=\0'])('rejects %j', (text) => {
    expect(thrown(() => parseEnvEntry(text)).code).toBe('SMOLVM_ERR_SMOLFILE_FORMAT');
  });

  it('never repeats the entry in its message', () => {
    for (const text of ['sk_live_abcdef', '1sk_live_abcdef=sk_live_abcdef', 'A=sk_live_abcdef\0']) {
      const error = thrown(() => parseEnvEntry(text));
      expect(error.message).not.toContain('sk_live');
    }
  });
});
