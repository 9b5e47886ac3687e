// Checks for the plain string values of a Smolfile: image references, users, paths, commands, key filters,
// secret references. Each returns the value (possibly normalised) or a failure with the accepted form.
import { isAbsolute, posix } from 'node:path';
import { ENV_NAME_FORM, isEnvName } from './env.js';
import { SMOLFILE_LIMITS } from './limits.js';
import { formatError, hasControlCharacter, ok, quote, utf8Length, type SpecResult } from './spec-result.js';

export const IMAGE_FORM = 'an image reference such as "alpine:3.20", "ghcr.io/org/app:1.2" or "name@sha256:<64 hex digits>"';

const LOCAL_PREFIX = /^(oci|oci-archive|docker-archive|rootfs|dir):/;

// Local images (a `docker save` archive, an OCI layout, a root file system directory) are also accepted: a path
// starting with /, ./ or ../, optionally prefixed with oci:, oci-archive:, docker-archive:, rootfs: or dir:.
/** Splits a local image source into its prefix (`oci:` or '') and path; undefined for a registry reference. */
export function localImageSource(text: string): { prefix: string; path: string } | undefined {
  const m = LOCAL_PREFIX.exec(text);
  if (m) return { prefix: m[0], path: text.slice(m[0].length) };
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../')) return { prefix: '', path: text };
  return undefined;
}

const IMAGE_PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const IMAGE_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[A-Za-z0-9=_-]{32,}$/;
const REGISTRY_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Checks an OCI image reference: `[registry/]path[:tag][@digest]`. */
export function tryParseImageReference(text: string): SpecResult<string> {
  const shown = quote(text);
  const bad = (reason: string, hint?: string): SpecResult<string> =>
    formatError(`invalid image reference ${shown}: ${reason}; expected ${IMAGE_FORM}`, hint);
  if (text.length === 0) return formatError(`empty image reference; expected ${IMAGE_FORM}`);
  if (text.length > SMOLFILE_LIMITS.maxImageReferenceLength) return bad('too long');
  if (/\s/.test(text) || hasControlCharacter(text)) return bad('contains whitespace or control characters');
  const local = localImageSource(text);
  if (local) {
    if (local.path === '' || local.path.includes('\0')) return bad('the local image path is empty');
    return ok(text);
  }
  if (text.includes('://')) return bad('a URL is not an image reference', 'drop the scheme, e.g. "ghcr.io/org/app:1.2"');
  let rest = text;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!IMAGE_DIGEST.test(rest.slice(at + 1))) return bad('the digest after "@" is malformed', 'a digest looks like sha256:<64 hex digits>');
    if (rest.slice(at + 1).startsWith('sha256:') && !/^sha256:[a-f0-9]{64}$/.test(rest.slice(at + 1))) {
      return bad('a sha256 digest is 64 lower-case hex digits');
    }
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    if (!IMAGE_TAG.test(rest.slice(colon + 1))) return bad('the tag after ":" is malformed');
    rest = rest.slice(0, colon);
  }
  const components = rest.split('/');
  const first = components[0] ?? '';
  const hasRegistry = components.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) {
    if (!REGISTRY_HOST.test(first)) return bad(`${quote(first)} is not a registry host`);
    components.shift();
  }
  for (const component of components) {
    if (!IMAGE_PATH_COMPONENT.test(component)) {
      const hint = component !== component.toLowerCase() ? 'repository names are lower case' : undefined;
      return bad(`${quote(component)} is not a valid repository name component`, hint);
    }
  }
  return ok(text);
}

export const USER_FORM = 'a user name or uid, optionally followed by ":group" or ":gid", e.g. "app" or "1000:1000"';
const USER_PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

/** Checks `user`, `uid`, `user:group` or `uid:gid`. */
export function tryParseUser(text: string): SpecResult<string> {
  const parts = text.split(':');
  if (parts.length > 2 || parts.some((part) => !USER_PART.test(part))) {
    return formatError(`invalid user ${quote(text)}; expected ${USER_FORM}`);
  }
  for (const part of parts) {
    if (/^\d+$/.test(part) && Number(part) > 4_294_967_294) {
      return formatError(`invalid user ${quote(text)}: ${part} is larger than the largest uid or gid (4294967294)`);
    }
  }
  return ok(text);
}

export const GUEST_PATH_FORM = 'an absolute path in the machine, e.g. "/app"';

/** Checks an absolute path inside the machine and normalises it. */
export function tryParseGuestPath(text: string): SpecResult<string> {
  if (!text.startsWith('/')) return formatError(`${quote(text)} is not an absolute path; expected ${GUEST_PATH_FORM}`);
  if (text.length > SMOLFILE_LIMITS.maxPathLength) return formatError(`path ${quote(text)} is too long`);
  if (text.includes('\0')) return formatError('path contains a NUL character');
  return ok(posix.normalize(text).replace(/(.)\/$/, '$1'));
}

export const HOST_PATH_FORM = 'an absolute path on the host, e.g. "/run/secrets/token"';

/** Checks an absolute host path (secret files). */
export function tryParseAbsoluteHostPath(text: string): SpecResult<string> {
  if (text.length === 0) return formatError(`empty path; expected ${HOST_PATH_FORM}`);
  if (text.length > SMOLFILE_LIMITS.maxPathLength) return formatError(`path ${quote(text)} is too long`);
  if (text.includes('\0')) return formatError('path contains a NUL character');
  if (!isAbsolute(text)) {
    return formatError(`${quote(text)} is not an absolute path; expected ${HOST_PATH_FORM}`, 'secret files are named by absolute path');
  }
  return ok(text);
}

/** Checks one argument of `entrypoint`, `cmd` or a health check command. */
export function tryParseArgument(text: string): SpecResult<string> {
  if (text.includes('\0')) return formatError('argument contains a NUL character, which a program argument cannot hold');
  if (utf8Length(text) > SMOLFILE_LIMITS.maxArgBytes) return formatError(`argument is longer than ${SMOLFILE_LIMITS.maxArgBytes} bytes`);
  return ok(text);
}

/** Checks one `init` command (a shell command line). */
export function tryParseShellCommand(text: string): SpecResult<string> {
  if (text.trim().length === 0) return formatError('command is empty; expected a shell command such as "apk add curl"');
  if (text.includes('\0')) return formatError('command contains a NUL character');
  if (utf8Length(text) > SMOLFILE_LIMITS.maxInitCommandBytes) {
    return formatError(`command is longer than ${SMOLFILE_LIMITS.maxInitCommandBytes} bytes`, 'put long scripts in a file on a volume and run that');
  }
  return ok(text);
}

export const SSH_KEY_FILTER_FORM = 'a key fingerprint "SHA256:<43 base64 characters>" (as ssh-add -l prints) or a key comment';

/** Checks one `auth.ssh_keys` entry: a SHA256 fingerprint or a key comment. */
export function tryParseSshKeyFilter(text: string): SpecResult<string> {
  if (/^(?:sha256|md5):/i.test(text)) {
    if (/^SHA256:[A-Za-z0-9+/]{43}$/.test(text)) return ok(text);
    const hint = /^md5:/i.test(text) ? 'use the SHA256 fingerprint (ssh-add -l -E sha256)' : undefined;
    return formatError(`invalid key fingerprint ${quote(text)}; expected ${SSH_KEY_FILTER_FORM}`, hint);
  }
  if (text.trim().length === 0 || text.length > 256 || hasControlCharacter(text)) {
    return formatError(`invalid key filter ${quote(text)}; expected ${SSH_KEY_FILTER_FORM}`);
  }
  return ok(text);
}

/** Checks the name of an environment variable a secret comes from. */
export function tryParseEnvName(text: string): SpecResult<string> {
  if (!isEnvName(text)) return formatError(`${quote(text)} is not an environment variable name; expected ${ENV_NAME_FORM}`);
  return ok(text);
}
