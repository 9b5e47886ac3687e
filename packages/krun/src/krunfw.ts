// Finding libkrunfw, the library that bundles the Linux kernel libkrun boots when it is given none
// (no krun_set_kernel, no firmware). It has no header: it exports `krunfw_get_kernel(size_t *load_addr,
// size_t *entry_addr, size_t *size)` and `int krunfw_get_version(void)`.
//
// libkrun itself opens it lazily by soname: recent versions dlopen `libkrunfw.so.5` (Linux; `-sev`/`-tdx`
// flavours for TEE builds) or `libkrunfw.5.dylib` (macOS) when a context is created, and at
// krun_start_enter load its kernel only when no kernel, kernel bundle or firmware was configured; older
// versions linked against it (`libkrunfw.so.4` and earlier). Nothing here runs at import time.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { requireKoffi } from './loader.js';
import { defaultLibkrunCandidates } from './lookup.js';

/** The libkrunfw sonames tried when libkrun's own file does not say which one it wants, newest first. */
export function defaultKrunfwNames(platform: NodeJS.Platform = process.platform): string[] {
  return platform === 'darwin' ? ['libkrunfw.5.dylib', 'libkrunfw.4.dylib'] : ['libkrunfw.so.5', 'libkrunfw.so.4'];
}

/**
 * The libkrunfw names a libkrun file refers to (a string constant for the dlopen of recent versions, a
 * DT_NEEDED entry for older ones), read from its bytes; the non-TEE name first. Empty when the file
 * cannot be read or names none.
 */
export function krunfwNamesIn(libkrunFile: string): string[] {
  let text: string;
  try {
    text = readFileSync(libkrunFile).toString('latin1');
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const m of text.matchAll(/libkrunfw(?:-sev|-tdx)?(?:\.so\.\d+|\.\d+\.dylib)/g)) names.add(m[0]);
  // A TEE flavour's kernel cannot boot a plain guest: keep the plain names only, when there are some.
  const plain = [...names].filter((n) => !/-(sev|tdx)/.test(n));
  return plain.length > 0 ? plain : [...names];
}

export interface KrunfwCandidateOptions {
  platform?: NodeJS.Platform;
  arch?: string;
  env?: NodeJS.ProcessEnv;
  /** The libkrun file in use: the names it refers to come first, and its own directory is searched. */
  libkrunFile?: string;
}

/**
 * Where to look for libkrunfw, in order: each name (those the libkrun file refers to, else
 * {@link defaultKrunfwNames}) as a bare soname (the dynamic loader's own search, as libkrun's dlopen),
 * then beside the libkrun file, then in the directories libkrun itself is looked for in.
 */
export function defaultKrunfwCandidates(options: KrunfwCandidateOptions = {}): string[] {
  const platform = options.platform ?? process.platform;
  const fromLibkrun = options.libkrunFile ? krunfwNamesIn(options.libkrunFile) : [];
  const names = [...new Set([...fromLibkrun, ...defaultKrunfwNames(platform)])];
  const dirs = new Set<string>();
  if (options.libkrunFile && isAbsolute(options.libkrunFile)) dirs.add(dirname(options.libkrunFile));
  for (const c of defaultLibkrunCandidates({ platform, ...(options.arch ? { arch: options.arch } : {}), ...(options.env ? { env: options.env } : {}) })) {
    if (isAbsolute(c)) dirs.add(dirname(c));
  }
  return [...new Set([...names, ...[...dirs].flatMap((d) => names.map((n) => join(d, n)))])];
}

/** libkrunfw as found. */
export interface KrunfwLibrary {
  /** The name or path it was opened with (a bare soname means the dynamic loader found it). */
  path: string;
  /** `krunfw_get_version()`: the ABI version (5 for libkrunfw 5.x); undefined when it lacks the call. */
  version: number | undefined;
}

export interface FindKrunfwResult {
  found: KrunfwLibrary | undefined;
  /** Every candidate tried before (and not including) the one found, with why it was skipped. */
  tried: { candidate: string; reason: string }[];
}

const cache = new Map<string, KrunfwLibrary>();

/**
 * Opens the first candidate that loads and exports `krunfw_get_kernel` (synchronously; a library that
 * loads stays loaded for the life of the process, like libkrun's own). Never throws: a missing koffi
 * or library is a reason in `tried`.
 */
export function findKrunfw(candidates: readonly string[] = defaultKrunfwCandidates()): FindKrunfwResult {
  const tried: FindKrunfwResult['tried'] = [];
  for (const candidate of candidates) {
    const cached = cache.get(candidate);
    if (cached) return { found: cached, tried };
    if (isAbsolute(candidate) && !existsSync(candidate)) {
      tried.push({ candidate, reason: 'no such file' });
      continue;
    }
    let ffi;
    try {
      ffi = requireKoffi();
    } catch (e) {
      tried.push({ candidate, reason: (e as Error).message });
      return { found: undefined, tried };
    }
    let lib;
    try {
      lib = ffi.load(candidate);
    } catch (e) {
      tried.push({ candidate, reason: (e as Error).message.split('\n')[0] ?? 'cannot be loaded' });
      continue;
    }
    try {
      lib.func('char *krunfw_get_kernel(_Out_ size_t *load_addr, _Out_ size_t *entry_addr, _Out_ size_t *size)');
    } catch {
      lib.unload();
      tried.push({ candidate, reason: 'not libkrunfw: lacks krunfw_get_kernel' });
      continue;
    }
    let version: number | undefined;
    try {
      const v = (lib.func('int krunfw_get_version(void)') as () => number)();
      version = Number.isInteger(v) && v >= 0 ? v : undefined;
    } catch {
      version = undefined;
    }
    const found = { path: candidate, version };
    cache.set(candidate, found);
    return { found, tried };
  }
  return { found: undefined, tried };
}
