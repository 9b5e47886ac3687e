// What `--image` and `smolvm image pull` accept: a registry reference, an archive (`docker save`, `podman
// save`, OCI), `-` for an archive on stdin, an OCI layout or a root filesystem directory. Relative paths
// resolve from the CLI's working directory.
import { resolveImageSource, type ImageSource, type ImagePullOptions } from '@smolvm/core';
import type { Io } from '../../program.js';

export interface ImageFlags {
  platform?: string;
  insecureRegistry?: boolean;
}

export async function imageSource(io: Io, text: string): Promise<ImageSource> {
  if (text === '-') return { type: 'archive', stream: (io.stdin ?? process.stdin) as AsyncIterable<Uint8Array>, label: 'the image archive on stdin' };
  return resolveImageSource(text, io.cwd);
}

export function pullOptions(io: Io, flags: ImageFlags): ImagePullOptions {
  return {
    hostEnv: io.env,
    cwd: io.cwd,
    ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
    ...(flags.insecureRegistry ? { insecureRegistry: true } : {}),
  };
}
