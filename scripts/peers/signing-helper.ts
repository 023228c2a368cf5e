/**
 * AWS's aws_signing_helper (IAM Roles Anywhere's reference client), built with `go install`
 * into the cache at the pinned version: the Roles Anywhere stand-in is proven faithful by
 * accepting what it sends (test/integration/roles-anywhere-stand-in.test.ts).
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SIGNING_HELPER_MODULE, SIGNING_HELPER_VERSION, type CachePaths } from './config.js';
import { goBinaryIs, goCommand } from './go.js';
import { execOk, log } from './util.js';

export async function signingHelperInstalled(paths: CachePaths): Promise<boolean> {
  if (!existsSync(paths.signingHelper)) return false;
  const pinned = await goBinaryIs(paths.signingHelper, SIGNING_HELPER_MODULE, SIGNING_HELPER_VERSION);
  if (pinned === undefined)
    log(`cannot check the aws_signing_helper version (no go toolchain?): using it as is`);
  return pinned ?? true;
}

export async function installSigningHelper(paths: CachePaths): Promise<void> {
  log(`installing aws_signing_helper ${SIGNING_HELPER_VERSION} with go install (needs Go and a C compiler)`);
  const bin = join(paths.home, 'bin');
  mkdirSync(bin, { recursive: true });
  // go install names the binary after the module (rolesanywhere-credential-helper): build
  // into a directory of its own, then move it to the name AWS ships it under.
  const staging = mkdtempSync(join(paths.home, '.signing-helper-'));
  try {
    await execOk(
      goCommand(),
      [
        'install',
        // What AWS's own release build stamps (its Makefile), so `version` answers 1.4.0.
        `-ldflags=-X ${SIGNING_HELPER_MODULE}/cmd.Version=${SIGNING_HELPER_VERSION.replace(/^v/, '')}`,
        `${SIGNING_HELPER_MODULE}@${SIGNING_HELPER_VERSION}`,
      ],
      {
        // cgo: v1.4.0 links its PKCS#11 support unconditionally.
        env: { ...process.env, GOBIN: staging, CGO_ENABLED: '1' },
        timeoutMs: 15 * 60_000,
        what: `go install ${SIGNING_HELPER_MODULE}@${SIGNING_HELPER_VERSION} (a C compiler is needed for cgo)`,
      },
    );
    renameSync(join(staging, 'rolesanywhere-credential-helper'), paths.signingHelper);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  if (!(await signingHelperInstalled(paths))) {
    throw new Error(`aws_signing_helper is not at ${paths.signingHelper} after go install`);
  }
  log('aws_signing_helper installed');
}
