/**
 * `--http01-webroot DIR`: HTTP-01 answered by a web server that already runs, as lego's and
 * certbot's webroot modes do. The key authorization goes to
 * DIR/.well-known/acme-challenge/<token>, which the server publishes at
 * http://<identifier>/.well-known/acme-challenge/<token> (RFC 8555 §8.3), and is removed
 * again after the validation, with the directories this run created.
 */
import { chmod, mkdir, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CertkeeperError, ValidationError } from '../../shared/model/errors.js';
import { TOKEN_PATTERN } from '../../shared/store/layout.js';
import type { Challenge, ChallengeSolver } from '../../shared/challenges/solver.js';

const CHALLENGE_PATH = ['.well-known', 'acme-challenge'] as const;

/** The directory under the web root where the tokens go. */
export const challengeDir = (webroot: string): string => join(webroot, ...CHALLENGE_PATH);

/** --http01-webroot must name a directory that exists: the web server's, not one we invent. */
export async function checkWebroot(webroot: string, flag = '--http01-webroot'): Promise<void> {
  const found = await stat(webroot).catch((err: NodeJS.ErrnoException) => err.code ?? 'error');
  if (typeof found === 'string' || !found.isDirectory()) {
    throw new ValidationError(
      flag,
      `${webroot} is not a directory${typeof found === 'string' ? ` (${found})` : ''}`,
      "give the document root your web server serves for the certificate's names on port 80",
    );
  }
}

export class WebrootSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  /** Directories this solver created, deepest last, so cleanup removes only those. */
  private created: string[] = [];

  constructor(private readonly webroot: string) {}

  async present(challenges: readonly Challenge[]): Promise<void> {
    await checkWebroot(this.webroot);
    let dir = this.webroot;
    for (const part of CHALLENGE_PATH) {
      dir = join(dir, part);
      // 0755: the web server usually runs as another user (www-data) and must read them.
      const made = await mkdir(dir, { mode: 0o755 }).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === 'EEXIST') return false;
          throw writeError(dir, err);
        },
      );
      if (made) {
        await chmod(dir, 0o755);
        this.created.push(dir);
      }
    }
    for (const challenge of challenges) {
      const path = tokenPath(this.webroot, challenge);
      // Written beside and renamed, so the server never serves half a token; 0644 for the
      // same reason as the directories (umask would otherwise decide).
      const temp = `${path}.${process.pid}.tmp`;
      try {
        await writeFile(temp, challenge.value, { mode: 0o644 });
        await chmod(temp, 0o644);
        await rename(temp, path);
      } catch (err) {
        await unlink(temp).catch(() => undefined);
        throw writeError(path, err as NodeJS.ErrnoException);
      }
    }
  }

  /** The file is there once written; whether the server serves it is the CA's to find out. */
  async waitReady(): Promise<void> {}

  async cleanup(challenges: readonly Challenge[]): Promise<void> {
    for (const challenge of challenges) {
      await unlink(tokenPath(this.webroot, challenge)).catch(() => undefined);
    }
    // Only what this run made, and only when empty: another tool's tokens or files stay.
    for (const dir of this.created.reverse()) await rmdir(dir).catch(() => undefined);
    this.created = [];
  }
}

/** The token becomes a file name: only a base64url token gets that far (no "../"). */
function tokenPath(webroot: string, challenge: Challenge): string {
  if (challenge.type !== 'http-01' || !TOKEN_PATTERN.test(challenge.token)) {
    throw new CertkeeperError('internal', `not an http-01 challenge with a base64url token`);
  }
  return join(challengeDir(webroot), challenge.token);
}

function writeError(path: string, err: NodeJS.ErrnoException): CertkeeperError {
  return new CertkeeperError(
    'validation',
    `--http01-webroot: cannot write ${path} (${err.code ?? 'error'})`,
    {
      fix:
        err.code === 'EACCES' || err.code === 'EPERM'
          ? 'run certkeeper as a user that may write to the web root (or give it a directory it owns that the server serves)'
          : 'check the --http01-webroot directory',
      cause: err,
    },
  );
}

/**
 * When HTTP-01 failed through a web root, a Fix that says where the token was and where the
 * CA looked for it (the URL in its problem detail).
 */
export function webrootFix(errorText: string, webroot: string | undefined): string | undefined {
  if (!webroot) return undefined;
  const url = /https?:\/\/[^\s"]+\/\.well-known\/acme-challenge\/[A-Za-z0-9_-]+/.exec(errorText);
  if (!url) return undefined;
  return `the CA fetched ${url[0]}, and certkeeper had written that token to ${challengeDir(webroot)}/: make the web server on that address serve ${webroot} as its document root for /.well-known/acme-challenge/ (port 80 for a public CA, no redirect to another host)`;
}
