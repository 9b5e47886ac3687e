// The registry client (distribution API v2 over undici): manifests with a size cap and digest check,
// blobs streamed into the cache with verification and Range resume, anonymous/Basic/Bearer auth from
// the WWW-Authenticate challenge, bounded retries with backoff on 408/429/5xx and network errors,
// redirects followed by hand (credentials never leave the registry's origin), plain http only for
// loopback registries or when the caller says `insecure`.
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { resolveCredentials, parseChallenges, type CredentialSources, type ResolvedCredentials } from './auth.js';
import type { BlobStore } from './cache.js';
import { newHash, parseDigest, shortDigest, type DigestAlgorithm } from './digest.js';
import { OciError, type OciErrorCode } from './errors.js';
import { acquireLock } from './lock.js';
import { MANIFEST_ACCEPT, type Descriptor } from './manifest.js';
import { formatReference, isLoopbackHost, registryApiHost, type ImageReference } from './reference.js';

export interface RegistryClientOptions extends CredentialSources {
  /** Allow plain http (and so no TLS) to registries that are not on loopback. */
  insecure?: boolean;
  /** Force a scheme; by default https, or http for loopback registries and `insecure`. */
  protocol?: 'http' | 'https';
  /** Connect, response-headers and body-idle timeout per request (default 30 s). */
  timeoutMs?: number;
  /** Retries after the first attempt for retryable failures (default 4). */
  retries?: number;
  /** Most time spent retrying one request, waits included (default 2 minutes). */
  retryBudgetMs?: number;
  /** Largest manifest or index accepted (default 4 MiB). */
  maxManifestBytes?: number;
  /** An undici dispatcher to use instead of the client's own Agent. */
  dispatcher?: Dispatcher;
  userAgent?: string;
  signal?: AbortSignal;
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  /** The Content-Type the registry sent. */
  mediaType: string;
}

export interface FetchBlobOptions {
  onBytes?: (bytes: number) => void;
  /** Refuse blobs whose descriptor says more than this. */
  maxBytes?: number;
}

interface Ctx {
  image: string;
  registry: string;
  /** What was being fetched, for messages: `manifest for tag 3.20`, `layer sha256:…`. */
  what: string;
  kind: 'manifest' | 'blob';
  digest?: string;
}

interface Token {
  value: string;
  expiresAt: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** A transfer that broke in the middle: resumable. */
class TransferInterrupted extends Error {}

function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  if (typeof c === 'string') return c;
  const cause = (e as { cause?: { code?: unknown } } | null)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

export class RegistryClient {
  private readonly agent: Dispatcher;
  private readonly ownsAgent: boolean;
  private readonly tokens = new Map<string, Token>();
  private readonly basic = new Map<string, string>();
  private readonly creds = new Map<string, ResolvedCredentials | undefined>();
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryBudgetMs: number;
  private readonly maxManifestBytes: number;
  private closed = false;

  constructor(private readonly opts: RegistryClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 4;
    this.retryBudgetMs = opts.retryBudgetMs ?? 120_000;
    this.maxManifestBytes = opts.maxManifestBytes ?? 4 << 20;
    this.ownsAgent = opts.dispatcher === undefined;
    this.agent =
      opts.dispatcher ??
      new Agent({
        connections: 16,
        connect: { timeout: this.timeoutMs },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        keepAliveTimeout: 4_000,
      });
  }

  /** Closes the client's own connections (idempotent). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsAgent) await this.agent.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** `https://ghcr.io` or, for loopback and `insecure`, `http://localhost:5000`. */
  baseUrl(registry: string): string {
    const host = registryApiHost(registry);
    const scheme = this.opts.protocol ?? (isLoopbackHost(host) || this.opts.insecure ? 'http' : 'https');
    return `${scheme}://${host}`;
  }

  private credentialsFor(registry: string): ResolvedCredentials | undefined {
    if (!this.creds.has(registry)) this.creds.set(registry, resolveCredentials(registry, this.opts));
    return this.creds.get(registry);
  }

  private mayUseHttp(host: string): boolean {
    return isLoopbackHost(host) || this.opts.insecure === true || this.opts.protocol === 'http';
  }

  private fail(code: OciErrorCode, message: string, ctx: Ctx, hint: string, extra: { status?: number; cause?: unknown } = {}): OciError {
    return new OciError(code, message, {
      hint,
      image: ctx.image,
      registry: ctx.registry,
      ...(ctx.digest ? { digest: ctx.digest } : {}),
      ...extra,
    });
  }

  private networkError(e: unknown, ctx: Ctx): OciError {
    if (e instanceof OciError) return e;
    const code = errCode(e);
    if (code === 'UND_ERR_ABORTED' || (e as Error)?.name === 'AbortError' || this.opts.signal?.aborted) {
      return this.fail('SMOLVM_ERR_OCI_ABORTED', `pulling ${ctx.image} was cancelled`, ctx, 'Nothing half-written was kept; run the pull again to resume.', { cause: e });
    }
    if (code && TIMEOUT_CODES.has(code)) {
      return this.fail('SMOLVM_ERR_OCI_TIMEOUT', `registry ${ctx.registry} did not answer within ${this.timeoutMs} ms while fetching the ${ctx.what} of ${ctx.image}`, ctx,
        'Check the network and that the registry is up; downloaded parts are kept and resume on the next pull. A slow link may need a larger timeout.', { cause: e });
    }
    return this.fail('SMOLVM_ERR_OCI_NETWORK', `could not reach registry ${ctx.registry} for ${ctx.image}: ${(e as Error)?.message ?? String(e)}`, ctx,
      code === 'ENOTFOUND' ? 'Check the registry host name in the image reference.' : 'Check the network, proxy settings and that the registry is up; downloaded parts are kept and resume on the next pull.', { cause: e });
  }

  private backoffMs(attempt: number, retryAfter?: string): number {
    if (retryAfter !== undefined) {
      const secs = Number(retryAfter);
      if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, 30_000);
      const at = Date.parse(retryAfter);
      if (Number.isFinite(at)) return Math.min(Math.max(0, at - Date.now()), 30_000);
    }
    const base = Math.min(250 * 2 ** attempt, 8_000);
    return base / 2 + Math.random() * (base / 2);
  }

  private checkOpen(): void {
    if (this.closed) throw new OciError('SMOLVM_ERR_OCI_NETWORK', 'the registry client was closed', { hint: 'Create a new client; this is a bug in the caller.' });
  }

  /** One request with redirects followed by hand. Authorization is dropped when leaving the registry's origin. */
  private async send(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, ctx: Ctx): Promise<Dispatcher.ResponseData> {
    const origin = url.origin;
    let current = url;
    for (let hop = 0; ; hop++) {
      const h = { ...headers };
      if (current.origin !== origin) delete h.authorization;
      const res = await request(current, {
        method,
        headers: h,
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      });
      const location = header(res, 'location');
      if (!REDIRECTS.has(res.statusCode) || !location) return res;
      await res.body.dump().catch(() => undefined);
      if (hop >= 5) throw this.fail('SMOLVM_ERR_OCI_REGISTRY', `registry ${ctx.registry} redirected more than 5 times for the ${ctx.what} of ${ctx.image}`, ctx, 'The registry or a proxy in front of it is misconfigured.');
      const next = new URL(location, current);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw this.fail('SMOLVM_ERR_OCI_REGISTRY', `registry ${ctx.registry} redirected to a ${next.protocol} URL`, ctx, 'The registry is misconfigured.');
      if (next.protocol === 'http:' && !this.mayUseHttp(next.host)) {
        throw this.fail('SMOLVM_ERR_OCI_INSECURE', `registry ${ctx.registry} redirected ${ctx.image}'s ${ctx.what} to plain http (${next.host})`, ctx,
          'Refused: content over plain http can be altered in transit. Pass insecure: true only for a registry you trust on a network you trust.');
      }
      current = next;
    }
  }

  private scope(ref: ImageReference): string {
    return `repository:${ref.repository}:pull`;
  }

  private authHeader(ref: ImageReference): string | undefined {
    const tok = this.tokens.get(`${ref.registry} ${this.scope(ref)}`);
    if (tok && tok.expiresAt > Date.now()) return `Bearer ${tok.value}`;
    return this.basic.get(ref.registry);
  }

  /** Answers a 401 challenge. Returns false when there is nothing to try (no usable challenge). */
  private async authenticate(ref: ImageReference, challengeHeader: string | undefined, ctx: Ctx): Promise<boolean> {
    const challenges = parseChallenges(challengeHeader ?? '');
    const resolved = this.credentialsFor(ref.registry);
    const creds = resolved?.credentials;
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      if (creds?.registryToken) {
        this.tokens.set(`${ref.registry} ${this.scope(ref)}`, { value: creds.registryToken, expiresAt: Date.now() + 3600_000 });
        return true;
      }
      const realm = bearer.params.realm;
      if (!realm) throw this.fail('SMOLVM_ERR_OCI_REGISTRY', `registry ${ctx.registry} asked for a bearer token without saying where to get one`, ctx, 'The registry is misconfigured.');
      let url: URL;
      try {
        url = new URL(realm);
      } catch {
        throw this.fail('SMOLVM_ERR_OCI_REGISTRY', `registry ${ctx.registry} sent an invalid token realm`, ctx, 'The registry is misconfigured.');
      }
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.mayUseHttp(url.host))) {
        throw this.fail('SMOLVM_ERR_OCI_INSECURE', `registry ${ctx.registry} wants tokens from ${url.protocol}//${url.host}, which is not https`, ctx,
          'Refused: a token (and any password) sent over plain http can be stolen. Pass insecure: true only for a registry you trust.');
      }
      if (bearer.params.service) url.searchParams.set('service', bearer.params.service);
      url.searchParams.set('scope', this.scope(ref));
      const headers: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'smolvm-oci/0.1' };
      if (creds?.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      const tokenCtx: Ctx = { ...ctx, what: 'token' };
      const res = await this.withRetries(() => this.send(url, 'GET', headers, tokenCtx), tokenCtx);
      if (res.statusCode === 401 || res.statusCode === 403) {
        await res.body.dump().catch(() => undefined);
        throw this.unauthorized(ctx, res.statusCode, resolved);
      }
      if (res.statusCode !== 200) throw await this.statusError(res, tokenCtx);
      const body = await this.readCapped(res, 1 << 20, tokenCtx);
      let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
      try {
        doc = JSON.parse(body.toString('utf8')) as typeof doc;
      } catch {
        throw this.fail('SMOLVM_ERR_OCI_REGISTRY', `the token service of ${ctx.registry} answered with something that is not JSON`, ctx, 'The registry\'s token service is misconfigured.');
      }
      const value = typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
      if (!value || value.length > 64 << 10 || /[\r\n]/.test(value)) throw this.fail('SMOLVM_ERR_OCI_REGISTRY', `the token service of ${ctx.registry} sent no usable token`, ctx, 'The registry\'s token service is misconfigured.');
      const ttl = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? Math.min(doc.expires_in, 3600) : 60;
      this.tokens.set(`${ref.registry} ${this.scope(ref)}`, { value, expiresAt: Date.now() + (ttl - 5) * 1000 });
      return true;
    }
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (basic && creds?.username !== undefined) {
      // baseUrl() only picks plain http for loopback or `insecure` registries, so Basic never crosses an
      // untrusted network in clear text.
      this.basic.set(ref.registry, `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`);
      return true;
    }
    return false;
  }

  private unauthorized(ctx: Ctx, status: number, resolved: ResolvedCredentials | undefined): OciError {
    const who = resolved ? `the credentials from ${resolved.source}` : 'anonymous access';
    return this.fail(status === 403 ? 'SMOLVM_ERR_OCI_FORBIDDEN' : 'SMOLVM_ERR_OCI_UNAUTHORIZED',
      `registry ${ctx.registry} refused ${who} to ${ctx.image} (${status}): the repository does not exist, or it needs other credentials`, ctx,
      resolved
        ? `Check the user name and token for ${ctx.registry} in ${resolved.source}, and that they may pull this repository.`
        : `Check the image name. If it is private, log in (docker login ${ctx.registry}) or set SMOLVM_REGISTRY_AUTH='{"${ctx.registry}":"user:token"}'.`,
      { status });
  }

  /** Runs `fn` again after retryable network errors, within the retry count and time budget. */
  private async withRetries<T>(fn: () => Promise<T>, ctx: Ctx): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (e instanceof OciError) throw e;
        const code = errCode(e);
        const wait = this.backoffMs(attempt);
        if (this.opts.signal?.aborted || !code || !RETRY_CODES.has(code) || attempt >= this.retries || Date.now() - started + wait > this.retryBudgetMs) {
          throw this.networkError(e, ctx);
        }
        await sleep(wait, this.opts.signal);
      }
    }
  }

  /**
   * GET with authentication and retries. Returns the response for 2xx and for errors the caller maps
   * itself; retries 408/429/5xx and network errors; answers one 401 challenge per request.
   */
  private async get(ref: ImageReference, path: string, headers: Record<string, string>, ctx: Ctx): Promise<Dispatcher.ResponseData> {
    this.checkOpen();
    const url = new URL(path, this.baseUrl(ref.registry));
    let answered = false;
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      const h: Record<string, string> = { 'user-agent': this.opts.userAgent ?? 'smolvm-oci/0.1', ...headers };
      const auth = this.authHeader(ref);
      if (auth) h.authorization = auth;
      const res = await this.withRetries(() => this.send(url, 'GET', h, ctx), ctx);
      if (res.statusCode === 401 && !answered) {
        answered = true;
        const challenge = header(res, 'www-authenticate');
        await res.body.dump().catch(() => undefined);
        if (await this.authenticate(ref, challenge, ctx)) {
          attempt--;
          continue;
        }
        throw this.unauthorized(ctx, 401, this.credentialsFor(ref.registry));
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        await res.body.dump().catch(() => undefined);
        throw this.unauthorized(ctx, res.statusCode, this.credentialsFor(ref.registry));
      }
      if (RETRY_STATUS.has(res.statusCode)) {
        const wait = this.backoffMs(attempt, header(res, 'retry-after'));
        if (attempt < this.retries && Date.now() - started + wait <= this.retryBudgetMs && !this.opts.signal?.aborted) {
          await res.body.dump().catch(() => undefined);
          await sleep(wait, this.opts.signal);
          continue;
        }
      }
      return res;
    }
  }

  private async readCapped(res: Dispatcher.ResponseData, max: number, ctx: Ctx): Promise<Buffer> {
    const cl = Number(header(res, 'content-length'));
    if (Number.isFinite(cl) && cl > max) {
      res.body.destroy();
      throw this.fail('SMOLVM_ERR_OCI_TOO_LARGE', `the ${ctx.what} of ${ctx.image} is ${cl} bytes, over the limit of ${max}`, ctx,
        'Manifests and configs are small documents; this registry response is not one. If the image is genuine, raise the limit.');
    }
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res.body) {
        n += (c as Buffer).length;
        if (n > max) {
          res.body.destroy();
          throw this.fail('SMOLVM_ERR_OCI_TOO_LARGE', `the ${ctx.what} of ${ctx.image} is over the limit of ${max} bytes`, ctx,
            'Manifests and configs are small documents; this registry response is not one. If the image is genuine, raise the limit.');
        }
        chunks.push(c as Buffer);
      }
    } catch (e) {
      throw this.networkError(e, ctx);
    }
    return Buffer.concat(chunks);
  }

  /** Turns an unexpected status into a coded error that names the image, the registry and what to do. */
  private async statusError(res: Dispatcher.ResponseData, ctx: Ctx): Promise<OciError> {
    let detail = '';
    try {
      const body = await this.readCapped(res, 64 << 10, ctx);
      const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
      const first = doc.errors?.[0];
      if (first) detail = `: ${String(first.code ?? '').slice(0, 40)} ${String(first.message ?? '').slice(0, 200)}`.replace(/[\r\n]+/g, ' ');
    } catch {
      /* no structured error body */
    }
    const status = res.statusCode;
    if (status === 404) {
      if (ctx.kind === 'manifest') {
        return this.fail('SMOLVM_ERR_OCI_NOT_FOUND', `image ${ctx.image} not found on registry ${ctx.registry} (${ctx.what}: 404${detail})`, ctx,
          'Check the repository name and the tag or digest; list the tags the registry has (skopeo list-tags) if unsure.', { status });
      }
      return this.fail('SMOLVM_ERR_OCI_NOT_FOUND', `registry ${ctx.registry} does not have the ${ctx.what} of ${ctx.image} (404${detail})`, ctx,
        'The registry lists a blob it cannot serve; try again later, or report it to whoever runs the registry.', { status });
    }
    if (status === 429) {
      return this.fail('SMOLVM_ERR_OCI_RATE_LIMITED', `registry ${ctx.registry} is rate-limiting pulls of ${ctx.image} (429${detail})`, ctx,
        'Wait and pull again; logging in often raises the limit (Docker Hub limits anonymous pulls).', { status });
    }
    return this.fail('SMOLVM_ERR_OCI_REGISTRY', `registry ${ctx.registry} answered ${status} for the ${ctx.what} of ${ctx.image}${detail}`, ctx,
      status >= 500 ? 'The registry is failing; try again later.' : 'The registry refused the request; check the image reference.', { status });
  }

  /** Fetches a manifest or index by tag or digest; checks size, and the digest where one is known. */
  async fetchManifest(ref: ImageReference, reference: string): Promise<FetchedManifest> {
    const image = formatReference(ref);
    const pinned = reference.includes(':') ? reference : undefined;
    const ctx: Ctx = { image, registry: ref.registry, what: pinned ? `manifest ${shortDigest(pinned)}` : `manifest for tag ${reference}`, kind: 'manifest', ...(pinned ? { digest: pinned } : {}) };
    const res = await this.get(ref, `/v2/${ref.repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, ctx);
    if (res.statusCode !== 200) throw await this.statusError(res, ctx);
    const bytes = await this.readCapped(res, this.maxManifestBytes, ctx);
    const algorithm: DigestAlgorithm = pinned ? parseDigest(pinned).algorithm : 'sha256';
    const digest = `${algorithm}:${newHash(algorithm).update(bytes).digest('hex')}`;
    if (pinned && digest !== pinned) {
      throw this.fail('SMOLVM_ERR_OCI_DIGEST_MISMATCH', `registry ${ref.registry} served a manifest for ${image} that hashes to ${digest}, not the requested ${pinned}`, ctx,
        'The registry or something between it and you altered the manifest; nothing was cached. Do not use this registry until that is explained.');
    }
    const claimed = header(res, 'docker-content-digest');
    if (claimed && claimed.startsWith(`${algorithm}:`) && claimed !== digest) {
      throw this.fail('SMOLVM_ERR_OCI_DIGEST_MISMATCH', `registry ${ref.registry} says the manifest of ${image} is ${claimed}, but its content hashes to ${digest}`, ctx,
        'The manifest was altered or truncated in transit; nothing was cached. Try again; if it repeats, the registry is broken.');
    }
    return { bytes, digest, mediaType: header(res, 'content-type') ?? '' };
  }

  /** Downloads a blob into the cache (verified), resuming a partial download left by an earlier try. */
  async fetchBlob(ref: ImageReference, desc: Descriptor, store: BlobStore, opts: FetchBlobOptions = {}): Promise<'cached' | 'downloaded'> {
    const image = formatReference(ref);
    const ctx: Ctx = { image, registry: ref.registry, what: `blob ${shortDigest(desc.digest)}`, kind: 'blob', digest: desc.digest };
    if (opts.maxBytes !== undefined && desc.size > opts.maxBytes) {
      throw this.fail('SMOLVM_ERR_OCI_TOO_LARGE', `blob ${desc.digest} of ${image} is ${desc.size} bytes, over the limit of ${opts.maxBytes}`, ctx,
        'Configs are small documents; this one is not. If the image is genuine, raise the limit.');
    }
    if (await store.has(desc.digest, desc.size)) return 'cached';
    const partial = store.partialPath(desc.digest);
    await mkdir(dirname(partial), { recursive: true });
    const lock = await acquireLock(`${partial}.lock`, this.opts.signal ? { signal: this.opts.signal } : {});
    try {
      if (await store.has(desc.digest, desc.size)) return 'cached';
      const { algorithm } = parseDigest(desc.digest);
      const started = Date.now();
      for (let attempt = 0; ; attempt++) {
        const state = { offset: (await stat(partial).catch(() => undefined))?.size ?? 0, hash: newHash(algorithm) };
        if (state.offset > desc.size) {
          await truncate(partial, 0);
          state.offset = 0;
        }
        if (state.offset > 0) for await (const c of createReadStream(partial)) state.hash.update(c as Buffer);
        if (desc.size === 0) await writeFile(partial, '');
        if (state.offset < desc.size) {
          try {
            await this.downloadInto(ref, desc, partial, state, ctx, opts);
          } catch (e) {
            const wait = this.backoffMs(attempt);
            const retryable = e instanceof TransferInterrupted || (!(e instanceof OciError) && RETRY_CODES.has(errCode(e) ?? ''));
            if (!retryable) throw this.networkError(e, ctx);
            if (attempt >= this.retries || Date.now() - started + wait > this.retryBudgetMs || this.opts.signal?.aborted) {
              if (e instanceof TransferInterrupted && TIMEOUT_CODES.has(errCode(e.cause) ?? '')) throw this.networkError(e.cause, ctx);
              if (e instanceof TransferInterrupted) {
                throw this.fail('SMOLVM_ERR_OCI_SIZE_MISMATCH', `registry ${ref.registry} kept ending the ${ctx.what} of ${image} early (${e.message})`, ctx,
                  'The downloaded part is kept and resumes on the next pull; if it repeats, the registry or a proxy truncates responses.');
              }
              throw this.networkError(e, ctx);
            }
            await sleep(wait, this.opts.signal);
            continue;
          }
        }
        const got = `${algorithm}:${state.hash.digest('hex')}`;
        if (got !== desc.digest) {
          await rm(partial, { force: true });
          throw this.fail('SMOLVM_ERR_OCI_DIGEST_MISMATCH', `the ${ctx.what} of ${image} from ${ref.registry} hashes to ${got}, not ${desc.digest}`, ctx,
            'The registry served tampered or corrupt data; it was discarded and nothing was cached. Try again; if it repeats, do not use this registry.');
        }
        await store.commit(desc.digest, partial);
        return 'downloaded';
      }
    } finally {
      await lock.release();
    }
  }

  private async downloadInto(
    ref: ImageReference,
    desc: Descriptor,
    partial: string,
    state: { offset: number; hash: ReturnType<typeof newHash> },
    ctx: Ctx,
    opts: FetchBlobOptions,
  ): Promise<void> {
    const headers: Record<string, string> = { accept: '*/*' };
    if (state.offset > 0) headers.range = `bytes=${state.offset}-`;
    const res = await this.get(ref, `/v2/${ref.repository}/blobs/${desc.digest}`, headers, ctx);
    const restart = async (): Promise<void> => {
      await truncate(partial, 0).catch(() => undefined);
      state.offset = 0;
      state.hash = newHash(parseDigest(desc.digest).algorithm);
    };
    if (res.statusCode === 416) {
      await res.body.dump().catch(() => undefined);
      await restart();
      throw new TransferInterrupted('the registry refused to resume');
    }
    if (res.statusCode === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
      if (!m || Number(m[1]) !== state.offset) {
        await res.body.dump().catch(() => undefined);
        await restart();
        throw new TransferInterrupted('the registry resumed at the wrong offset');
      }
    } else if (res.statusCode === 200) {
      if (state.offset > 0) await restart();
    } else {
      throw await this.statusError(res, ctx);
    }
    const cl = Number(header(res, 'content-length'));
    if (Number.isFinite(cl) && state.offset + cl > desc.size) {
      res.body.destroy();
      throw this.fail('SMOLVM_ERR_OCI_SIZE_MISMATCH', `registry ${ref.registry} sends ${state.offset + cl} bytes for the ${ctx.what} of ${ctx.image}, but the manifest says ${desc.size}`, ctx,
        'The registry serves a blob that does not match the manifest; nothing was cached.');
    }
    const fh = await open(partial, state.offset === 0 ? 'w' : 'a', 0o600);
    let total = state.offset;
    try {
      for await (const chunk of res.body) {
        const c = chunk as Buffer;
        if (total + c.length > desc.size) {
          res.body.destroy();
          await fh.close().catch(() => undefined);
          await rm(partial, { force: true });
          throw this.fail('SMOLVM_ERR_OCI_SIZE_MISMATCH', `registry ${ref.registry} sent more than the ${desc.size} bytes the manifest says for the ${ctx.what} of ${ctx.image}`, ctx,
            'The registry serves a blob that does not match the manifest; nothing was cached.');
        }
        await fh.write(c);
        state.hash.update(c);
        total += c.length;
        state.offset = total;
        opts.onBytes?.(total);
      }
      await fh.sync();
    } catch (e) {
      if (e instanceof OciError) throw e;
      await fh.sync().catch(() => undefined);
      throw new TransferInterrupted(`${errCode(e) ?? 'stream error'} after ${total} of ${desc.size} bytes`, { cause: e });
    } finally {
      await fh.close().catch(() => undefined);
    }
    if (total < desc.size) throw new TransferInterrupted(`got ${total} of ${desc.size} bytes`);
  }

  /** Downloads a small blob (a config) into the cache and returns its bytes. */
  async fetchSmallBlob(ref: ImageReference, desc: Descriptor, store: BlobStore, maxBytes: number): Promise<Buffer> {
    await this.fetchBlob(ref, desc, store, { maxBytes });
    return store.read(desc.digest, maxBytes);
  }
}
