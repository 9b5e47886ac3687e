// Writes "newc" cpio archives (the initramfs format Linux unpacks) without needing root or the cpio tool:
// owners and modes come from the entries, not from the host files.
import { readFile, writeFile, rename } from 'node:fs/promises';

export interface CpioEntry {
  /** Path inside the archive, without a leading slash (`init`, `dev/console`). */
  name: string;
  /** Full st_mode: type bits and permissions (`0o100755` for an executable file, `0o40755` for a directory). */
  mode: number;
  uid?: number;
  gid?: number;
  /** File contents, or the link target of a symlink. */
  data?: Buffer;
  /** Device number for character/block device nodes. */
  rdevMajor?: number;
  rdevMinor?: number;
}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;
const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

function header(e: CpioEntry, ino: number, size: number, nameSize: number): string {
  return (
    '070701' +
    hex8(ino) +
    hex8(e.mode) +
    hex8(e.uid ?? 0) +
    hex8(e.gid ?? 0) +
    hex8((e.mode & 0o170000) === 0o040000 ? 2 : 1) +
    hex8(0) + // mtime: fixed, so the archive is reproducible
    hex8(size) +
    hex8(0) +
    hex8(0) +
    hex8(e.rdevMajor ?? 0) +
    hex8(e.rdevMinor ?? 0) +
    hex8(nameSize) +
    hex8(0)
  );
}

export function buildCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const add = (e: CpioEntry): void => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const h = Buffer.from(header(e, ino++, data.length, name.length), 'ascii');
    parts.push(h, name, Buffer.alloc(pad4(h.length + name.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) {
    if (e.name.startsWith('/') || e.name.split('/').includes('..')) throw new Error(`cpio entry name ${e.name} is not relative`);
    add(e);
  }
  add({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

/** Builds the initramfs: the agent as /init plus the empty directories it mounts on. */
export async function writeInitramfs(agentPath: string, output: string): Promise<void> {
  const agent = await readFile(agentPath);
  const dir = (name: string, mode = 0o755): CpioEntry => ({ name, mode: 0o040000 | mode });
  const archive = buildCpio([
    dir('dev'),
    { name: 'dev/console', mode: 0o020600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'dev/null', mode: 0o020666, rdevMajor: 1, rdevMinor: 3 },
    dir('proc'),
    dir('sys'),
    dir('tmp', 0o1777),
    dir('run'),
    dir('smolvm'),
    dir('smolvm/base'),
    dir('smolvm/rw'),
    dir('smolvm/root'),
    { name: 'init', mode: 0o100755, data: agent },
  ]);
  await writeFile(output + '.tmp', archive);
  await rename(output + '.tmp', output);
}
