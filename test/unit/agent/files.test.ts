import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installFiles, restoreFiles, writeFileAtomic } from '../../../agent/files.js';

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'certkeeper-files-'));
const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe('atomic files', () => {
  it('writes through a temp file in the same directory and leaves nothing else behind', async () => {
    const dir = tempDir();
    const path = join(dir, 'sub', 'state.json');
    await writeFileAtomic({ path, content: 'one', mode: 0o640 });
    await writeFileAtomic({ path, content: 'two', mode: 0o640 });
    expect(readFileSync(path, 'utf8')).toBe('two');
    expect(modeOf(path)).toBe(0o640);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['state.json']);
  });

  it('installs a set, keeps each old file as .previous, and restores it byte for byte', async () => {
    const dir = tempDir();
    const cert = join(dir, 'fullchain.pem');
    const key = join(dir, 'privkey.pem');
    writeFileSync(cert, 'old cert', { mode: 0o644 });
    writeFileSync(key, 'old key', { mode: 0o600 });
    const installed = await installFiles([
      { path: cert, content: 'new cert', mode: 0o644 },
      { path: key, content: 'new key', mode: 0o600 },
    ]);
    expect(installed.hadPrevious).toEqual([true, true]);
    expect([readFileSync(cert, 'utf8'), readFileSync(key, 'utf8')]).toEqual(['new cert', 'new key']);
    expect(readFileSync(`${key}.previous`, 'utf8')).toBe('old key');
    expect(modeOf(`${key}.previous`)).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    await restoreFiles(installed);
    expect([readFileSync(cert, 'utf8'), readFileSync(key, 'utf8')]).toEqual(['old cert', 'old key']);
    expect(modeOf(key)).toBe(0o600);
    // .previous stays, so a restore interrupted half way can run again.
    expect(readFileSync(`${cert}.previous`, 'utf8')).toBe('old cert');
  });

  it('restores a first install by removing what it wrote', async () => {
    const dir = tempDir();
    const path = join(dir, 'certs', 'fullchain.pem');
    const installed = await installFiles([{ path, content: 'new', mode: 0o644 }]);
    expect(installed.hadPrevious).toEqual([false]);
    await restoreFiles(installed);
    expect(readdirSync(join(dir, 'certs'))).toEqual([]);
  });

  it('changes nothing when one of the files cannot be written', async () => {
    const dir = tempDir();
    const cert = join(dir, 'fullchain.pem');
    writeFileSync(cert, 'old cert');
    // A directory where the key's parent should be: its temp file cannot be created.
    writeFileSync(join(dir, 'not-a-dir'), '');
    await expect(
      installFiles([
        { path: cert, content: 'new cert', mode: 0o644 },
        { path: join(dir, 'not-a-dir', 'privkey.pem'), content: 'new key', mode: 0o600 },
      ]),
    ).rejects.toThrow(/could not write .*not-a-dir\/privkey\.pem \((ENOTDIR|EEXIST)\)/);
    expect(readFileSync(cert, 'utf8')).toBe('old cert');
    expect(readdirSync(dir).sort()).toEqual(['fullchain.pem', 'not-a-dir']);
  });
});
