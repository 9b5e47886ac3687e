import { availableParallelism, totalmem } from 'node:os';
import { ErrorCode, SmolvmError } from './errors.js';

export const DEFAULT_CPUS = 1;
export const DEFAULT_MEMORY_MIB = 512;
export const MIN_MEMORY_MIB = 64;
export const MAX_CPUS = 64;

const invalid = (message: string, hint: string): SmolvmError => new SmolvmError(ErrorCode.INVALID_OPTION, message, { hint });

export function checkCpus(cpus: number | undefined): number {
  if (cpus === undefined) return DEFAULT_CPUS;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) {
    throw invalid(`cpus must be a whole number from 1 to ${MAX_CPUS}, got ${cpus}`, `This host has ${availableParallelism()} CPUs; a VM rarely needs more.`);
  }
  return cpus;
}

export function checkMemory(memoryMiB: number | undefined): number {
  if (memoryMiB === undefined) return DEFAULT_MEMORY_MIB;
  const hostMiB = Math.floor(totalmem() / 1024 / 1024);
  if (!Number.isInteger(memoryMiB) || memoryMiB < MIN_MEMORY_MIB || memoryMiB > hostMiB) {
    throw invalid(
      `memory must be a whole number of MiB from ${MIN_MEMORY_MIB} to ${hostMiB} (this host's memory), got ${memoryMiB}`,
      `Try ${DEFAULT_MEMORY_MIB} (the default).`,
    );
  }
  return memoryMiB;
}

/** Turns `{K: V}` or `['K=V']` into a checked `K=V` list; later entries win. */
export function normalizeEnv(env: Record<string, string> | string[] | undefined): string[] {
  const map = new Map<string, string>();
  const entries: Array<[string, string]> = Array.isArray(env)
    ? env.map((e) => {
        const i = e.indexOf('=');
        if (i <= 0) throw invalid(`environment entry "${e}" is not KEY=VALUE`, 'Write it as NAME=value, e.g. -e DEBUG=1.');
        return [e.slice(0, i), e.slice(i + 1)];
      })
    : Object.entries(env ?? {});
  for (const [k, v] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw invalid(`environment variable name "${k}" is not valid`, 'Names use letters, digits and _, and do not start with a digit.');
    if (typeof v !== 'string' || v.includes('\0')) throw invalid(`environment variable ${k} must be a string without NUL bytes`, 'Pass values as strings.');
    map.set(k, v);
  }
  return [...map].map(([k, v]) => `${k}=${v}`);
}

export const BASE_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'HOSTNAME=smolvm'];

/** The workload's environment: the base, then the image's, then the caller's (later wins). */
export function mergeEnv(...layers: string[][]): string[] {
  const map = new Map<string, string>();
  for (const layer of layers) {
    for (const e of layer) {
      const i = e.indexOf('=');
      map.set(e.slice(0, i), e.slice(i + 1));
    }
  }
  return [...map].map(([k, v]) => `${k}=${v}`);
}
