// A stand-in for @smolvm/krun's runner, for the libkrun engine's lifecycle tests. It is started the
// same way (`node krun-standin-runner.mjs --spec-fd 3`) and reads and validates the same JSON spec,
// but instead of entering a VM it plays the guest: it connects to the unix socket of the spec's vsock
// port, as libkrun does when the agent connects to that port, and serves the connection with the real
// agent built for the host (`smolvm-agent-host --fd 3`). It exits with the agent's status, as libkrun
// ends its process when the guest stops. Nothing here is libkrun or a VM.
//
// Environment: STANDIN_AGENT (the host agent; "root" runs the program the spec names inside its root
// directory instead, as libkrun's init does on libkrunfw's kernel), STANDIN_PIDFILE (where to write this pid),
// STANDIN_MODE: "agent" (default), "hang" (never connect), "connect-close" (connect, then exit 0
// before the handshake).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { validateKrunVmSpec } from '@smolvm/krun';

const chunks = [];
// The spec pipe is a socket pair (and may be non-blocking): read it as a socket.
for await (const chunk of new Socket({ fd: Number(process.argv[process.argv.indexOf('--spec-fd') + 1]), readable: true, writable: false })) {
  chunks.push(chunk);
}
const spec = validateKrunVmSpec(JSON.parse(Buffer.concat(chunks).toString('utf8')));
if (process.env.STANDIN_PIDFILE) writeFileSync(process.env.STANDIN_PIDFILE, String(process.pid));

const mode = process.env.STANDIN_MODE ?? 'agent';
const port = spec.vsockPorts?.find((p) => !p.listen);
if (!port) {
  process.stderr.write('stand-in: the spec has no vsock port for the agent\n');
  process.exit(2);
}

if (mode === 'hang') {
  setInterval(() => {}, 1 << 30);
} else {
  const sock = new Socket();
  // Paused before it connects: every byte on this connection is for the agent, not for this process.
  sock.pause();
  sock.connect(port.path, () => {
    if (mode === 'connect-close') process.exit(0);
    const program = process.env.STANDIN_AGENT === 'root' ? join(spec.rootDir, spec.exec.path) : process.env.STANDIN_AGENT;
    const agent = spawn(program, ['--fd', '3'], { stdio: ['ignore', 'inherit', 'inherit', sock] });
    // The agent holds its own copy of the connection now.
    agent.once('spawn', () => sock.destroy());
    agent.once('error', (e) => {
      process.stderr.write(`stand-in: cannot start the agent: ${e.message}\n`);
      process.exit(2);
    });
    agent.once('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
  });
  sock.once('error', (e) => {
    process.stderr.write(`stand-in: cannot connect to ${port.path}: ${e.message}\n`);
    process.exit(2);
  });
}
