// Where smolvm keeps its state, and what a machine may be called.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SmolvmError } from '../errors.js';
import { StateErrorCode } from './errors.js';

/**
 * The data directory: `$SMOLVM_HOME`, else `$XDG_DATA_HOME/smolvm`, else `~/.local/share/smolvm`.
 * A relative `XDG_DATA_HOME` is ignored, as the XDG spec says; a relative `SMOLVM_HOME` is taken from the cwd.
 */
export function smolvmHome(env: NodeJS.ProcessEnv = process.env): string {
  const own = env.SMOLVM_HOME;
  if (own) return resolve(own);
  const xdg = env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'smolvm');
  return join(env.HOME || homedir(), '.local', 'share', 'smolvm');
}

/**
 * The cache directory: `$SMOLVM_CACHE_DIR`, else `$XDG_CACHE_HOME/smolvm`, else `~/.cache/smolvm`, as the
 * kernel build and the image cache (`@smolvm/oci`'s `defaultCacheDir`, below it in `oci/`) use it.
 */
export function smolvmCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SMOLVM_CACHE_DIR || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'smolvm');
}

export const MACHINE_NAME_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
export const MACHINE_NAME_RULE =
  "a name is 1 to 63 characters: lowercase letters, digits, '_', '.' and '-', starting with a letter or digit";

/** Throws `SMOLVM_ERR_INVALID_MACHINE_NAME` (saying the rule) unless `name` is a valid machine name. */
export function checkMachineName(name: unknown): string {
  if (typeof name === 'string' && MACHINE_NAME_PATTERN.test(name)) return name;
  const shown = typeof name === 'string' ? JSON.stringify(name) : String(name);
  throw new SmolvmError(StateErrorCode.INVALID_MACHINE_NAME, `invalid machine name ${shown}: ${MACHINE_NAME_RULE}`, {
    hint: 'For example: dev, web-1, build.cache',
  });
}

/** True when `name` is a valid machine name. */
export function isValidMachineName(name: string): boolean {
  return MACHINE_NAME_PATTERN.test(name);
}
