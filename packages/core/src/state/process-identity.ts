// Who a pid is. A pid alone is not an identity: once a process dies the kernel hands its pid to the next
// one. A pid together with the process's start time is, so records store both and compare both.
//   Linux: field 22 of /proc/<pid>/stat (clock ticks after boot).
//   macOS: `ps -o lstart= -p <pid>` (wall-clock start, to the second).
//   Elsewhere: no start time; liveness falls back to `kill(pid, 0)`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

interface ProcessInfo {
  startTime: string | undefined;
  /** Exited but not yet reaped by its parent: the pid is taken, the process is not alive. */
  zombie: boolean;
}

function readLinux(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may itself contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const state = rest[0];
  const startTime = rest[22 - 3];
  if (state === undefined || startTime === undefined || !/^\d+$/.test(startTime)) return undefined;
  return { startTime, zombie: state === 'Z' || state === 'X' || state === 'x' };
}

function readDarwin(pid: number): ProcessInfo | undefined {
  let out: string;
  try {
    out = execFileSync('ps', ['-o', 'stat=', '-o', 'lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5000,
    });
  } catch {
    return undefined; // ps exits 1 when there is no such process
  }
  const m = /^\s*(\S+)\s+(.+?)\s*$/.exec(out);
  if (!m) return undefined;
  return { startTime: m[2]!.replace(/\s+/g, ' '), zombie: m[1]!.startsWith('Z') };
}

function killZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readInfo(pid: number): ProcessInfo | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  if (process.platform === 'linux') return readLinux(pid);
  if (process.platform === 'darwin') return readDarwin(pid);
  return killZero(pid) ? { startTime: undefined, zombie: false } : undefined;
}

/**
 * The start time of process `pid` as an opaque string to store and compare, or `undefined` when there is no
 * such process (or this platform cannot tell).
 */
export function processStartTime(pid: number): string | undefined {
  return readInfo(pid)?.startTime;
}

/**
 * True when process `pid` exists, is not a zombie and, when `startTime` is given, started at that time, i.e. is
 * the same process that was recorded and not a later one that got the same pid.
 */
export function isProcessAlive(pid: number, startTime?: string | null): boolean {
  const info = readInfo(pid);
  if (!info || info.zombie) return false;
  if (startTime == null || info.startTime === undefined) return true;
  return info.startTime === startTime;
}

let ownStartTime: string | undefined;

/** This process's own start time (cached: it cannot change). */
export function ownProcessStartTime(): string | undefined {
  ownStartTime ??= processStartTime(process.pid);
  return ownStartTime;
}
