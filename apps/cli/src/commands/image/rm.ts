import { removeImage } from '@smolvm/core';
import type { Io } from '../../program.js';

/** Removes image records by reference or digest (prefix); their data goes at the next prune. */
export async function imageRm(io: Io, refs: string[], flags: { force?: boolean }): Promise<number> {
  for (const ref of refs) {
    const removed = await removeImage(ref, { hostEnv: io.env, ...(flags.force ? { force: true } : {}) });
    for (const r of removed) io.stdout.write(`${r.reference ?? r.digest}\n`);
  }
  return 0;
}
