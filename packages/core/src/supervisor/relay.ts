// Shares one agent channel among many clients (CLI and SDK processes talking to a machine's supervisor).
// Each client speaks the ordinary agent protocol; the relay gives its streams fresh ids on the agent side,
// answers HELLO itself, forwards PING with its own nonces, and routes the agent's frames back. A client
// that goes away has its processes killed and their remaining output drained, so nothing blocks on it.
import {
  AgentErrorCode,
  FrameDecodeError,
  FrameReader,
  encodeFrame,
  type Frame,
  type HelloInfo,
} from '@smolvm/protocol';

const CLIENT_TO_AGENT = new Set<Frame['type']>([
  'EXEC', 'STDIN', 'WINDOW', 'SIGNAL', 'RESIZE', 'FS_WRITE', 'FS_READ', 'FS_STAT', 'FS_LIST', 'FS_MKDIR', 'FS_REMOVE', 'TCP_CONNECT',
]);
const OPENS_STREAM = new Set<Frame['type']>(['EXEC', 'FS_WRITE', 'FS_READ', 'FS_STAT', 'FS_LIST', 'FS_MKDIR', 'FS_REMOVE', 'TCP_CONNECT']);
const ENDS_STREAM = new Set<Frame['type']>(['EXIT', 'ERROR', 'FS_DONE']);

interface Route {
  client: RelayClient | undefined;
  clientStream: number;
}

export class RelayClient {
  private readonly reader = new FrameReader();
  /** client stream id -> agent stream id */
  readonly streams = new Map<number, number>();
  closed = false;

  constructor(
    private readonly relay: AgentRelay,
    readonly send: (bytes: Buffer) => void,
    readonly end: () => void,
  ) {}

  receive(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Array<Frame | FrameDecodeError>;
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.relay.reject(this, AgentErrorCode.MALFORMED, (e as Error).message);
      return;
    }
    for (const f of frames) {
      if (f instanceof FrameDecodeError) {
        this.sendFrame({ type: 'ERROR', stream: f.streamId ?? 0, code: AgentErrorCode.MALFORMED, message: Buffer.from(f.message) });
        continue;
      }
      this.relay.fromClient(this, f);
    }
  }

  sendFrame(f: Frame): void {
    if (!this.closed) this.send(encodeFrame(f));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.relay.detach(this);
  }
}

export class AgentRelay {
  private readonly reader = new FrameReader();
  private readonly routes = new Map<number, Route>();
  private readonly pings = new Map<bigint, { client: RelayClient; nonce: bigint }>();
  private readonly clients = new Set<RelayClient>();
  private nextStream = 1;
  private nextNonce = 1n;

  constructor(
    private readonly agentSend: (bytes: Buffer) => void,
    private readonly hello: HelloInfo,
  ) {}

  get activeStreams(): number {
    return this.routes.size;
  }

  attach(send: (bytes: Buffer) => void, end: () => void): RelayClient {
    const c = new RelayClient(this, send, end);
    this.clients.add(c);
    return c;
  }

  /** Runs an internal request (health checks, init commands) as if it came from a client. */
  private toAgent(f: Frame): void {
    this.agentSend(encodeFrame(f));
  }

  fromClient(c: RelayClient, f: Frame): void {
    switch (f.type) {
      case 'HELLO':
        c.sendFrame({ type: 'HELLO_ACK', stream: 0, version: this.hello.version, capabilities: this.hello.capabilities, agent: Buffer.from(this.hello.agent) });
        return;
      case 'PING': {
        const nonce = this.nextNonce++;
        this.pings.set(nonce, { client: c, nonce: f.nonce });
        this.toAgent({ type: 'PING', stream: 0, nonce });
        return;
      }
      case 'PONG':
        return;
      case 'SHUTDOWN':
        c.sendFrame({ type: 'ERROR', stream: 0, code: AgentErrorCode.BAD_STREAM, message: Buffer.from('stop the machine with `smolvm machine stop` (the supervisor owns its lifecycle)') });
        return;
      default:
        break;
    }
    if (!CLIENT_TO_AGENT.has(f.type) || f.stream === 0) {
      c.sendFrame({ type: 'ERROR', stream: f.stream, code: AgentErrorCode.MALFORMED, message: Buffer.from(`${f.type} is not a client frame`) });
      return;
    }
    let agentStream = c.streams.get(f.stream);
    if (OPENS_STREAM.has(f.type)) {
      if (agentStream !== undefined) {
        c.sendFrame({ type: 'ERROR', stream: f.stream, code: AgentErrorCode.BAD_STREAM, message: Buffer.from(`stream ${f.stream} is already in use`) });
        return;
      }
      agentStream = this.allocate();
      c.streams.set(f.stream, agentStream);
      this.routes.set(agentStream, { client: c, clientStream: f.stream });
    } else if (agentStream === undefined) {
      return; // late frame for a finished stream
    }
    this.toAgent({ ...f, stream: agentStream } as Frame);
  }

  /** Bytes from the agent. Throws if the agent's byte stream is broken (the caller ends the VM). */
  fromAgent(chunk: Buffer): void {
    for (const f of this.reader.push(chunk)) {
      if (f instanceof FrameDecodeError) continue;
      if (f.type === 'PONG') {
        const p = this.pings.get(f.nonce);
        this.pings.delete(f.nonce);
        p?.client.sendFrame({ type: 'PONG', stream: 0, nonce: p.nonce });
        continue;
      }
      if (f.stream === 0) continue;
      const route = this.routes.get(f.stream);
      if (!route) continue;
      if (route.client && !route.client.closed) {
        route.client.sendFrame({ ...f, stream: route.clientStream } as Frame);
      } else if ((f.type === 'STDOUT' || f.type === 'STDERR') && f.data.length > 0) {
        // Nobody reads this any more: keep the agent's credit flowing so the stream can finish.
        this.toAgent({ type: 'WINDOW', stream: f.stream, fd: f.type === 'STDOUT' ? 1 : 2, increment: f.data.length });
      }
      if (ENDS_STREAM.has(f.type)) {
        this.routes.delete(f.stream);
        route.client?.streams.delete(route.clientStream);
      }
    }
  }

  detach(c: RelayClient): void {
    this.clients.delete(c);
    for (const [, agentStream] of c.streams) {
      const route = this.routes.get(agentStream);
      if (route) route.client = undefined;
      // The client's processes end with it (and an unfinished FS_WRITE is abandoned, leaving no file).
      this.toAgent({ type: 'SIGNAL', stream: agentStream, signo: 9 });
    }
    c.streams.clear();
    for (const [nonce, p] of this.pings) if (p.client === c) this.pings.delete(nonce);
  }

  reject(c: RelayClient, code: number, message: string): void {
    c.sendFrame({ type: 'ERROR', stream: 0, code, message: Buffer.from(message) });
    c.close();
    c.end();
  }

  /** The agent channel is gone: every client is told and disconnected. */
  closeAll(reason: string): void {
    for (const c of [...this.clients]) {
      c.sendFrame({ type: 'ERROR', stream: 0, code: AgentErrorCode.INTERNAL, message: Buffer.from(reason) });
      c.close();
      c.end();
    }
    this.routes.clear();
  }

  private allocate(): number {
    for (;;) {
      const id = this.nextStream;
      this.nextStream = this.nextStream >= 0x7fffffff ? 1 : this.nextStream + 1;
      if (!this.routes.has(id)) return id;
    }
  }
}
