// Progress bars for image pulls and disk builds, drawn on stderr: one line per layer, then the disk
// build. Only on a terminal, and not with SMOLVM_QUIET; otherwise silent (scripts and logs stay clean).
import type { ImageProgressEvent } from '@smolvm/core';
import type { Io } from '../../program.js';

type Stderr = Io['stderr'] & { columns?: number };

export interface ProgressBars {
  /** Undefined when nothing is drawn (not a terminal, or quiet). */
  onProgress: ((event: ImageProgressEvent) => void) | undefined;
  /** Draws the final state; call once the image is ready or has failed. */
  done(): void;
}

const BAR_WIDTH = 24;
const REDRAW_MS = 100;

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function bar(fraction: number): string {
  const full = Math.max(0, Math.min(BAR_WIDTH, Math.round(fraction * BAR_WIDTH)));
  return `[${'='.repeat(full)}${full < BAR_WIDTH ? '>' : ''}${' '.repeat(Math.max(0, BAR_WIDTH - full - 1))}]`;
}

/** The lines for a set of events (pure, so tests can check it). */
export class ProgressModel {
  private readonly layers = new Map<number, { digest: string; bytes: number; total: number; state: string }>();
  private build: string | undefined;

  update(e: ImageProgressEvent): void {
    if (e.type === 'blob') {
      if (e.kind !== 'layer') return;
      this.layers.set(e.index, { digest: e.digest, bytes: e.bytes, total: e.totalBytes, state: e.state });
    } else if (e.type === 'apply') {
      this.build = `applying layer ${e.layer + 1}/${e.layers}`;
    } else if (e.type === 'disk') {
      this.build = e.state === 'building' ? 'building the root disk' : 'root disk ready';
    } else if (e.type === 'import') {
      this.build = e.state === 'reading' ? `reading ${e.path}` : `read ${e.path}`;
    }
  }

  lines(): string[] {
    const out: string[] = [];
    // The events do not say how many layers there are (downloads start a few at a time): no "of N".
    for (const [i, l] of [...this.layers].sort((a, b) => a[0] - b[0])) {
      const id = l.digest.replace(/^sha256:/, '').slice(0, 12);
      const label = `layer ${i + 1} ${id}`;
      if (l.state === 'cached') out.push(`${label}  already here (${mib(l.total)})`);
      else if (l.state === 'done') out.push(`${label}  ${bar(1)} ${mib(l.total)} done`);
      else out.push(`${label}  ${bar(l.total > 0 ? l.bytes / l.total : 0)} ${mib(l.bytes)} / ${mib(l.total)}`);
    }
    if (this.build) out.push(this.build);
    return out;
  }
}

export function progressBars(io: Io): ProgressBars {
  const err = io.stderr as Stderr;
  if (!err.isTTY || io.env.SMOLVM_QUIET) return { onProgress: undefined, done: () => {} };
  const model = new ProgressModel();
  let drawn = 0;
  let last = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = (): void => {
    timer = undefined;
    last = Date.now();
    const width = Math.max(20, (err.columns ?? 80) - 1);
    const lines = model.lines();
    // Back to the first line drawn last time, then rewrite every line (clearing what was there).
    let s = drawn > 0 ? `\x1b[${drawn}A\r` : '';
    for (const l of lines) s += `\x1b[2K${l.length > width ? l.slice(0, width) : l}\n`;
    drawn = lines.length;
    if (s) err.write(s);
  };
  return {
    onProgress: (e) => {
      model.update(e);
      if (timer) return;
      const wait = REDRAW_MS - (Date.now() - last);
      if (wait <= 0) draw();
      else timer = setTimeout(draw, wait);
    },
    done: () => {
      if (timer) clearTimeout(timer);
      draw();
    },
  };
}
