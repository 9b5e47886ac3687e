import { listImages } from '@smolvm/core';
import type { Io } from '../../program.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

function size(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** The stored images: name, digest, platform, size (compressed layers), when pulled, used by. */
export async function imageLs(io: Io, flags: { json?: boolean; quiet?: boolean }): Promise<number> {
  const images = await listImages({ hostEnv: io.env });
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
    return 0;
  }
  if (flags.quiet) {
    for (const i of images) io.stdout.write(`${i.digest}\n`);
    return 0;
  }
  const rows = [['REFERENCE', 'DIGEST', 'PLATFORM', 'SIZE', 'PULLED', 'MACHINES']];
  for (const i of images) {
    rows.push([i.reference ?? '<none>', i.digest.slice(7, 19), i.platform, size(i.sizeBytes), age(i.pulledAt), i.machines.join(',') || '-']);
  }
  io.stdout.write(table(rows));
  return 0;
}
