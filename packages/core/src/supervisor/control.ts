// The supervisor's control socket: one JSON request per line, one JSON response per line.
import { createConnection, type Socket } from 'node:net';
import { ErrorCode, SmolvmError } from '../errors.js';

const MAX_LINE = 64 * 1024;

export type ControlRequest = { op: 'status' } | { op: 'stop'; timeoutMs?: number } | { op: 'stats' };

export interface SupervisorStatus {
  state: string;
  supervisorPid: number;
  vmmPid: number | undefined;
  startedAt: string;
  restartCount: number;
  healthy: boolean | null;
  clients: number;
}

export interface SupervisorStats {
  /** Resident memory of the supervisor and of the VMM process, in bytes. */
  supervisorRssBytes: number;
  vmmRssBytes: number;
}

/** Splits a byte stream into lines, refusing a line longer than MAX_LINE. */
export function lineReader(onLine: (line: string) => void, onTooLong: () => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim() !== '') onLine(line);
    }
    if (buf.length > MAX_LINE) {
      buf = '';
      onTooLong();
    }
  };
}

/** Sends one control request and waits for its answer (bounded by `timeoutMs`). */
export function controlRequest<T>(socketPath: string, req: ControlRequest, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const sock: Socket = createConnection(socketPath);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new SmolvmError(ErrorCode.SUPERVISOR_UNREACHABLE, `the machine's supervisor did not answer ${req.op} within ${timeoutMs} ms`, { hint: 'Try again, or stop it with --force.' }));
    }, timeoutMs);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new SmolvmError(ErrorCode.SUPERVISOR_UNREACHABLE, `cannot reach the machine's supervisor: ${e.message}`, { cause: e }));
    });
    sock.on(
      'data',
      lineReader(
        (line) => {
          clearTimeout(timer);
          sock.end();
          const msg = JSON.parse(line) as { ok: boolean; result?: T; error?: { code: string; message: string; hint?: string } };
          if (msg.ok) resolve(msg.result as T);
          else reject(new SmolvmError(msg.error?.code ?? ErrorCode.SUPERVISOR_UNREACHABLE, msg.error?.message ?? 'supervisor error', { hint: msg.error?.hint }));
        },
        () => sock.destroy(),
      ),
    );
    sock.write(JSON.stringify(req) + '\n');
  });
}
