// File access inside a running machine, through the agent's file operations (SPEC.md, "File operations").
// Paths resolve inside the workload root; the agent guarantees symlinks cannot lead outside it.
import { Readable } from 'node:stream';
import type { AgentConnection, FsEntry } from '@smolvm/protocol';
import { ErrorCode, SmolvmError } from './errors.js';

export type { FsEntry };

export interface WriteFileOptions {
  /** Permission bits (default 0o644). */
  mode?: number;
  /** Create missing parent directories. */
  mkdirs?: boolean;
}

function checkPath(path: string): string {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new SmolvmError(ErrorCode.INVALID_OPTION, `guest path ${JSON.stringify(path)} is not valid`, { hint: 'Use an absolute path such as /tmp/file.' });
  }
  return path;
}

export class MachineFiles {
  constructor(private readonly conn: () => Promise<AgentConnection>) {}

  /** Writes a file atomically in the guest (a failed write leaves no partial file). */
  async write(path: string, data: Buffer | string | Uint8Array | Readable | AsyncIterable<Uint8Array>, options: WriteFileOptions = {}): Promise<void> {
    const mode = options.mode ?? 0o644;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new SmolvmError(ErrorCode.INVALID_OPTION, `mode ${mode} is not a permission mode`, { hint: 'Use a number such as 0o644.' });
    }
    const s = (await this.conn()).fs({ op: 'write', path: checkPath(path), mode, mkdirs: options.mkdirs ?? false });
    try {
      if (typeof data === 'string' || data instanceof Uint8Array) {
        await s.writeStdin(Buffer.from(data));
      } else {
        for await (const chunk of data as AsyncIterable<Uint8Array>) await s.writeStdin(Buffer.from(chunk));
      }
      s.endStdin();
    } catch (e) {
      // The agent only renames into place after FIN: abandoning the stream leaves nothing behind.
      s.signal(9);
      throw e;
    }
    await s.exited;
  }

  /** Reads a whole file into memory (refuses files larger than `maxBytes`, default 256 MiB). */
  async read(path: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const max = options.maxBytes ?? 256 * 1024 * 1024;
    const parts: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    const s = (await this.conn()).fs(
      { op: 'read', path: checkPath(path) },
      {
        onStdout: (d) => {
          size += d.length;
          if (size > max) tooBig = true;
          else parts.push(Buffer.from(d));
        },
      },
    );
    await s.exited;
    if (tooBig) {
      throw new SmolvmError(ErrorCode.INVALID_OPTION, `${path} is larger than ${max} bytes`, { hint: 'Use readStream() for large files.' });
    }
    return Buffer.concat(parts, size);
  }

  /** Streams a file's content; the guest sends only as fast as the stream is consumed. */
  async readStream(path: string): Promise<Readable> {
    let unacked = 0;
    const conn = await this.conn();
    const out: Readable = new Readable({
      read() {
        if (unacked > 0) {
          s.ack(1, unacked);
          unacked = 0;
        }
      },
    });
    const s = conn.fs(
      { op: 'read', path: checkPath(path) },
      {
        manualAck: true,
        onStdout: (d) => {
          if (out.push(d)) s.ack(1, d.length);
          else unacked += d.length;
        },
      },
    );
    s.exited.then(
      () => out.push(null),
      (e: Error) => out.destroy(e),
    );
    return out;
  }

  /** Facts about one path (a final symlink is not followed). */
  async stat(path: string): Promise<FsEntry> {
    const entries: FsEntry[] = [];
    await (await this.conn()).fs({ op: 'stat', path: checkPath(path) }, { onEntry: (e) => entries.push(e) }).exited;
    return entries[0]!;
  }

  /** The entries of a directory, sorted by name. */
  async list(path: string): Promise<FsEntry[]> {
    const entries: FsEntry[] = [];
    await (await this.conn()).fs({ op: 'list', path: checkPath(path) }, { onEntry: (e) => entries.push(e) }).exited;
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async mkdir(path: string, options: { mode?: number; parents?: boolean } = {}): Promise<void> {
    await (await this.conn()).fs({ op: 'mkdir', path: checkPath(path), mode: options.mode ?? 0o755, parents: options.parents ?? false }).exited;
  }

  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await (await this.conn()).fs({ op: 'remove', path: checkPath(path), recursive: options.recursive ?? false }).exited;
  }
}
