// Registry credentials and the WWW-Authenticate challenge. Credentials come, first match wins, from the
// caller, from SMOLVM_REGISTRY_AUTH (JSON: { "host": "user:pass" } or { "host": { "username", "password" } }
// or { "host": { "auth": base64 } }), then from the Docker config file's `auths` (base64 "user:pass").
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OciError } from './errors.js';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** A bearer token to send as is (Docker's `registrytoken`). */
  registryToken?: string;
}

export interface ResolvedCredentials {
  credentials: RegistryCredentials;
  /** Where they came from, for messages: `options`, `SMOLVM_REGISTRY_AUTH`, or the Docker config path. */
  source: string;
}

export type CredentialsOption =
  | Record<string, RegistryCredentials | string>
  | ((registry: string) => RegistryCredentials | undefined);

/** `https://index.docker.io/v1/` → `docker.io`; `ghcr.io/` → `ghcr.io`. */
export function normalizeRegistryKey(key: string): string {
  let k = key.trim().toLowerCase();
  k = k.replace(/^[a-z]+:\/\//, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  if (k === 'index.docker.io' || k === 'registry-1.docker.io' || k === 'registry.hub.docker.com') k = 'docker.io';
  return k;
}

function decodeBasic(b64: string): RegistryCredentials | undefined {
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return undefined;
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

function fromValue(v: unknown): RegistryCredentials | undefined {
  if (typeof v === 'string') {
    const i = v.indexOf(':');
    return i < 0 ? undefined : { username: v.slice(0, i), password: v.slice(i + 1) };
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.registrytoken === 'string' && o.registrytoken) return { registryToken: o.registrytoken };
  if (typeof o.registryToken === 'string' && o.registryToken) return { registryToken: o.registryToken };
  if (typeof o.username === 'string' && typeof o.password === 'string') return { username: o.username, password: o.password };
  if (typeof o.auth === 'string' && o.auth) return decodeBasic(o.auth);
  return undefined;
}

function lookup(map: Record<string, unknown>, registry: string): unknown {
  for (const [k, v] of Object.entries(map)) if (normalizeRegistryKey(k) === registry) return v;
  return undefined;
}

export interface CredentialSources {
  auth?: CredentialsOption;
  env?: NodeJS.ProcessEnv;
  /** Path of the Docker config file (default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`). */
  dockerConfigPath?: string;
}

/** Finds credentials for a registry (as in references: `docker.io`, `ghcr.io`, `localhost:5000`). */
export function resolveCredentials(registryIn: string, sources: CredentialSources = {}): ResolvedCredentials | undefined {
  const registry = normalizeRegistryKey(registryIn);
  const env = sources.env ?? process.env;
  if (sources.auth) {
    const v = typeof sources.auth === 'function' ? sources.auth(registry) : lookup(sources.auth, registry);
    const c = typeof v === 'function' ? undefined : fromValue(v);
    if (c) return { credentials: c, source: 'options' };
  }
  const raw = env.SMOLVM_REGISTRY_AUTH;
  if (raw) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      throw new OciError('SMOLVM_ERR_OCI_AUTH_CONFIG', `SMOLVM_REGISTRY_AUTH is not valid JSON: ${(e as Error).message}`, {
        hint: 'Set it to a JSON object such as {"ghcr.io":"user:token"}.',
        cause: e,
      });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new OciError('SMOLVM_ERR_OCI_AUTH_CONFIG', 'SMOLVM_REGISTRY_AUTH is not a JSON object', {
        hint: 'Set it to a JSON object such as {"ghcr.io":"user:token"}.',
      });
    }
    const v = lookup(parsed as Record<string, unknown>, registry);
    if (v !== undefined) {
      const c = fromValue(v);
      if (!c) {
        throw new OciError('SMOLVM_ERR_OCI_AUTH_CONFIG', `SMOLVM_REGISTRY_AUTH has an entry for ${registry} that is not "user:password" or {"username","password"}`, {
          hint: 'Write the entry as "user:password", {"username":"…","password":"…"} or {"auth":"<base64 of user:password>"}.',
          registry,
        });
      }
      return { credentials: c, source: 'SMOLVM_REGISTRY_AUTH' };
    }
  }
  const path = sources.dockerConfigPath ?? join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined; // absent or unreadable: anonymous access
  }
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (typeof auths !== 'object' || auths === null) return undefined;
  const c = fromValue(lookup(auths as Record<string, unknown>, registry));
  return c ? { credentials: c, source: path } : undefined;
}

export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header into challenges (`Bearer realm="…",service="…",scope="…"`). */
export function parseChallenges(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  const s = header.slice(0, 8192);
  let i = 0;
  let current: AuthChallenge | undefined;
  const skipSpace = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  while (i < s.length) {
    skipSpace();
    const start = i;
    while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i] as string)) i++;
    const token = s.slice(start, i);
    if (token === '') {
      i++;
      continue;
    }
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    if (s[i] === '=' && current) {
      i++;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const vs = i;
        while (i < s.length && s[i] !== ',') i++;
        value = s.slice(vs, i).trim();
      }
      current.params[token.toLowerCase()] = value;
    } else {
      current = { scheme: token.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}
