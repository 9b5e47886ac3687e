import { describe, expect, it } from 'vitest';
import { checkSmolfile, parseSmolfile, SmolfileError, type SmolfileProblem } from '../src/index.js';
import { INVALID, type Expected } from './corpus.js';

const MARK = '»';

/** Removes the » markers, returning the text and the 1-based position of each marker. */
function unmark(marked: string): { text: string; positions: { line: number; column: number }[] } {
  const positions: { line: number; column: number }[] = [];
  let text = '';
  let line = 1;
  let column = 1;
  for (const char of marked) {
    if (char === MARK) {
      positions.push({ line, column });
      continue;
    }
    text += char;
    if (char === '\n') {
      line++;
      column = 1;
    } else {
      column += char.length;
    }
  }
  return { text, positions };
}

function expectedProblems(expected: readonly Expected[], positions: readonly { line: number; column: number }[]): SmolfileProblem[] {
  return expected.map(([code, path, message, hint], index) => ({
    code: `SMOLVM_ERR_SMOLFILE_${code}`,
    path,
    line: positions[index]?.line ?? -1,
    column: positions[index]?.column ?? -1,
    message,
    ...(hint === undefined ? {} : { hint }),
  }));
}

describe('invalid Smolfiles', () => {
  it.each(INVALID.map((c) => [c.name, c] as const))('%s', (_name, testCase) => {
    const { text, positions } = unmark(testCase.toml);
    expect(positions).toHaveLength(testCase.problems.length);
    const result = checkSmolfile(text, { path: '/project/Smolfile' });
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual(expectedProblems(testCase.problems, positions));
  });

  it('parseSmolfile throws one coded error listing every problem as file:line:column', () => {
    const text = 'cpu = 2\nmemory = 16\n';
    const error = (() => {
      try {
        parseSmolfile(text, { path: './Smolfile' });
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(SmolfileError);
    const smolfileError = error as SmolfileError;
    expect(smolfileError.code).toBe('SMOLVM_ERR_SMOLFILE_INVALID');
    expect(smolfileError.file).toBe('./Smolfile');
    expect(smolfileError.problems.map((problem) => problem.code)).toEqual([
      'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY',
      'SMOLVM_ERR_SMOLFILE_RANGE',
    ]);
    expect(smolfileError.message).toBe(
      [
        './Smolfile is not valid (2 problems):',
        './Smolfile:1:1: cpu: unknown key',
        '    hint: did you mean "cpus"?',
        './Smolfile:2:10: memory: expected an integer number of MiB from 64 to 262144, got 16',
      ].join('\n'),
    );
    expect(smolfileError.hint).toMatch(/docs\/smolfile\.md/);
  });

  it('names the file "Smolfile" when no path is given', () => {
    expect(() => parseSmolfile('cpus = 0')).toThrow(
      'Smolfile is not valid (1 problem):\nSmolfile:1:8: cpus: expected an integer number of CPUs from 1 to 64, got 0',
    );
  });

  it('lists at most 50 problems in the message but keeps all of them', () => {
    const text = Array.from({ length: 60 }, (_, i) => `unknown_${i} = 1`).join('\n');
    const result = checkSmolfile(text);
    expect(result.problems).toHaveLength(60);
    try {
      parseSmolfile(text);
      expect.unreachable();
    } catch (error) {
      const message = (error as SmolfileError).message;
      expect(message).toContain('Smolfile:50:1: unknown_49: unknown key');
      expect(message).not.toContain('unknown_50:');
      expect(message).toContain('... and 10 more');
      expect((error as SmolfileError).problems).toHaveLength(60);
    }
  });

  it('answers a non-string with a coded problem', () => {
    expect(checkSmolfile(Buffer.from('cpus = 1') as unknown as string).problems).toEqual([
      {
        code: 'SMOLVM_ERR_SMOLFILE_TYPE',
        path: '',
        line: 1,
        column: 1,
        message: "expected the Smolfile's text as a string, got a table",
        hint: 'decode the file first, or use loadSmolfile(path)',
      },
    ]);
    expect(() => parseSmolfile(42 as unknown as string)).toThrow(/got an integer/);
  });

  it('refuses a file over the size cap before parsing it', () => {
    const text = `# ${'x'.repeat(1024 * 1024)}\n`;
    expect(checkSmolfile(text).problems).toEqual([
      {
        code: 'SMOLVM_ERR_SMOLFILE_TOO_LARGE',
        path: '',
        line: 1,
        column: 1,
        message: `the file is ${text.length} bytes; a Smolfile may be at most 1048576 bytes`,
        hint: 'a Smolfile declares a machine; put data and scripts in files on a volume instead',
      },
    ]);
  });

  it('measures the size cap in UTF-8 bytes', () => {
    const text = `# ${'é'.repeat(524_288)}\n`;
    expect(checkSmolfile(text).problems[0]?.code).toBe('SMOLVM_ERR_SMOLFILE_TOO_LARGE');
    expect(checkSmolfile(`# ${'é'.repeat(524_280)}\n`).ok).toBe(true);
  });

  it('nests no deeper than the TOML depth cap', () => {
    const deep = `cmd = ${'['.repeat(40)}${']'.repeat(40)}`;
    expect(checkSmolfile(deep).problems[0]?.code).toBe('SMOLVM_ERR_SMOLFILE_SYNTAX');
  });

  it('covers every problem code a Smolfile can produce', () => {
    const covered = new Set(INVALID.flatMap((c) => c.problems.map(([code]) => code)));
    covered.add('TOO_LARGE');
    expect([...covered].sort()).toEqual(
      ['CONFLICT', 'DUPLICATE', 'FORMAT', 'MISSING_KEY', 'RANGE', 'SYNTAX', 'TOO_LARGE', 'TYPE', 'UNKNOWN_KEY'],
    );
  });

  it('never repeats env values or secret values in messages', () => {
    const text = [
      'env = ["ghp_tokenvalue1234", "A=ghp_othervalue5678", "A=ghp_othervalue5678"]',
      '[secrets]',
      'X = "ghp_inlinesecret9999"',
      'Y = ["ghp_listsecret0000"]',
    ].join('\n');
    const result = checkSmolfile(text);
    expect(result.problems.length).toBeGreaterThanOrEqual(3);
    for (const problem of result.problems) {
      expect(`${problem.message} ${problem.hint ?? ''}`).not.toMatch(/ghp_/);
    }
  });
});
