import { join } from 'node:path';

/** The environment variable that names the libkrun file to load, ahead of every default. */
export const SMOLVM_LIBKRUN_ENV = 'SMOLVM_LIBKRUN';

export interface KrunCandidateOptions {
  platform?: NodeJS.Platform;
  arch?: string;
  env?: NodeJS.ProcessEnv;
}

const LINUX_MULTIARCH: Record<string, string> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
  ppc64: 'powerpc64le-linux-gnu',
  s390x: 's390x-linux-gnu',
};

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/**
 * The default places to look for libkrun, in order, when `SMOLVM_LIBKRUN` is not set: first the
 * bare sonames (the dynamic loader's own search: `LD_LIBRARY_PATH`/`DYLD_*`, the ld.so cache), then
 * absolute paths where distributions and Homebrew install it.
 */
export function defaultLibkrunCandidates(options: KrunCandidateOptions = {}): string[] {
  const platform = options.platform ?? process.platform;
  const arch = options.arch ?? process.arch;
  const env = options.env ?? process.env;

  if (platform === 'darwin') {
    const names = ['libkrun.1.dylib', 'libkrun.dylib'];
    const dirs = unique([
      ...(env.HOMEBREW_PREFIX ? [join(env.HOMEBREW_PREFIX, 'lib'), join(env.HOMEBREW_PREFIX, 'opt/libkrun/lib')] : []),
      '/opt/homebrew/lib',
      '/opt/homebrew/opt/libkrun/lib',
      '/usr/local/lib',
      '/usr/local/opt/libkrun/lib',
      '/opt/local/lib',
    ]);
    return unique([...names, ...dirs.flatMap((dir) => names.map((name) => join(dir, name)))]);
  }

  const names = ['libkrun.so.1', 'libkrun.so'];
  const multiarch = LINUX_MULTIARCH[arch];
  const dirs = unique([
    '/usr/lib64',
    ...(multiarch ? [`/usr/lib/${multiarch}`] : []),
    '/usr/lib',
    '/usr/local/lib64',
    '/usr/local/lib',
    ...(env.HOMEBREW_PREFIX ? [join(env.HOMEBREW_PREFIX, 'lib')] : []),
    '/home/linuxbrew/.linuxbrew/lib',
  ]);
  return unique([...names, ...dirs.flatMap((dir) => names.map((name) => join(dir, name)))]);
}

/** What to install, per platform, when no libkrun was found. */
export function libkrunInstallHint(platform: NodeJS.Platform = process.platform): string {
  const lines =
    platform === 'darwin'
      ? [
          'Homebrew: brew tap slp/krun && brew install libkrun (libkrunfw comes with it).',
          'The process running the VM needs the com.apple.security.hypervisor entitlement, and libkrunfw must be',
          'findable (DYLD_FALLBACK_LIBRARY_PATH) when it is not in a default path.',
        ]
      : [
          'Fedora: sudo dnf install libkrun libkrunfw',
          'Arch Linux: sudo pacman -S libkrun libkrunfw',
          'Homebrew (macOS): brew tap slp/krun && brew install libkrun',
          'Elsewhere: build https://github.com/containers/libkrun (and libkrunfw) from source.',
        ];
  return [...lines, `Or set ${SMOLVM_LIBKRUN_ENV}=/path/to/libkrun.so.1 to name the file directly.`].join('\n');
}
