import { pruneImages } from '@smolvm/core';
import type { Io } from '../../program.js';

/** Frees the image cache; never touches what a persistent machine uses. */
export async function imagePrune(io: Io, flags: { all?: boolean; json?: boolean }): Promise<number> {
  const r = await pruneImages({ hostEnv: io.env, ...(flags.all ? { all: true } : {}) });
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  for (const i of r.removedImages) io.stdout.write(`removed ${i.reference ?? i.digest}\n`);
  io.stdout.write(
    `${r.removedImages.length} image${r.removedImages.length === 1 ? '' : 's'}, ${r.removedBlobs} blob${r.removedBlobs === 1 ? '' : 's'} and ${r.removedDisks} disk${r.removedDisks === 1 ? '' : 's'} removed, ${(r.freedBytes / 1024 / 1024).toFixed(1)} MiB freed\n`,
  );
  return 0;
}
