// Image references as Docker spells them: `alpine`, `alpine:3.20`, `ghcr.io/org/app@sha256:…`,
// `localhost:5000/x:y`. The grammar follows distribution/reference, including Docker Hub's defaults.
import { isIP } from 'node:net';
import { tryParseDigest } from './digest.js';
import { OciError } from './errors.js';

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

export interface ImageReference {
  /** Registry host as written (`docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`). */
  registry: string;
  /** Repository path in that registry (`library/alpine`). */
  repository: string;
  /** The tag; `latest` when neither a tag nor a digest was given. Undefined for digest-only references. */
  tag: string | undefined;
  /** The manifest digest, when the reference pins one. */
  digest: string | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

function invalid(input: string, why: string): OciError {
  return new OciError('SMOLVM_ERR_OCI_INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input.slice(0, 300))}: ${why}`, {
    image: input,
    hint: 'Write it like alpine, alpine:3.20, ghcr.io/org/app:tag, localhost:5000/name:tag or name@sha256:<64 hex digits>.',
  });
}

function validHost(host: string): boolean {
  let name = host;
  const portMatch = /^(.*):(\d{1,5})$/.exec(host);
  if (portMatch && !host.endsWith(']')) {
    name = portMatch[1] as string;
    if (Number(portMatch[2]) > 65535) return false;
  }
  if (name.startsWith('[') && name.endsWith(']')) return isIP(name.slice(1, -1)) === 6;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((l) => HOST_LABEL.test(l));
}

/** Parses an image reference and applies Docker Hub's defaults (`docker.io`, `library/`, `:latest`). */
export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(String(input), 'it is empty');
  if (input.length > 1024) throw invalid(input, 'it is longer than 1024 characters');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!tryParseDigest(digest)) throw invalid(input, `"${digest.slice(0, 80)}" is not a sha256/sha512 digest`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `"${tag.slice(0, 80)}" is not a valid tag`);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[') || first !== first.toLowerCase()) {
      registry = first;
      repository = rest.slice(slash + 1);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (!validHost(registry)) throw invalid(input, `"${registry}" is not a valid registry host`);
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (repository.length === 0) throw invalid(input, 'the repository name is empty');
  if (repository !== repository.toLowerCase()) throw invalid(input, 'repository names must be lowercase');
  for (const c of repository.split('/')) {
    if (!COMPONENT.test(c)) throw invalid(input, `"${c.slice(0, 80)}" is not a valid repository path component`);
  }
  if (registry.length + 1 + repository.length > 255) throw invalid(input, 'the name is longer than 255 characters');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, tag, digest };
}

/** The canonical string: `docker.io/library/alpine:3.20`, `ghcr.io/o/a@sha256:…`, `r/x:t@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The host that serves the registry API (Docker Hub's API lives on another name than its references). */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Host part without the port, brackets removed. */
export function hostnameOf(hostWithPort: string): string {
  if (hostWithPort.startsWith('[')) {
    const end = hostWithPort.indexOf(']');
    return hostWithPort.slice(1, end < 0 ? undefined : end);
  }
  const i = hostWithPort.lastIndexOf(':');
  return i < 0 ? hostWithPort : hostWithPort.slice(0, i);
}

/** Loopback hosts may be spoken to over plain http without the caller saying `insecure`. */
export function isLoopbackHost(hostWithPort: string): boolean {
  const name = hostnameOf(hostWithPort).toLowerCase();
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || name === '0:0:0:0:0:0:0:1';
  return false;
}
