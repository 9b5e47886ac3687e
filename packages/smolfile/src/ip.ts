// IP addresses and CIDR blocks, v4 and v6, parsed strictly (no leading zeros, no zone ids, no shorthand like
// "10.1") and written back in canonical form (RFC 5952 for IPv6).
import { formatError, ok, quote, rangeError, unwrap, type SpecResult } from './spec-result.js';

export interface IpAddress {
  readonly family: 4 | 6;
  /** Canonical text: dotted quad, or RFC 5952 lower-case IPv6 with the longest zero run compressed. */
  readonly address: string;
  /** 4 or 16 bytes, network order. */
  readonly bytes: readonly number[];
}

export interface Cidr {
  readonly family: 4 | 6;
  /** Canonical network address (host bits are zero). */
  readonly address: string;
  readonly prefixLength: number;
  /** `address/prefixLength`. */
  readonly cidr: string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIPv4Bytes(text: string): number[] | undefined {
  const match = IPV4.exec(text);
  if (match === null) return undefined;
  const bytes: number[] = [];
  for (const part of match.slice(1)) {
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

function parseGroups(piece: string, allowIPv4Tail: boolean): number[] | undefined {
  if (piece === '') return [];
  const parts = piece.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] ?? '';
    if (allowIPv4Tail && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4Bytes(part);
      if (v4 === undefined) return undefined;
      groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    } else {
      if (!HEX_GROUP.test(part)) return undefined;
      groups.push(Number.parseInt(part, 16));
    }
  }
  return groups;
}

function parseIPv6Bytes(text: string): number[] | undefined {
  if (text.length > 45 || text.includes('%')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0] ?? '', false);
    const tail = parseGroups(halves[1] ?? '', true);
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  }
  return groups.flatMap((group) => [group >> 8, group & 0xff]);
}

function formatIPv6(bytes: readonly number[]): string {
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 section 5).
  if (bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // Longest run of two or more zero groups, the first one on a tie (RFC 5952 section 4.2).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function formatBytes(family: 4 | 6, bytes: readonly number[]): string {
  return family === 4 ? bytes.join('.') : formatIPv6(bytes);
}

/** Parses an IPv4 or IPv6 literal (no brackets, no zone id), or returns undefined. */
export function parseIpAddress(text: string): IpAddress | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = parseIPv4Bytes(text);
  if (v4 !== undefined) return { family: 4, address: formatBytes(4, v4), bytes: v4 };
  const v6 = parseIPv6Bytes(text);
  if (v6 !== undefined) return { family: 6, address: formatBytes(6, v6), bytes: v6 };
  return undefined;
}

export const CIDR_FORM = 'a CIDR block such as "10.0.0.0/8" or "2001:db8::/32", or a single address';

/** Parses a CIDR block (or a single address, taken as /32 or /128), or says why it is not one. */
export function tryParseCidr(text: string): SpecResult<Cidr> {
  if (typeof text !== 'string') return formatError(`expected ${CIDR_FORM}`);
  const shown = quote(text);
  if (text.length === 0) return formatError(`empty CIDR block; expected ${CIDR_FORM}`);
  if (text.length > 64) return formatError(`CIDR block ${shown} is too long; expected ${CIDR_FORM}`);
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const address = parseIpAddress(addressText);
  if (address === undefined) {
    const hint = /[a-z]/i.test(addressText) && !addressText.includes(':')
      ? 'host names go in allow_hosts; allow_cidrs takes IP addresses'
      : undefined;
    return formatError(`${shown} is not a CIDR block: ${quote(addressText)} is not an IP address; expected ${CIDR_FORM}`, hint);
  }
  const maxPrefix = address.family === 4 ? 32 : 128;
  let prefixLength = maxPrefix;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) {
      return formatError(`${shown} is not a CIDR block: the prefix length after "/" must be a number; expected ${CIDR_FORM}`);
    }
    prefixLength = Number(prefixText);
    if (prefixLength > maxPrefix) {
      return rangeError(`${shown}: prefix length ${prefixLength} is out of range; IPv${address.family} prefixes are 0 to ${maxPrefix}`);
    }
  }
  const network = address.bytes.map((byte, index) => {
    const bitsBefore = index * 8;
    if (bitsBefore >= prefixLength) return 0;
    if (bitsBefore + 8 <= prefixLength) return byte;
    return byte & (0xff << (8 - (prefixLength - bitsBefore))) & 0xff;
  });
  const networkText = formatBytes(address.family, network);
  if (network.some((byte, index) => byte !== address.bytes[index])) {
    return formatError(
      `${shown} has host bits set after the /${prefixLength} prefix`,
      `did you mean "${networkText}/${prefixLength}"?`,
    );
  }
  return ok({ family: address.family, address: networkText, prefixLength, cidr: `${networkText}/${prefixLength}` });
}

/**
 * Parses a CIDR block, IPv4 (`"10.0.0.0/8"`) or IPv6 (`"2001:db8::/32"`); a bare address means that one address.
 * Throws a `SmolfileError` (`SMOLVM_ERR_SMOLFILE_FORMAT` or `..._RANGE`) for anything else, including a block
 * with host bits set (`"10.0.0.1/8"`).
 */
export function parseCidr(text: string): Cidr {
  return unwrap(tryParseCidr(text));
}
