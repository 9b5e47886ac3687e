import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { encodeFrame, type AgentConnection, type HelloInfo } from '@smolvm/protocol';
import type { RunningVm, VmExit } from './engine.js';

/**
 * Resolves when the VMM (or runner) process has ended. Waits for 'close' rather than 'exit', so its stderr
 * has been read to the end; a process that never started resolves at once.
 */
export function waitExit(child: ChildProcess): Promise<VmExit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', () => {
      if (child.pid === undefined) resolve({ code: null, signal: null });
    });
  });
}

/** The handle every engine returns once its VMM process runs and the agent has answered the handshake. */
export function runningVm(parts: {
  connection: AgentConnection;
  hello: HelloInfo;
  child: ChildProcess;
  socket: Socket;
  exited: Promise<VmExit>;
}): RunningVm {
  const { connection, hello, child, socket, exited } = parts;
  return {
    connection,
    hello,
    pid: child.pid,
    exited,
    takeChannel: () => {
      socket.removeAllListeners('data');
      connection.close(new Error('the channel was handed to another owner'));
      return {
        write: (b) => socket.write(b),
        onData: (cb) => void socket.on('data', cb),
        onClose: (cb) => void socket.once('close', cb),
        onDrain: (cb) => void socket.on('drain', cb),
      };
    },
    kill: () => {
      child.kill('SIGKILL');
      socket.destroy();
    },
    shutdown: async (timeoutMs = 10_000) => {
      // Straight onto the socket: works whether or not `connection` still owns the channel.
      if (!socket.destroyed) socket.write(encodeFrame({ type: 'SHUTDOWN', stream: 0 }));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const x = await exited;
      clearTimeout(timer);
      socket.destroy();
      return x;
    },
  };
}
