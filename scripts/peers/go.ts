/**
 * The Go toolchain for the peers built from source with `go install` (Pebble, AWS's
 * aws_signing_helper), and the check that a built binary is the pinned module version.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { exec } from './util.js';

/** `go` from PATH, else the usual install location of the official tarball. */
export function goCommand(): string {
  const onPath = (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, 'go')));
  return onPath || !existsSync('/usr/local/go/bin/go') ? 'go' : '/usr/local/go/bin/go';
}

/**
 * Whether `binary` was built from `module` at `version`: binaries built by `go install`
 * report "dev" or nothing for their own version flag; the module version is in the build
 * info, which `go version -m` prints. undefined when there is no go toolchain to ask.
 */
export async function goBinaryIs(
  binary: string,
  module: string,
  version: string,
): Promise<boolean | undefined> {
  const info = await exec(goCommand(), ['version', '-m', binary], { timeoutMs: 30_000 }).catch(
    () => undefined,
  );
  if (info === undefined || info.code !== 0) return undefined;
  return new RegExp(`\\smod\\s+${escapeRegExp(module)}\\s+${escapeRegExp(version)}\\s`).test(info.stdout);
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
