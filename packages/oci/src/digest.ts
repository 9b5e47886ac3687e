// Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`): the only names blobs have in the cache.
import { createHash, type Hash } from 'node:crypto';
import { OciError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parses a digest, or returns undefined when it is not one this package accepts. */
export function tryParseDigest(digest: string): ParsedDigest | undefined {
  const m = DIGEST_RE.exec(digest);
  if (!m) return undefined;
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2] as string;
  return hex.length === HEX_LENGTH[algorithm] ? { algorithm, hex } : undefined;
}

export function isDigest(digest: unknown): digest is string {
  return typeof digest === 'string' && tryParseDigest(digest) !== undefined;
}

export function parseDigest(digest: string, context = 'digest'): ParsedDigest {
  const parsed = tryParseDigest(digest);
  if (!parsed) {
    throw new OciError('SMOLVM_ERR_OCI_MANIFEST_INVALID', `invalid ${context} ${JSON.stringify(digest.slice(0, 200))}`, {
      hint: 'Digests look like sha256: followed by 64 lowercase hex digits.',
    });
  }
  return parsed;
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** A short form for messages: `sha256:0123456789ab`. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return i < 0 ? digest.slice(0, 12) : digest.slice(0, i + 13);
}
