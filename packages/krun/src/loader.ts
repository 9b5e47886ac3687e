// Lazy loading: nothing here runs at import time. koffi is required on the first loadKrun() call,
// and the native library is opened then, never before.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';
import type * as KoffiTypes from 'koffi';
import { KrunError, type KrunLookupAttempt } from './errors.js';
import { Krun, type KoffiFunction } from './library.js';
import { defaultLibkrunCandidates, libkrunInstallHint, SMOLVM_LIBKRUN_ENV } from './lookup.js';
import { KRUN_SYMBOLS, type KrunFunctionName } from './symbols.js';
import { logInitialisedBy } from './log-guard.js';

export type KoffiModule = typeof KoffiTypes;

export interface LoadKrunOptions {
  /** Load exactly this file (wins over `SMOLVM_LIBKRUN` and the defaults; no fallback). */
  path?: string;
  /** Environment to read `SMOLVM_LIBKRUN` and `HOMEBREW_PREFIX` from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Replace the default candidate list (sonames and paths tried in order when nothing is named). */
  candidates?: readonly string[];
}

/** What the loader has done so far in this process (for diagnostics and tests). */
export interface KrunLoaderState {
  /** Whether koffi (the FFI module) has been required. */
  koffiLoaded: boolean;
  /** Libraries opened and cached, by the name or path they were opened with. */
  libraries: string[];
  /** The libkrun call that initialised libkrun's logger in this process, if any. */
  logInitialisedBy: string | undefined;
}

let koffi: KoffiModule | undefined;
const cache = new Map<string, Krun>();

/** Requires koffi on first use; a coded error when it cannot be loaded. */
export function requireKoffi(): KoffiModule {
  if (!koffi) {
    try {
      koffi = createRequire(import.meta.url)('koffi') as KoffiModule;
    } catch (cause) {
      throw new KrunError(
        'SMOLVM_ERR_KRUN_FFI_UNAVAILABLE',
        'The koffi FFI module could not be loaded, so libkrun cannot be called from this Node.js process.',
        {
          hint: 'koffi ships prebuilt binaries for common platforms; reinstall dependencies (pnpm install) or use the qemu engine.',
          cause,
        },
      );
    }
  }
  return koffi;
}

/** The loader's state; calling it loads nothing. */
export function krunLoaderState(): KrunLoaderState {
  return { koffiLoaded: koffi !== undefined, libraries: [...cache.keys()], logInitialisedBy: logInitialisedBy() };
}

type OpenResult =
  | { ok: true; krun: Krun }
  | { ok: false; code: 'load' | 'incompatible'; reason: string; cause?: unknown };

function open(candidate: string): OpenResult {
  const cached = cache.get(candidate);
  if (cached) return { ok: true, krun: cached };
  const ffi = requireKoffi();
  let lib: KoffiTypes.IKoffiLib;
  try {
    lib = ffi.load(candidate);
  } catch (cause) {
    return { ok: false, code: 'load', reason: (cause as Error).message, cause };
  }
  const fns = new Map<KrunFunctionName, KoffiFunction>();
  const missing: KrunFunctionName[] = [];
  for (const symbol of KRUN_SYMBOLS) {
    try {
      fns.set(symbol.name, lib.func(symbol.prototype) as KoffiFunction);
    } catch {
      // koffi throws "Cannot find function 'x' in shared library": the symbol is absent.
      missing.push(symbol.name);
    }
  }
  const missingCore = KRUN_SYMBOLS.filter((s) => s.availability === 'core' && missing.includes(s.name)).map(
    (s) => s.name,
  );
  if (missingCore.length > 0) {
    lib.unload();
    return { ok: false, code: 'incompatible', reason: `not libkrun: lacks ${missingCore.join(', ')}` };
  }
  const krun = new Krun(ffi, candidate, fns, missing);
  cache.set(candidate, krun);
  return { ok: true, krun };
}

/**
 * Finds, opens and binds libkrun (synchronously), then caches it for the process.
 *
 * Order: `options.path`, else `SMOLVM_LIBKRUN`, else the default candidates
 * ({@link defaultLibkrunCandidates}). A named file (option or variable) is the only one tried: when it
 * cannot be used the error says why, rather than silently loading another libkrun. Optional symbols
 * (network, disks, newer calls) are resolved one by one; `features()` reports what is missing.
 *
 * @throws KrunError `SMOLVM_ERR_KRUN_NOT_FOUND` (nothing found: lists what was tried and what to
 *   install), `SMOLVM_ERR_KRUN_LOAD_FAILED` (found but the dynamic loader refused it),
 *   `SMOLVM_ERR_KRUN_INCOMPATIBLE` (not a libkrun), `SMOLVM_ERR_KRUN_FFI_UNAVAILABLE` (no koffi).
 */
export function loadKrun(options: LoadKrunOptions = {}): Krun {
  const env = options.env ?? process.env;
  const named = options.path ?? (env[SMOLVM_LIBKRUN_ENV] || undefined);

  if (named !== undefined) {
    const source = options.path !== undefined ? 'option' : SMOLVM_LIBKRUN_ENV;
    const label = source === 'option' ? 'The libkrun path given' : `${SMOLVM_LIBKRUN_ENV}`;
    if (isAbsolute(named) && !existsSync(named)) {
      throw new KrunError('SMOLVM_ERR_KRUN_NOT_FOUND', `${label} (${named}) does not exist.`, {
        hint: `Point ${SMOLVM_LIBKRUN_ENV} at an installed libkrun, or unset it to search the usual places.\n${libkrunInstallHint()}`,
        tried: [{ candidate: named, source, reason: 'no such file' }],
        libraryPath: named,
      });
    }
    const result = open(named);
    if (result.ok) return result.krun;
    const tried: KrunLookupAttempt[] = [{ candidate: named, source, reason: result.reason }];
    if (result.code === 'incompatible') {
      throw new KrunError(
        'SMOLVM_ERR_KRUN_INCOMPATIBLE',
        `${label} (${named}) loaded but is not a usable libkrun (${result.reason}).`,
        { hint: 'Point it at libkrun itself (libkrun.so.1 / libkrun.1.dylib).', tried, libraryPath: named },
      );
    }
    throw new KrunError(
      isAbsolute(named) ? 'SMOLVM_ERR_KRUN_LOAD_FAILED' : 'SMOLVM_ERR_KRUN_NOT_FOUND',
      `${label} (${named}) could not be loaded: ${result.reason}`,
      {
        hint: `Check that the file is libkrun for this architecture and that libkrunfw is installed beside it.\n${libkrunInstallHint()}`,
        tried,
        libraryPath: named,
        cause: result.cause,
      },
    );
  }

  const candidates = options.candidates ?? defaultLibkrunCandidates({ env });
  const tried: KrunLookupAttempt[] = [];
  for (const candidate of candidates) {
    if (isAbsolute(candidate) && !existsSync(candidate)) {
      tried.push({ candidate, source: 'default', reason: 'no such file' });
      continue;
    }
    const result = open(candidate);
    if (result.ok) return result.krun;
    tried.push({ candidate, source: 'default', reason: result.reason });
  }
  const list = tried.map((t) => `  ${t.candidate}: ${t.reason}`).join('\n');
  throw new KrunError(
    'SMOLVM_ERR_KRUN_NOT_FOUND',
    `libkrun was not found (${SMOLVM_LIBKRUN_ENV} is not set). Tried, in order:\n${list}`,
    { hint: libkrunInstallHint(), tried },
  );
}
