// macOS: the process that runs a libkrun VM calls Hypervisor.framework, which refuses (HV_DENIED) a
// process whose executable lacks the `com.apple.security.hypervisor` entitlement. The runner is a Node
// script, and Node's own binary does not carry that entitlement. So on macOS the runner is started with a
// copy of this Node binary, ad-hoc signed with the entitlement (`codesign --sign -`: no developer identity
// is needed for an entitlement the hypervisor checks locally), made once per Node binary and kept in the
// cache directory. Elsewhere the runner uses Node as it is.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

const ENTITLEMENTS_PLIST = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>${HYPERVISOR_ENTITLEMENT}</key>
  <true/>
</dict>
</plist>
`;

function codesignError(what: string, stderr: string, cause?: unknown): KrunError {
  return new KrunError('SMOLVM_ERR_KRUN_RUNNER_UNSIGNED', `cannot prepare a Node binary with the ${HYPERVISOR_ENTITLEMENT} entitlement for the libkrun runner: ${what}${stderr ? `: ${stderr.trim().slice(-500)}` : ''}`, {
    hint: `codesign comes with the Xcode command line tools (xcode-select --install). Or point ${SMOLVM_KRUN_NODE_ENV} at a Node binary signed with that entitlement, or use the QEMU engine (SMOLVM_ENGINE=qemu).`,
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** Whether `path` is signed with the hypervisor entitlement, as `codesign -d --entitlements` reports it. */
export function hasHypervisorEntitlement(path: string, codesign = '/usr/bin/codesign'): boolean {
  const r = spawnSync(codesign, ['-d', '--entitlements', '-', '--xml', path], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 && `${r.stdout}${r.stderr}`.includes(HYPERVISOR_ENTITLEMENT);
}

/**
 * The Node binary the libkrun runner must be started with. Not on macOS: `nodePath` itself. On macOS:
 * `SMOLVM_KRUN_NODE` when set; `nodePath` when it already has the entitlement; else a copy of it, ad-hoc
 * signed with the entitlement, made once (keyed by the binary's path, size and modification time) in a
 * temporary file renamed into place, so concurrent callers never see a half-made one. Throws
 * `SMOLVM_ERR_KRUN_RUNNER_UNSIGNED` when it cannot be made.
 */
export function hypervisorNode(options: HypervisorNodeOptions): string {
  const platform = options.platform ?? process.platform;
  const nodePath = options.nodePath ?? process.execPath;
  if (platform !== 'darwin') return nodePath;
  const given = (options.env ?? process.env)[SMOLVM_KRUN_NODE_ENV];
  if (given) return given;
  const codesign = options.codesign ?? '/usr/bin/codesign';
  if (!existsSync(codesign)) throw codesignError(`${codesign} is missing`, '');
  if (hasHypervisorEntitlement(nodePath, codesign)) return nodePath;

  const st = statSync(nodePath);
  const key = createHash('sha256').update(`${nodePath}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
  const dir = join(options.cacheDir, 'krun-node', key);
  const target = join(dir, 'node');
  if (existsSync(target) && hasHypervisorEntitlement(target, codesign)) return target;

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.node-${process.pid}-${randomBytes(4).toString('hex')}`);
  const plist = `${tmp}.entitlements.plist`;
  try {
    copyFileSync(nodePath, tmp);
    chmodSync(tmp, 0o755);
    writeFileSync(plist, ENTITLEMENTS_PLIST, { mode: 0o600 });
    const r = spawnSync(codesign, ['--sign', '-', '--force', '--entitlements', plist, tmp], { encoding: 'utf8', timeout: 120_000 });
    if (r.error) throw codesignError(`${codesign} did not run`, '', r.error);
    if (r.status !== 0) throw codesignError(`${codesign} exited with status ${r.status}`, r.stderr ?? '');
    if (!hasHypervisorEntitlement(tmp, codesign)) throw codesignError('the signed copy does not show the entitlement', '');
    renameSync(tmp, target);
    return target;
  } finally {
    rmSync(tmp, { force: true });
    rmSync(plist, { force: true });
  }
}
