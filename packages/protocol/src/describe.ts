import type { Frame } from './frame.js';

/** Canonical string form of bytes, as SPEC.md defines it for test vectors. */
export function describeBytes(b: Buffer): string {
  let s = '"';
  for (const c of b) {
    if (c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c) s += String.fromCharCode(c);
    else s += `\\u00${c.toString(16).padStart(2, '0')}`;
  }
  return s + '"';
}

const list = (items: Buffer[]): string => `[${items.map(describeBytes).join(',')}]`;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Canonical description of a frame (SPEC.md, "Test vectors"). */
export function describeFrame(f: Frame): string {
  const head = `${f.type} stream=${f.stream}`;
  switch (f.type) {
    case 'HELLO':
      return `${head} min_version=${f.minVersion} max_version=${f.maxVersion} capabilities=${hex(f.capabilities)}`;
    case 'HELLO_ACK':
      return `${head} version=${f.version} capabilities=${hex(f.capabilities)} agent=${describeBytes(f.agent)}`;
    case 'PING':
    case 'PONG':
      return `${head} nonce=${f.nonce}`;
    case 'SHUTDOWN':
      return head;
    case 'EXEC':
      return (
        `${head} flags=${hex(f.flags)} uid=${f.uid} gid=${f.gid} rows=${f.rows} cols=${f.cols} window=${f.window}` +
        ` argv=${list(f.argv)} env=${list(f.env)} cwd=${describeBytes(f.cwd)}`
      );
    case 'STDIN':
    case 'STDOUT':
    case 'STDERR':
      return `${head} fin=${f.fin ? 1 : 0} data=${describeBytes(f.data)}`;
    case 'WINDOW':
      return `${head} fd=${f.fd} increment=${f.increment}`;
    case 'SIGNAL':
      return `${head} signo=${f.signo}`;
    case 'RESIZE':
      return `${head} rows=${f.rows} cols=${f.cols}`;
    case 'EXIT':
      return `${head} exit_code=${f.exitCode} signal=${f.signal} exec_errno=${f.execErrno}`;
    case 'ERROR':
      return `${head} code=${f.code} message=${describeBytes(f.message)}`;
    case 'FS_WRITE':
    case 'FS_MKDIR':
      return `${head} mode=${f.mode} flags=${hex(f.flags)} path=${describeBytes(f.path)}`;
    case 'FS_READ':
      return `${head} window=${f.window} path=${describeBytes(f.path)}`;
    case 'FS_STAT':
    case 'FS_LIST':
      return `${head} path=${describeBytes(f.path)}`;
    case 'FS_REMOVE':
      return `${head} flags=${hex(f.flags)} path=${describeBytes(f.path)}`;
    case 'TCP_CONNECT':
      return `${head} window=${f.window} port=${f.port}`;
    case 'FS_DONE':
      return `${head} errno=${f.errno} message=${describeBytes(f.message)}`;
    case 'FS_ENTRY':
      return (
        `${head} kind=${f.kind} mode=${f.mode} uid=${f.uid} gid=${f.gid} size=${f.size} mtime=${f.mtime}` +
        ` name=${describeBytes(f.name)} target=${describeBytes(f.target)}`
      );
  }
}
