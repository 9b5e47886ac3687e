// Published ports: a TCP port on the host whose connections reach a port of the guest. The guest gets no
// network for this: the host accepts each connection itself and carries its bytes over the agent channel
// (`TCP_CONNECT`), where the agent connects to 127.0.0.1:PORT inside the guest. The same path serves every
// engine, and keeps "network off" true for everything the guest might try on its own.
//
// This file checks and normalises port inputs; `PortForwarder` (port-forwarder.ts) does the forwarding.
import { tryParsePortSpec } from '@smolvm/smolfile/ports';
import { ErrorCode, SmolvmError } from './errors.js';

/** A published port. `hostAddress` is the address bound on the host (loopback unless given). */
export interface PortMapping {
  hostAddress: string;
  /** 1..65535; 0 in SDK input asks the host for any free port (see `Machine.ports` for the one bound). */
  hostPort: number;
  guestPort: number;
}

/** A port as the SDK takes it: `"8080:80"`, `"0.0.0.0:8080:80"`, `"[::1]:8080:80"`, or an object. */
export type PortInput = string | { hostPort: number; guestPort: number; hostAddress?: string };

/** The host address a port binds when none is given: loopback only. */
export const DEFAULT_PORT_ADDRESS = '127.0.0.1';
/** At most this many published ports per machine (as many as a Smolfile may list). */
export const MAX_PORTS = 128;

function invalid(message: string, hint?: string): SmolvmError {
  return new SmolvmError(ErrorCode.INVALID_PORT, message, hint === undefined ? {} : { hint });
}

const isPort = (n: unknown, allowZero: boolean): n is number => typeof n === 'number' && Number.isInteger(n) && n >= (allowZero ? 0 : 1) && n <= 65535;

function fromObject(p: Exclude<PortInput, string>): PortMapping {
  const shown = JSON.stringify(p);
  if (!isPort(p.hostPort, true)) throw invalid(`port ${shown}: hostPort must be a whole number from 0 (any free port) to 65535`);
  if (!isPort(p.guestPort, false)) throw invalid(`port ${shown}: guestPort must be a whole number from 1 to 65535`);
  if (p.hostAddress === undefined) return { hostAddress: DEFAULT_PORT_ADDRESS, hostPort: p.hostPort, guestPort: p.guestPort };
  // Re-read through the string form, which checks the address.
  const text = `${p.hostAddress.includes(':') ? `[${p.hostAddress}]` : p.hostAddress}:${p.hostPort || 1}:${p.guestPort}`;
  const r = tryParsePortSpec(text);
  if (!r.ok) throw invalid(`port ${shown}: ${JSON.stringify(p.hostAddress)} is not an IP address`, 'Bind an address such as "127.0.0.1" or "0.0.0.0".');
  return { hostAddress: r.value.hostAddress ?? DEFAULT_PORT_ADDRESS, hostPort: p.hostPort, guestPort: p.guestPort };
}

/**
 * Turns the SDK's port inputs into `PortMapping`s, checked: well formed, ports in range, at most
 * {@link MAX_PORTS}, and no host address and port published twice. Throws `SMOLVM_ERR_INVALID_PORT`.
 * Binds nothing (a port in use is found when the machine starts).
 */
export function normalizePorts(inputs: readonly PortInput[] | undefined): PortMapping[] {
  if (inputs === undefined) return [];
  if (!Array.isArray(inputs)) throw invalid('ports must be an array', 'For example: ["8080:80", { hostPort: 5433, guestPort: 5432 }]');
  if (inputs.length > MAX_PORTS) throw invalid(`${inputs.length} ports published; at most ${MAX_PORTS} are allowed`);
  const out: PortMapping[] = [];
  for (const input of inputs as readonly unknown[]) {
    let m: PortMapping;
    if (typeof input === 'string') {
      const r = tryParsePortSpec(input);
      if (!r.ok) throw invalid(r.message.replace(/^invalid port mapping/, 'invalid port'), r.hint ?? 'Write it as HOST:GUEST, e.g. -p 8080:80.');
      m = { hostAddress: r.value.hostAddress ?? DEFAULT_PORT_ADDRESS, hostPort: r.value.hostPort, guestPort: r.value.guestPort };
    } else if (typeof input === 'object' && input !== null) {
      m = fromObject(input as Exclude<PortInput, string>);
    } else {
      throw invalid(`port ${JSON.stringify(input)} is neither "HOST:GUEST" nor { hostPort, guestPort }`);
    }
    if (m.hostPort !== 0) {
      const clash = out.find((o) => o.hostPort === m.hostPort && overlaps(o.hostAddress, m.hostAddress));
      if (clash) {
        throw invalid(
          clash.hostAddress === m.hostAddress ? `host port ${formatPort(m)} is published twice` : `host port ${formatPort(m)} overlaps ${formatPort(clash)}: ${WILDCARDS.has(clash.hostAddress) ? clash.hostAddress : m.hostAddress} takes that port on every address`,
          'Give each mapping its own host port.',
        );
      }
    }
    out.push(m);
  }
  return out;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

/**
 * Whether two host addresses cannot both bind one port: the same address, or a wildcard with any address of
 * its family (`::` also takes IPv4 on a dual-stack host).
 */
function overlaps(a: string, b: string): boolean {
  if (a === b) return true;
  const v6 = (x: string): boolean => x.includes(':');
  if (a === '::' || b === '::') return true;
  if (a === '0.0.0.0') return !v6(b);
  if (b === '0.0.0.0') return !v6(a);
  return false;
}

/** `127.0.0.1:8080->80`, `[::1]:8080->80`: how a mapping is shown to a person. */
export function formatPort(m: PortMapping): string {
  const addr = m.hostAddress.includes(':') ? `[${m.hostAddress}]` : m.hostAddress;
  return `${addr}:${m.hostPort}->${m.guestPort}`;
}
