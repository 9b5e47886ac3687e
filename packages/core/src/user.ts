import { ErrorCode, SmolvmError } from './errors.js';
import type { MachineFiles } from './files.js';

const invalid = (user: string | number, why: string): SmolvmError =>
  new SmolvmError(ErrorCode.INVALID_OPTION, `user ${JSON.stringify(user)}: ${why}`, {
    hint: 'Use a numeric uid[:gid], or a name from the guest image\'s /etc/passwd (name[:group]).',
  });

async function lookup(files: MachineFiles, file: string, name: string): Promise<string[] | undefined> {
  let text: string;
  try {
    text = (await files.read(file, { maxBytes: 4 * 1024 * 1024 })).toString('utf8');
  } catch {
    return undefined;
  }
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === name);
}

/** Resolves `uid`, `uid:gid`, `name` or `name:group` against the guest's /etc/passwd and /etc/group. */
export async function resolveUser(files: MachineFiles, user: string | number): Promise<{ uid: number; gid: number }> {
  const [u, g] = String(user).split(':', 2) as [string, string | undefined];
  const isNum = (s: string): boolean => /^\d+$/.test(s) && Number(s) <= 0xfffffffe;
  let uid: number;
  let gid: number | undefined;
  if (isNum(u)) {
    uid = Number(u);
  } else if (/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(u)) {
    const entry = await lookup(files, '/etc/passwd', u);
    if (!entry || !isNum(entry[2] ?? '') || !isNum(entry[3] ?? '')) throw invalid(user, `no user named ${u} in the guest's /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  } else {
    throw invalid(user, 'not a user id or name');
  }
  if (g !== undefined) {
    if (isNum(g)) gid = Number(g);
    else {
      const entry = await lookup(files, '/etc/group', g);
      if (!entry || !isNum(entry[2] ?? '')) throw invalid(user, `no group named ${g} in the guest's /etc/group`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}
