// Host patterns of the egress allow-list: an exact DNS name ("example.com") or every name below one
// ("*.example.com"). Names are compared case-insensitively, so patterns are stored in lower case.
import { parseIpAddress } from './ip.js';
import { formatError, ok, quote, unwrap, type SpecResult } from './spec-result.js';

export interface HostPattern {
  /** The pattern in canonical form: lower case, no trailing dot. */
  readonly pattern: string;
  /** The name the pattern is anchored at: `example.com` for both `example.com` and `*.example.com`. */
  readonly domain: string;
  /** True for `*.domain`, which matches names below `domain` (not `domain` itself). */
  readonly wildcard: boolean;
}

export const HOST_PATTERN_FORM = 'a host name such as "example.com", or "*.example.com" for every name below it';

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Parses a host pattern, or says why it is not one. */
export function tryParseHostPattern(text: string): SpecResult<HostPattern> {
  if (typeof text !== 'string') return formatError(`expected ${HOST_PATTERN_FORM}`);
  const shown = quote(text);
  if (text.length === 0) return formatError(`empty host pattern; expected ${HOST_PATTERN_FORM}`);
  if (text.length > 254) return formatError(`host pattern ${shown} is longer than a DNS name can be (253 characters)`);
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (parseIpAddress(bare) !== undefined) {
    return formatError(`${shown} is an IP address, not a host name`, 'put addresses in allow_cidrs, e.g. "203.0.113.7" or "203.0.113.0/24"');
  }
  if (text.includes('://') || text.includes('/')) {
    return formatError(`${shown} is not a host name; expected ${HOST_PATTERN_FORM}`, 'write only the host, without a scheme or path');
  }
  if (/:\d+$/.test(text)) {
    return formatError(`${shown} is not a host name: ports are not part of a host pattern`, `write ${quote(text.replace(/:\d+$/, ''))}`);
  }
  if (text === '*') {
    return formatError('"*" alone is not a host pattern', 'to allow every host, set net = true and leave the allow-lists empty');
  }
  let name = text.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  const wildcard = name.startsWith('*.');
  const domain = wildcard ? name.slice(2) : name;
  if (domain.includes('*')) {
    return formatError(`${shown}: "*" may only be the whole first label, as in "*.example.com"`);
  }
  if (domain.length === 0 || domain.length > 253) return formatError(`${shown} is not a host name; expected ${HOST_PATTERN_FORM}`);
  const labels = domain.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      const hint = /[\u0080-\uffff]/.test(label) ? 'write international names in their ASCII (xn--) form' : undefined;
      return formatError(
        `${shown} is not a host name: each dot-separated label must be 1 to 63 letters, digits, "-" or "_", not starting or ending with "-"`,
        hint,
      );
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) {
    return formatError(`${shown} is not a host name: the last label cannot be all digits`);
  }
  if (wildcard && labels.length < 2) {
    return formatError(`${shown} would match a whole top-level domain`, 'anchor the wildcard at a registered name, e.g. "*.example.com"');
  }
  return ok({ pattern: wildcard ? `*.${domain}` : domain, domain, wildcard });
}

/**
 * Parses a host pattern: `"example.com"` (that name only) or `"*.example.com"` (every name below it).
 * Throws a `SmolfileError` (`SMOLVM_ERR_SMOLFILE_FORMAT`) for anything else, e.g. an IP address or a URL.
 */
export function parseHostPattern(text: string): HostPattern {
  return unwrap(tryParseHostPattern(text));
}
