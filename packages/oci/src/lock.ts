// Cross-process lock files: `open(O_CREAT|O_EXCL)` wins, the holder writes its pid and host and keeps the
// file's mtime fresh. A lock whose holder is a dead process on this host, or whose heartbeat stopped, is
// broken — under a second, short-lived lock, so two waiters never both break and both take it.
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { OciError } from './errors.js';

export interface LockOptions {
  /** How long to wait for another holder (default 15 minutes: a disk build of a large image). */
  timeoutMs?: number;
  /** A lock whose file has not been touched for this long is stale (default 2 minutes). */
  staleMs?: number;
  signal?: AbortSignal;
}

export interface HeldLock {
  release(): Promise<void>;
}

const HEARTBEAT_MS = 20_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), at: Date.now() }));
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

async function isStale(path: string, staleMs: number): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    text = await readFile(path, 'utf8');
    mtimeMs = (await stat(path)).mtimeMs;
  } catch {
    return false; // gone already: the next create attempt decides
  }
  let holder: { pid?: unknown; host?: unknown } = {};
  try {
    holder = JSON.parse(text) as typeof holder;
  } catch {
    // Half-written by a holder that died between create and write: only age can tell.
  }
  if (holder.host === hostname() && typeof holder.pid === 'number' && !alive(holder.pid)) return true;
  return Date.now() - mtimeMs > staleMs;
}

async function breakIfStale(path: string, staleMs: number): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await tryCreate(breaker))) {
    // Someone else is breaking it; a breaker that died leaves a file older than a few seconds.
    try {
      if (Date.now() - (await stat(breaker)).mtimeMs > 10_000) await rm(breaker, { force: true });
    } catch {
      /* gone */
    }
    return;
  }
  try {
    if (await isStale(path, staleMs)) await rm(path, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Takes the lock at `path`, waiting for the current holder. */
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<HeldLock> {
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const staleMs = opts.staleMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  for (;;) {
    if (await tryCreate(path)) break;
    if (opts.signal?.aborted) throw new OciError('SMOLVM_ERR_OCI_ABORTED', 'cancelled while waiting for a lock', { cause: opts.signal.reason });
    await breakIfStale(path, staleMs);
    if (Date.now() > deadline) {
      throw new OciError('SMOLVM_ERR_OCI_LOCK_TIMEOUT', `gave up after ${timeoutMs} ms waiting for the lock ${path}`, {
        hint: 'Another smolvm process is pulling or building the same image. Wait for it, or remove the lock file if no such process exists.',
      });
    }
    await sleep(delay);
    delay = Math.min(500, delay * 2);
  }
  const beat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  beat.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(beat);
      await rm(path, { force: true });
    },
  };
}

/** Whether some live process holds the lock at `path` right now. */
export async function isLockHeld(path: string, staleMs = 120_000): Promise<boolean> {
  try {
    await stat(path);
  } catch {
    return false;
  }
  return !(await isStale(path, staleMs));
}
