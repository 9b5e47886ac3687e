// Forwards published ports: listens on the host, and carries each accepted connection over the agent
// channel to 127.0.0.1:GUEST_PORT in the guest (a `TCP_CONNECT` stream). Backpressure holds both ways: the
// host socket is paused until the agent has credit for its bytes, and the agent gets credit back for the
// guest's bytes only once the host socket has taken them. Half-closes pass through (a client may send its
// request, shut down writing, and still read the answer).
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { AgentConnection, ExecStream } from '@smolvm/protocol';
import { ErrorCode, SmolvmError } from './errors.js';
import { formatPort, type PortMapping } from './ports.js';

/**
 * Forwarded connections open at the same time, over all of a machine's published ports. Each is a stream of
 * the agent (which serves 1024, execs and file operations included) and may hold up to 256 KiB of unread
 * input in the guest, so this keeps most streams, and guest memory, for everything else. A connection past
 * the limit is reset at once.
 */
export const MAX_FORWARDED_CONNECTIONS = 128;

export interface PortForwarderOptions {
  /**
   * The agent connection a new connection goes through; undefined (or a rejection) while the VM is not up,
   * in which case the connection is reset.
   */
  connection: () => AgentConnection | undefined | Promise<AgentConnection | undefined>;
  /** A connection that could not reach the guest service (nothing listens there, a reset...). */
  onConnectionError?: (mapping: PortMapping, message: string) => void;
}

function bindError(m: PortMapping, e: NodeJS.ErrnoException): SmolvmError {
  const where = `${m.hostAddress.includes(':') ? `[${m.hostAddress}]` : m.hostAddress}:${m.hostPort}`;
  switch (e.code) {
    case 'EADDRINUSE':
      return new SmolvmError(ErrorCode.PORT_UNAVAILABLE, `cannot publish ${formatPort(m)}: host port ${where} is already in use`, {
        hint: `Stop what listens there, or publish another host port, e.g. -p ${m.hostPort === 65535 ? 65534 : m.hostPort + 1}:${m.guestPort}.`,
        cause: e,
      });
    case 'EACCES':
      return new SmolvmError(ErrorCode.PORT_UNAVAILABLE, `cannot publish ${formatPort(m)}: binding host port ${where} needs privileges this user does not have`, {
        hint: `Ports below 1024 are privileged on most hosts: publish a higher host port, e.g. -p 8080:${m.guestPort}.`,
        cause: e,
      });
    case 'EADDRNOTAVAIL':
      return new SmolvmError(ErrorCode.PORT_UNAVAILABLE, `cannot publish ${formatPort(m)}: ${m.hostAddress} is not an address of this host`, {
        hint: `Bind an address this host has, such as 127.0.0.1 (the default) or 0.0.0.0 (every interface).`,
        cause: e,
      });
    default:
      return new SmolvmError(ErrorCode.PORT_UNAVAILABLE, `cannot publish ${formatPort(m)}: ${e.code ?? e.message}`, { cause: e });
  }
}

/** Describes why a forwarded connection failed, from the agent's `FS_DONE` errno (or another error). */
function connectionError(m: PortMapping, e: unknown): string {
  const name = (e as { errnoName?: string }).errnoName;
  if (name === 'ECONNREFUSED') return `${formatPort(m)}: nothing listens on port ${m.guestPort} in the machine (connection refused)`;
  if (name === 'ECONNRESET') return `${formatPort(m)}: the service on port ${m.guestPort} in the machine reset the connection`;
  if (name === 'ETIMEDOUT') return `${formatPort(m)}: the service on port ${m.guestPort} in the machine did not accept the connection in time`;
  return `${formatPort(m)}: ${(e as Error).message}`;
}

export class PortForwarder {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly bound: PortMapping[] = [];
  private closed = false;
  private saidFull = false;

  private constructor(private readonly options: PortForwarderOptions) {}

  /**
   * Binds every mapping (all or none: a failure closes what was bound and throws
   * `SMOLVM_ERR_PORT_UNAVAILABLE`, saying which port and why) and starts forwarding.
   */
  static async open(mappings: readonly PortMapping[], options: PortForwarderOptions): Promise<PortForwarder> {
    const fw = new PortForwarder(options);
    try {
      for (const m of mappings) await fw.bind(m);
    } catch (e) {
      await fw.close();
      throw e;
    }
    return fw;
  }

  /** The mappings as bound: a host port given as 0 is the port the host chose. */
  get ports(): readonly PortMapping[] {
    return this.bound;
  }

  private async bind(m: PortMapping): Promise<void> {
    const bound: PortMapping = { ...m };
    const srv = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => void this.forward(sock, bound));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', (e: NodeJS.ErrnoException) => reject(bindError(m, e)));
      srv.listen({ host: m.hostAddress, port: m.hostPort, exclusive: true }, () => resolve());
    });
    srv.on('error', () => {}); // after listening, errors belong to connections
    this.servers.push(srv);
    bound.hostPort = (srv.address() as AddressInfo).port;
    this.bound.push(bound);
  }

  private async forward(sock: Socket, m: PortMapping): Promise<void> {
    sock.on('error', () => {}); // a client that resets is not our error; 'close' follows
    if (this.sockets.size >= MAX_FORWARDED_CONNECTIONS) {
      sock.resetAndDestroy();
      if (!this.saidFull) this.options.onConnectionError?.(m, `${formatPort(m)}: ${MAX_FORWARDED_CONNECTIONS} forwarded connections are open; resetting new ones until some close`);
      this.saidFull = true;
      return;
    }
    this.saidFull = false;
    this.sockets.add(sock);
    sock.once('close', () => this.sockets.delete(sock));
    let conn: AgentConnection | undefined;
    try {
      conn = await this.options.connection();
    } catch {
      conn = undefined;
    }
    if (!conn || this.closed || sock.destroyed) {
      sock.resetAndDestroy();
      return;
    }
    let stream!: ExecStream;
    let finished = false;
    try {
      stream = conn.tcpConnect(m.guestPort, {
        manualAck: true,
        // Credit goes back once the host socket has taken the bytes (written to the kernel), not before.
        onStdout: (d) => {
          if (sock.destroyed) stream.ack(1, d.length);
          else sock.write(d, () => stream.ack(1, d.length));
        },
        onEnd: () => sock.end(),
      });
    } catch (e) {
      sock.resetAndDestroy();
      this.options.onConnectionError?.(m, connectionError(m, e));
      return;
    }
    sock.on('data', (d: Buffer) => {
      sock.pause();
      void stream.writeStdin(d).then(
        () => sock.resume(),
        () => sock.destroy(),
      );
    });
    sock.on('end', () => stream.endStdin());
    // Closed without both halves ending (a reset, a destroy, this forwarder closing): abort the guest side.
    sock.once('close', () => {
      if (!finished && !(sock.readableEnded && sock.writableFinished)) stream.signal(9);
    });
    void stream.exited.then(
      () => {
        finished = true;
        sock.end();
      },
      (e: unknown) => {
        finished = true;
        if (!sock.destroyed) sock.resetAndDestroy();
        if ((e as { errnoName?: string }).errnoName !== 'ECANCELED') this.options.onConnectionError?.(m, connectionError(m, e));
      },
    );
    sock.resume();
  }

  /** Stops listening and resets every open connection. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    const servers = this.servers.splice(0);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
