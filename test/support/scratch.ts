import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, type TestCa } from './test-ca.js';
import { pebbleRoots } from '../../scripts/test-kit/peers.js';

/**
 * What an end-to-end test file starts and creates, undone in its afterAll even when a test
 * failed half way: servers and agents first (last registered, first undone), then the
 * directories they used.
 */
export function scratch(prefix: string) {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  return {
    /** Registers an undo step. */
    defer(cleanup: () => Promise<unknown> | void): void {
      cleanups.push(cleanup);
    },
    /** A fresh directory, removed at the end. */
    tempDir(what: string): string {
      const dir = mkdtempSync(join(tmpdir(), `certkeeper-${prefix}-${what}-`));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return dir;
    },
    async cleanUp(): Promise<void> {
      for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    },
  };
}

/**
 * A CA made at run time (for placeholders and certificates Pebble would not issue) and a
 * roots file with Pebble's root and its own: agents verify chains against it, as against a
 * private CA.
 */
export async function testRoots(dir: string): Promise<{ testCa: TestCa; trustedCaFile: string }> {
  const testCa = await createTestCa();
  const trustedCaFile = join(dir, 'roots.pem');
  writeFileSync(trustedCaFile, (await pebbleRoots()).root + testCa.rootPem);
  return { testCa, trustedCaFile };
}
