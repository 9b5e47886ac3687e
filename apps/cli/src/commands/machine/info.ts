import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { Machine, formatPort, type MachineRecord } from '@smolvm/core';
import type { Io } from '../../program.js';

const DEFAULT = 'default';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export async function machineLs(io: Io, flags: { json?: boolean }): Promise<number> {
  const list = await Machine.list({ hostEnv: io.env });
  if (flags.json) {
    io.stdout.write(JSON.stringify(list, null, 2) + '\n');
    return 0;
  }
  const rows = [['NAME', 'STATE', 'CPUS', 'MEMORY', 'STORAGE', 'IMAGE', 'PORTS']];
  for (const m of list as MachineRecord[]) {
    rows.push([m.name, m.state, String(m.cpus), `${m.memoryMiB} MiB`, `${m.storageGiB} GiB`, m.image ?? 'default', m.ports.map(formatPort).join(', ') || '-']);
  }
  io.stdout.write(table(rows));
  return 0;
}

export async function machineInspect(io: Io, name: string | undefined, flags: { json?: boolean }): Promise<number> {
  const m = await Machine.get(name ?? DEFAULT, { hostEnv: io.env });
  const info = await m.inspect();
  if (flags.json) {
    io.stdout.write(JSON.stringify(info, null, 2) + '\n');
    return 0;
  }
  const rows: string[][] = [
    ['name', info.name],
    ['state', info.state + (info.lastExitReason && info.state !== 'running' ? ` (${info.lastExitReason})` : '')],
    ['image', info.image ?? 'default'],
    ['cpus', String(info.cpus)],
    ['memory', `${info.memoryMiB} MiB`],
    ['storage', `${info.storageGiB} GiB`],
    ['env', info.env.join(' ') || '-'],
    ['workdir', info.workdir ?? '-'],
    ['init', info.init.map((c) => JSON.stringify(c)).join(', ') || '-'],
    ['restart', `${info.restartPolicy}${info.restartMaxRetries !== null ? `, at most ${info.restartMaxRetries} times` : ''}; restarted ${info.restartCount} times`],
    ['health', info.health ? `${info.health.exec.join(' ')} every ${info.health.intervalMs} ms` : '-'],
    ['ports', info.ports.map(formatPort).join(', ') || '-'],
    ['volumes', info.volumes.map((v) => `${v.hostPath}:${v.guestPath}${v.readOnly ? ':ro' : ''}`).join(', ') || '-'],
    ['directory', info.dir],
    ['created', info.createdAt],
  ];
  if (info.status) {
    rows.push(['supervisor pid', String(info.status.supervisorPid)], ['VMM pid', String(info.status.vmmPid ?? '-')]);
    rows.push(['healthy', info.status.healthy === null ? 'not checked' : String(info.status.healthy)], ['clients', String(info.status.clients)]);
  }
  io.stdout.write(table([['FIELD', 'VALUE'], ...rows]).split('\n').slice(1).join('\n'));
  return 0;
}

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`;

export async function machineStats(io: Io, name: string | undefined, flags: { json?: boolean }): Promise<number> {
  await using m = await Machine.get(name ?? DEFAULT, { hostEnv: io.env });
  const s = await m.stats();
  if (flags.json) {
    io.stdout.write(JSON.stringify(s, null, 2) + '\n');
    return 0;
  }
  io.stdout.write(
    table([
      ['WHAT', 'VALUE'],
      ['guest cpus', String(s.guest.cpus)],
      ['guest load (1 min)', String(s.guest.load1)],
      ['guest memory used', `${mib(s.guest.memTotalBytes - s.guest.memAvailableBytes)} of ${mib(s.guest.memTotalBytes)}`],
      ['guest disk used', `${mib(s.guest.diskUsedBytes)} of ${mib(s.guest.diskTotalBytes)}`],
      ['host RSS, VMM', mib(s.host.vmmRssBytes)],
      ['host RSS, supervisor', mib(s.host.supervisorRssBytes)],
    ]),
  );
  return 0;
}

function copyFrom(path: string, start: number, io: Io): Promise<number> {
  return new Promise((resolve, reject) => {
    const end = statSync(path).size;
    if (end <= start) return resolve(start);
    const s = createReadStream(path, { start, end: end - 1 });
    s.on('data', (d) => io.stdout.write(d));
    s.on('end', () => resolve(end));
    s.on('error', reject);
  });
}

export async function machineLogs(io: Io, name: string | undefined, flags: { follow?: boolean }): Promise<number> {
  const m = await Machine.get(name ?? DEFAULT, { hostEnv: io.env });
  const paths = m.logPaths();
  const offsets = new Map<string, number>();
  for (const [label, p] of Object.entries(paths)) {
    if (!existsSync(p)) continue;
    io.stdout.write(`==> ${label}: ${p} <==\n`);
    offsets.set(p, await copyFrom(p, 0, io));
  }
  if (!flags.follow) return 0;
  // Follow both files until interrupted (Ctrl-C ends the CLI).
  await new Promise<void>((resolve) => {
    const watchers = [...offsets.keys()].map((p) =>
      watch(p, () => {
        void copyFrom(p, offsets.get(p) ?? 0, io).then((o) => offsets.set(p, o), () => {});
      }),
    );
    process.once('SIGINT', () => {
      for (const w of watchers) w.close();
      resolve();
    });
  });
  return 0;
}
