import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@smolvm/test-utils';
import { describe, expect, it } from 'vitest';
import { loadSmolfile, SmolfileError } from '../src/index.js';

async function rejected(promise: Promise<unknown>): Promise<SmolfileError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SmolfileError) return error;
    throw error;
  }
  throw new Error('expected a SmolfileError');
}

describe('loadSmolfile', () => {
  it('reads a Smolfile and resolves volumes against its directory', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'Smolfile');
    await writeFile(path, 'image = "alpine"\nvolumes = ["./data:/data"]\n');
    const smolfile = await loadSmolfile(path);
    expect(smolfile.image).toBe('alpine');
    expect(smolfile.volumes).toEqual([{ hostPath: join(dir.path, 'data'), guestPath: '/data', readOnly: false }]);
  });

  it('uses baseDir when given', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'Smolfile');
    await writeFile(path, 'volumes = ["data:/data"]\n');
    expect((await loadSmolfile(path, { baseDir: '/elsewhere' })).volumes?.[0]?.hostPath).toBe('/elsewhere/data');
  });

  it('says clearly when there is no file', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'Smolfile');
    const error = await rejected(loadSmolfile(path));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_NOT_FOUND');
    expect(error.message).toBe(`no Smolfile at ${path}`);
    expect(error.hint).toMatch(/create a Smolfile/);
    expect((error.cause as { code?: string }).code).toBe('ENOENT');
  });

  it('refuses a directory, pointing at the file inside', async () => {
    await using dir = await tempDir();
    const error = await rejected(loadSmolfile(dir.path));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_READ');
    expect(error.message).toBe(`cannot read ${dir.path}: it is a directory`);
    expect(error.hint).toBe(`pass the file itself, e.g. ${join(dir.path, 'Smolfile')}`);
  });

  it('reports problems with the path it was given', async () => {
    await using dir = await tempDir();
    await mkdir(join(dir.path, 'app'));
    const path = join(dir.path, 'app', 'Smolfile');
    await writeFile(path, 'cpus = 100\n');
    const error = await rejected(loadSmolfile(path));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_INVALID');
    expect(error.message).toContain(`${path}:1:8: cpus: expected an integer number of CPUs from 1 to 64, got 100`);
  });

  it('does not read a file over the size cap', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'Smolfile');
    await writeFile(path, Buffer.alloc(2 * 1024 * 1024, 0x23));
    const error = await rejected(loadSmolfile(path));
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_INVALID');
    expect(error.problems.map((problem) => problem.code)).toEqual(['SMOLVM_ERR_SMOLFILE_TOO_LARGE']);
    expect(error.problems[0]?.message).toBe('the file is 2097152 bytes; a Smolfile may be at most 1048576 bytes');
  });

  it('points at the first byte that is not UTF-8', async () => {
    await using dir = await tempDir();
    const path = join(dir.path, 'Smolfile');
    await writeFile(path, Buffer.concat([Buffer.from('image = "alpine"\ncmd = ["'), Buffer.from([0xc3, 0x28]), Buffer.from('"]\n')]));
    const error = await rejected(loadSmolfile(path));
    expect(error.problems).toEqual([
      { code: 'SMOLVM_ERR_SMOLFILE_SYNTAX', path: '', line: 2, column: 9, message: 'the file is not valid UTF-8', hint: 'save the file as UTF-8' },
    ]);
  });
});
