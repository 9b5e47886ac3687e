#!/usr/bin/env node
// The runner: one process, one VM. Reads a KrunVmSpec as JSON (from the fd named by --spec-fd, else
// stdin), loads libkrun, applies the spec and enters the VM; libkrun then ends this process with the
// workload's exit status. Any failure before that: one JSON line {"error":{...}} on stderr and exit
// status 70. Nothing else is written by the runner itself.
import { closeSync, readSync } from 'node:fs';
import { isKrunError, KrunError, type KrunErrorJson } from './errors.js';
import { loadKrun } from './loader.js';
import { runVm, validateKrunVmSpec } from './runner.js';
import { formatRunnerError, RUNNER_EXIT_SETUP_FAILED } from './runner-protocol.js';

function specFd(args: readonly string[]): number {
  const i = args.indexOf('--spec-fd');
  if (i === -1) return 0;
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value < 0) {
    throw new KrunError(
      'SMOLVM_ERR_KRUN_SPEC_UNREADABLE',
      `--spec-fd needs a file descriptor number, got ${String(args[i + 1])}.`,
    );
  }
  return value;
}

/** The most spec the runner reads: a spec is a few kilobytes, so anything near this is a mistake. */
const MAX_SPEC_BYTES = 4 * 1024 * 1024;
/** How long the runner waits for the engine to write and close the spec pipe. */
const SPEC_WAIT_MS = 30_000;

// Reads fd to EOF synchronously. A pipe handed over by another process may be non-blocking, which
// makes readSync fail with EAGAIN while the writer is still writing: wait a little and retry.
function readAll(fd: number): string {
  const chunks: Buffer[] = [];
  let total = 0;
  const deadline = Date.now() + SPEC_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, 5);
      continue;
    }
    if (n === 0) break;
    total += n;
    if (total > MAX_SPEC_BYTES) throw new Error(`the spec is larger than ${MAX_SPEC_BYTES} bytes`);
    chunks.push(chunk.subarray(0, n));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function readSpec(fd: number): unknown {
  let text: string;
  try {
    text = readAll(fd);
    // The VM inherits this process's descriptors: do not leave the spec pipe open in it.
    if (fd > 2) closeSync(fd);
  } catch (cause) {
    const message = `The runner could not read its spec from fd ${fd}: ${(cause as Error).message}`;
    throw new KrunError('SMOLVM_ERR_KRUN_SPEC_UNREADABLE', message, {
      cause,
      hint: 'Pass an open pipe with --spec-fd N, or write the spec to stdin.',
    });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    const message = `The runner's spec is not valid JSON: ${(cause as Error).message}`;
    throw new KrunError('SMOLVM_ERR_KRUN_SPEC_UNREADABLE', message, { cause });
  }
}

function report(err: unknown): KrunErrorJson {
  if (isKrunError(err)) return err.toJSON();
  return {
    code: 'SMOLVM_ERR_KRUN_INTERNAL',
    message: `The runner failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`,
  };
}

try {
  const spec = validateKrunVmSpec(readSpec(specFd(process.argv.slice(2))));
  runVm(spec, loadKrun());
} catch (err) {
  process.stderr.write(`${formatRunnerError(report(err))}\n`);
  process.exitCode = RUNNER_EXIT_SETUP_FAILED;
}
