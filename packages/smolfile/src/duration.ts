// Durations as written in a Smolfile: whole numbers with units, largest unit first ("10s", "5m", "1h30m", "250ms").
import { formatError, ok, quote, rangeError, unwrap, type SpecResult } from './spec-result.js';

const UNITS = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
] as const;

const PART = /(\d+)(ms|h|m|s)/y;
const MAX_DURATION_TEXT = 32;

export const DURATION_FORM = 'a duration such as "10s", "5m" or "1h30m" (units h, m, s, ms)';

/** Parses a duration into milliseconds, or says why it is not one. */
export function tryParseDuration(text: string): SpecResult<number> {
  if (typeof text !== 'string') return formatError(`expected ${DURATION_FORM}`);
  const shown = quote(text);
  if (text.length === 0) return formatError(`empty duration; expected ${DURATION_FORM}`);
  if (text.length > MAX_DURATION_TEXT) return formatError(`duration ${shown} is too long; expected ${DURATION_FORM}`);
  if (/^\d+$/.test(text)) {
    return formatError(`duration ${shown} has no unit`, `write "${text}s" for seconds or "${text}ms" for milliseconds`);
  }
  let total = 0;
  let position = 0;
  let lastUnit = -1;
  while (position < text.length) {
    PART.lastIndex = position;
    const match = PART.exec(text);
    if (match === null) {
      const hint = /\d[.,]\d/.test(text) ? 'fractions are not accepted; use a smaller unit, e.g. "1500ms" for 1.5s' : undefined;
      return formatError(`invalid duration ${shown}; expected ${DURATION_FORM}`, hint);
    }
    const unitIndex = UNITS.findIndex(([unit]) => unit === match[2]);
    if (unitIndex <= lastUnit) {
      return formatError(`invalid duration ${shown}: each unit may appear once, largest first (h, m, s, ms)`);
    }
    lastUnit = unitIndex;
    total += Number(match[1]) * (UNITS[unitIndex]?.[1] ?? 1);
    position = PART.lastIndex;
  }
  if (!Number.isSafeInteger(total)) return rangeError(`duration ${shown} is too long to represent`);
  return ok(total);
}

/**
 * Parses a duration such as `"10s"`, `"5m"`, `"1h30m"` or `"250ms"` into milliseconds.
 * Throws a `SmolfileError` (`SMOLVM_ERR_SMOLFILE_FORMAT` or `..._RANGE`) for anything else.
 */
export function parseDuration(text: string): number {
  return unwrap(tryParseDuration(text));
}

/** Writes milliseconds the way a Smolfile would: `90000` becomes `"1m30s"`, `0` becomes `"0s"`. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) return `${ms}ms`;
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}

/** Parses a duration and checks it lies within `[minMs, maxMs]`. */
export function tryParseDurationWithin(text: string, minMs: number, maxMs: number): SpecResult<number> {
  const parsed = tryParseDuration(text);
  if (!parsed.ok) return parsed;
  if (parsed.value < minMs || parsed.value > maxMs) {
    return rangeError(
      `duration ${quote(text)} is out of range; expected between ${formatDuration(minMs)} and ${formatDuration(maxMs)}`,
    );
  }
  return parsed;
}
