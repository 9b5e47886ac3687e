import { pullImage } from '@smolvm/core';
import type { Io } from '../../program.js';
import { progressBars } from './progress.js';
import { imageSource, pullOptions, type ImageFlags } from './source.js';

export interface ImagePullFlags extends ImageFlags {
  json?: boolean;
}

/** Pulls (or imports) an image and builds its root disk; prints the image pinned to its digest. */
export async function imagePull(io: Io, image: string, flags: ImagePullFlags): Promise<number> {
  const bars = progressBars(io);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  try {
    const pulled = await pullImage(await imageSource(io, image), {
      ...pullOptions(io, flags),
      signal: abort.signal,
      ...(bars.onProgress ? { onProgress: bars.onProgress } : {}),
    });
    bars.done();
    if (flags.json) io.stdout.write(`${JSON.stringify(pulled, null, 2)}\n`);
    else io.stdout.write(`${pulled.pinned}\n`);
    return 0;
  } catch (e) {
    bars.done();
    if (abort.signal.aborted) return 130;
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
  }
}
