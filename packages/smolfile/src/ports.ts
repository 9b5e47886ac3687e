// Port mappings: "HOST:GUEST", "ADDRESS:HOST:GUEST" or "[IPv6]:HOST:GUEST". The host side binds loopback
// unless an address is given.
import { parseIpAddress } from './ip.js';
import { formatError, ok, quote, rangeError, unwrap, type SpecFailure, type SpecResult } from './spec-result.js';

export interface PortSpec {
  readonly hostPort: number;
  readonly guestPort: number;
  /** Canonical host address to bind; absent means loopback. */
  readonly hostAddress?: string;
}

export const PORT_SPEC_FORM = '"HOST:GUEST" or "ADDRESS:HOST:GUEST" with ports from 1 to 65535, e.g. "8080:80" or "0.0.0.0:8080:80"';

function parsePort(text: string, side: 'host' | 'guest', spec: string): SpecResult<number> {
  if (!/^\d{1,5}$/.test(text)) {
    return formatError(`invalid port mapping ${quote(spec)}: ${quote(text)} is not a ${side} port number; expected ${PORT_SPEC_FORM}`);
  }
  const port = Number(text);
  if (port < 1 || port > 65535) {
    return rangeError(`invalid port mapping ${quote(spec)}: ${side} port ${port} is out of range; ports are 1 to 65535`);
  }
  return ok(port);
}

/** Parses a port mapping, or says why it is not one. */
export function tryParsePortSpec(text: string): SpecResult<PortSpec> {
  if (typeof text !== 'string') return formatError(`expected ${PORT_SPEC_FORM}`);
  const shown = quote(text);
  const malformed = (hint?: string): SpecFailure => formatError(`invalid port mapping ${shown}; expected ${PORT_SPEC_FORM}`, hint);
  if (text.length === 0 || text.length > 64) return malformed();
  if (text.includes('/')) return malformed('protocol suffixes such as "/udp" are not accepted');
  let addressText: string | undefined;
  let ports: string[];
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || text[close + 1] !== ':') return malformed('write an IPv6 address in brackets, e.g. "[::1]:8080:80"');
    addressText = text.slice(1, close);
    if (parseIpAddress(addressText)?.family !== 6) {
      return formatError(`invalid port mapping ${shown}: ${quote(addressText)} is not an IPv6 address`);
    }
    ports = text.slice(close + 2).split(':');
  } else {
    const parts = text.split(':');
    if (parts.length === 1) return malformed(/^\d+$/.test(text) ? `write "${text}:${text}" to forward the same port` : undefined);
    if (parts.length > 3) return malformed('write an IPv6 address in brackets, e.g. "[::1]:8080:80"');
    if (parts.length === 3) addressText = parts.shift();
    ports = parts;
  }
  if (ports.length !== 2) return malformed();
  const hostPort = parsePort(ports[0] ?? '', 'host', text);
  if (!hostPort.ok) return hostPort;
  const guestPort = parsePort(ports[1] ?? '', 'guest', text);
  if (!guestPort.ok) return guestPort;
  if (addressText === undefined) return ok({ hostPort: hostPort.value, guestPort: guestPort.value });
  const address = parseIpAddress(addressText);
  if (address === undefined) {
    return formatError(
      `invalid port mapping ${shown}: ${quote(addressText)} is not an IP address`,
      'bind an address such as "127.0.0.1" or "0.0.0.0"; host names are not accepted here',
    );
  }
  return ok({ hostPort: hostPort.value, guestPort: guestPort.value, hostAddress: address.address });
}

/**
 * Parses a port mapping: `"8080:80"` (host loopback port 8080 to guest port 80), `"0.0.0.0:8080:80"` or
 * `"[::1]:8080:80"`. Throws a `SmolfileError` (`SMOLVM_ERR_SMOLFILE_FORMAT` or `..._RANGE`) for anything else.
 */
export function parsePortSpec(text: string): PortSpec {
  return unwrap(tryParsePortSpec(text));
}

/** Writes a port mapping back as text; `parsePortSpec(formatPortSpec(spec))` gives `spec` back. */
export function formatPortSpec(spec: PortSpec): string {
  const address = spec.hostAddress === undefined ? '' : spec.hostAddress.includes(':') ? `[${spec.hostAddress}]:` : `${spec.hostAddress}:`;
  return `${address}${spec.hostPort}:${spec.guestPort}`;
}
