import { describe, expect, it } from 'vitest';
import { SourceLocator, type PathSegment } from '../src/locate.js';

/** Where `needle` (the n-th occurrence) starts in `text`, as 1-based line and column. */
function at(text: string, needle: string, occurrence = 1): { line: number; column: number } {
  let index = -1;
  for (let i = 0; i < occurrence; i++) index = text.indexOf(needle, index + 1);
  if (index < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return { line, column: index - before.lastIndexOf('\n') };
}

describe('SourceLocator', () => {
  const cases: [string, string, readonly PathSegment[], 'key' | 'value', string, number?][] = [
    ['a simple key', 'image = "a"\ncpus = 2\n', ['cpus'], 'key', 'cpus'],
    ['a simple value', 'image = "a"\ncpus = 2\n', ['cpus'], 'value', '2'],
    ['a key in a table', '[health]\nexec = "x"\ninterval = "5s"\n', ['health', 'interval'], 'key', 'interval'],
    ['a value in a table', '[health]\nexec = "x"\ninterval = "5s"\n', ['health', 'interval'], 'value', '"5s"'],
    ['a dotted key', 'health.exec = "x"\nhealth.interval = "5s"\n', ['health', 'interval'], 'key', 'interval'],
    ['a dotted key with spaces', 'health . interval = "5s"\n', ['health', 'interval'], 'key', 'interval'],
    ['a dotted table header', '[a.b]\nc = 1\n', ['a', 'b', 'c'], 'value', '1'],
    ['the table of a dotted key', 'health.exec = "x"\n', ['health'], 'key', 'health'],
    ['a table header', 'cpus = 1\n[network]\nallow_hosts = []\n', ['network'], 'value', '[network]'],
    ['a table header key', 'cpus = 1\n[network]\n', ['network'], 'key', 'network'],
    ['an array element', 'ports = ["1:1", "2:2", "3:3"]\n', ['ports', 2], 'value', '"3:3"'],
    ['an element of a multi-line array', 'ports = [\n  "1:1", # one\n  # two\n  "2:2",\n]\n', ['ports', 1], 'value', '"2:2"'],
    ['an inline table key', 'secrets = { A = { from_env = "X" } }\n', ['secrets', 'A', 'from_env'], 'key', 'from_env'],
    ['an inline table value', 'secrets = { A = { from_env = "X" } }\n', ['secrets', 'A', 'from_env'], 'value', '"X"'],
    ['a quoted key', '[secrets]\n"my key" = 1\n', ['secrets', 'my key'], 'key', '"my key"'],
    ['a quoted key with escapes', '[secrets]\n"a\\"b" = 1\n', ['secrets', 'a"b'], 'key', '"a\\"b"'],
    ['a literal quoted key', "[secrets]\n'a.b' = 1\n", ['secrets', 'a.b'], 'key', "'a.b'"],
    ['a key after strings holding brackets and hashes', 'a = "[x] # = ]"\nb = \'[[y]]\'\nc = 1\n', ['c'], 'key', 'c'],
    ['a key after a multi-line string', 'a = """\n[fake]\nb = 2\n"""\nb = 3\n', ['b'], 'key', 'b', 2],
    ['a key after a multi-line literal string', "a = '''\n[fake]\n'''\nz = 3\n", ['z'], 'key', 'z'],
    ['a key after a string ending in quotes', 'a = """x""""\nz = 3\n', ['z'], 'key', 'z'],
    ['a nested array element', 'cmd = [["a", "b"], ["c", "d"]]\n', ['cmd', 1, 1], 'value', '"d"'],
    ['an array of tables', '[[x]]\na = 1\n[[x]]\na = 2\n', ['x', 1, 'a'], 'value', '2'],
    ['the first array-of-tables header', 'cpus = 1\n[[x]]\na = 1\n', ['x'], 'value', '[[x]]'],
    ['a key on a CRLF line', 'cpus = 1\r\nmemory = 2\r\n', ['memory'], 'key', 'memory'],
    ['a date value', 'a = 1979-05-27T07:32:00Z\nb = 1\n', ['b'], 'value', '1', 2],
  ];

  it.each(cases)('finds %s', (_name, text, path, prefer, needle, occurrence = 1) => {
    expect(new SourceLocator(text).locate(path, prefer)).toEqual(at(text, needle, occurrence));
  });

  it('falls back to the enclosing key, then the start of the file', () => {
    const text = 'cpus = 1\n[health]\ninterval = "5s"\n';
    const locator = new SourceLocator(text);
    expect(locator.locate(['health', 'exec'], 'key')).toEqual(at(text, 'health'));
    expect(locator.locate(['nothing', 'here'])).toEqual({ line: 1, column: 1 });
    expect(locator.locate([])).toEqual({ line: 1, column: 1 });
  });

  it('prefers a value, falling back to its key', () => {
    const locator = new SourceLocator('[health]\nexec = "x"\n');
    expect(locator.locate(['health'], 'value')).toEqual({ line: 1, column: 1 });
    expect(locator.locate(['health'], 'key')).toEqual({ line: 1, column: 2 });
  });

  it('counts columns in UTF-16 code units', () => {
    const text = 'env = ["é=1", "😀", "x"]';
    expect(new SourceLocator(text).locate(['env', 2])).toEqual({ line: 1, column: text.indexOf('"x"') + 1 });
  });

  it('turns offsets into positions', () => {
    const locator = new SourceLocator('ab\ncd\n\nef');
    expect(locator.position(0)).toEqual({ line: 1, column: 1 });
    expect(locator.position(3)).toEqual({ line: 2, column: 1 });
    expect(locator.position(4)).toEqual({ line: 2, column: 2 });
    expect(locator.position(7)).toEqual({ line: 4, column: 1 });
  });

  it('never throws or loops on text that is not TOML', () => {
    for (const text of ['[', '[[', '"', "'''", '= = =', 'a = [', 'a = {', 'a = """', '\\', ']]]', 'a.', '{ a = [ { b = ', '#']) {
      expect(() => new SourceLocator(text).locate(['a', 0, 'b'])).not.toThrow();
    }
  });
});
