// macOS: the process that runs a libkrun VM calls Hypervisor.framework, which refuses (HV_DENIED) a
// process whose executable lacks the `com.apple.security.hypervisor` entitlement. The runner is a Node
// script, and Node's own binary does not carry that entitlement. So on macOS the runner is started with a
// copy of this Node binary, ad-hoc signed with the entitlement (`codesign --sign -`: no developer identity
// is needed for an entitlement the hypervisor checks locally), made once per Node binary and kept in the
// cache directory. Elsewhere the runner uses Node as it is.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KrunError } from './errors.js';

export const HYPERVISOR_ENTITLEMENT = 'com.apple.security.hypervisor';
/** Names a Node binary that already has the entitlement; used as it is, never copied or signed. */
export const SMOLVM_KRUN_NODE_ENV = 'SMOLVM_KRUN_NODE';

export interface HypervisorNodeOptions {
  /** Default `process.platform`. Only `darwin` needs a signed binary. */
  platform?: NodeJS.Platform;
  /** The Node binary to start the runner with. Default `process.execPath`. */
  nodePath?: string;
  /** Where the signed copy is kept (`<cacheDir>/krun-node/<key>/node`). */
  cacheDir: string;
  /** The `codesign` program. Default `/usr/bin/codesign`. */
  codesign?: string;
  env?: NodeJS.ProcessEnv;
}

const PLIST_HEAD = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
`;
const HYPERVISOR_KEY = `  <key>${HYPERVISOR_ENTITLEMENT}</key>\n  <true/>\n`;
/** Temporary copies older than this are left by a process that died mid-way, and are removed. */
const STALE_TMP_MS = 10 * 60_000;

function codesignError(what: string, stderr: string, cause?: unknown): KrunError {
  return new KrunError('SMOLVM_ERR_KRUN_RUNNER_UNSIGNED', `cannot prepare a Node binary with the ${HYPERVISOR_ENTITLEMENT} entitlement for the libkrun runner: ${what}${stderr ? `: ${stderr.trim().slice(-500)}` : ''}`, {
    hint: `codesign comes with the Xcode command line tools (xcode-select --install). Or point ${SMOLVM_KRUN_NODE_ENV} at a Node binary signed with that entitlement, or use the QEMU engine (SMOLVM_ENGINE=qemu).`,
    ...(cause !== undefined ? { cause } : {}),
  });
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      const status = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : null) : 0;
      resolve({ status, stdout, stderr, ...(error && status === null ? { error } : {}) });
    });
  });
}

/** The entitlements `path` is signed with, as `codesign -d --entitlements - --xml` prints them; undefined when it has none. */
async function entitlementsOf(path: string, codesign: string): Promise<string | undefined> {
  const r = await run(codesign, ['-d', '--entitlements', '-', '--xml', path], 30_000);
  return r.status === 0 && r.stdout.includes('<dict') ? r.stdout : undefined;
}

/** Whether `path` is signed with the hypervisor entitlement. */
export async function hasHypervisorEntitlement(path: string, codesign = '/usr/bin/codesign'): Promise<boolean> {
  return (await entitlementsOf(path, codesign))?.includes(`<key>${HYPERVISOR_ENTITLEMENT}</key>`) ?? false;
}

/**
 * The entitlements to sign the copy with: Node's own (JIT and library-loading ones, where its build has
 * them) plus the hypervisor's. A plist dictionary is edited as text: the key goes before the last `</dict>`.
 */
function withHypervisor(existing: string | undefined): string {
  const at = existing?.lastIndexOf('</dict>') ?? -1;
  if (existing === undefined || at < 0) return `${PLIST_HEAD}<dict>\n${HYPERVISOR_KEY}</dict>\n</plist>\n`;
  const body = existing.slice(existing.indexOf('<dict'));
  const end = body.lastIndexOf('</dict>');
  return `${PLIST_HEAD}${body.slice(0, end)}${HYPERVISOR_KEY}</dict>\n</plist>\n`;
}

async function removeStaleTemporaries(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.startsWith('.node-'))) {
    // `.node-<pid>-<random>[.entitlements.plist]`: only a dead process's copy, and an old one, is stale.
    const pid = Number(/^\.node-(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) continue;
    const p = join(dir, name);
    const st = await stat(p).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > STALE_TMP_MS) await rm(p, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const made = new Map<string, Promise<string>>();

/**
 * The Node binary the libkrun runner must be started with. Not on macOS: `nodePath` itself. On macOS:
 * `SMOLVM_KRUN_NODE` when set; `nodePath` when it already has the entitlement; else a copy of it signed
 * ad hoc with its own entitlements plus the hypervisor's, made once (keyed by the binary's path, size and
 * modification time; looked up once per process) in a temporary file that is checked and then renamed
 * into place, so concurrent callers never see a half-made one. Throws `SMOLVM_ERR_KRUN_RUNNER_UNSIGNED`
 * when it cannot be made.
 */
export function hypervisorNode(options: HypervisorNodeOptions): Promise<string> {
  const platform = options.platform ?? process.platform;
  const nodePath = options.nodePath ?? process.execPath;
  if (platform !== 'darwin') return Promise.resolve(nodePath);
  const given = (options.env ?? process.env)[SMOLVM_KRUN_NODE_ENV];
  if (given) return Promise.resolve(given);
  const codesign = options.codesign ?? '/usr/bin/codesign';
  const key = `${nodePath}\0${options.cacheDir}\0${codesign}`;
  const earlier = made.get(key);
  // A copy made earlier in this process that has since been removed (a cleared cache) is made again.
  const p = earlier
    ? earlier.then((path) => (existsSync(path) ? path : signedCopy(nodePath, options.cacheDir, codesign)))
    : signedCopy(nodePath, options.cacheDir, codesign);
  made.set(key, p);
  p.catch(() => made.delete(key)); // a failure is tried again next time
  return p;
}

async function signedCopy(nodePath: string, cacheDir: string, codesign: string): Promise<string> {
  if (!existsSync(codesign)) throw codesignError(`${codesign} is missing`, '');
  const own = await entitlementsOf(nodePath, codesign);
  if (own?.includes(`<key>${HYPERVISOR_ENTITLEMENT}</key>`)) return nodePath;

  const st = statSync(nodePath);
  const key = createHash('sha256').update(`${nodePath}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'krun-node', key);
  const target = join(dir, 'node');
  if (existsSync(target) && (await hasHypervisorEntitlement(target, codesign))) return target;

  await mkdir(dir, { recursive: true, mode: 0o700 });
  await removeStaleTemporaries(dir);
  const tmp = join(dir, `.node-${process.pid}-${randomBytes(4).toString('hex')}`);
  const plist = `${tmp}.entitlements.plist`;
  try {
    await copyFile(nodePath, tmp);
    // copyFile keeps the source's times on macOS; a fresh mtime keeps the copy from looking stale.
    const now = new Date();
    await utimes(tmp, now, now);
    await chmod(tmp, 0o755);
    await writeFile(plist, withHypervisor(own), { mode: 0o600 });
    const r = await run(codesign, ['--sign', '-', '--force', '--entitlements', plist, tmp], 120_000);
    if (r.error) throw codesignError(`${codesign} did not run`, '', r.error);
    if (r.status !== 0) throw codesignError(`${codesign} exited with status ${r.status}`, r.stderr);
    if (!(await hasHypervisorEntitlement(tmp, codesign))) throw codesignError('the signed copy does not show the entitlement', '');
    await rename(tmp, target);
    return target;
  } finally {
    await rm(tmp, { force: true });
    await rm(plist, { force: true });
  }
}
