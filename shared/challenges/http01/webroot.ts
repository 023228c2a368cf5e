/**
 * `--http01-webroot DIR`: HTTP-01 answered by a web server that already runs, as lego's and
 * certbot's webroot modes do. The key authorization goes to
 * DIR/.well-known/acme-challenge/<token>, which the server publishes at
 * http://<identifier>/.well-known/acme-challenge/<token> (RFC 8555 §8.3), and is removed
 * again after the validation, with the directories this run created.
 */
import { constants, existsSync } from 'node:fs';
import { lstat, mkdir, open, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CertkeeperError, ValidationError } from '../../model/errors.js';
import { TOKEN_PATTERN } from '../../store/layout.js';
import type { Challenge, ChallengeSolver } from '../solver.js';

const CHALLENGE_PATH = ['.well-known', 'acme-challenge'] as const;
const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_RDONLY, O_WRONLY } = constants;

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

/**
 * A test seam (test/unit/cli/webroot.test.ts): `step` runs right after certkeeper created a
 * directory or wrote a token's temporary file, before it sets the mode: the moment a local
 * user racing it would pick. Production passes nothing.
 */
export interface WebrootSeams {
  step?: (step: 'mkdir' | 'write', path: string) => Promise<void>;
}

/**
 * A directory held open, so that what happens inside it happens in that directory even if
 * its path is changed meanwhile.
 */
interface OpenDir {
  handle: FileHandle;
  /** For messages, and the fallback below. */
  path: string;
}

/**
 * Linux reaches an entry of an open directory through /proc/self/fd/N/<name> (the kernel
 * resolves N to the directory itself, as openat(2) would): a component of the web root
 * swapped for a symbolic link after certkeeper opened it changes nothing. Elsewhere the path
 * is used, and the O_NOFOLLOW opens below still refuse a link that is already there.
 */
const ANCHORED = process.platform === 'linux' && existsSync('/proc/self/fd');
const inside = (dir: OpenDir, name: string): string =>
  ANCHORED ? `/proc/self/fd/${dir.handle.fd}/${name}` : join(dir.path, name);

/**
 * HTTP-01 through a web root that other users (the web server's) may write, typically run
 * as root from cron. Below the web root certkeeper follows no symbolic link: directories are
 * opened with O_NOFOLLOW one component at a time and their mode set on the open handle
 * (fchmod), token files are created with O_EXCL|O_NOFOLLOW and their mode set on the handle,
 * so no link planted before or during the run turns root's writes or chmods onto another
 * file.
 */
export class WebrootSolver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  /** Directories this solver created (names below the web root), so cleanup removes only those. */
  private created = new Set<string>();

  constructor(
    private readonly webroot: string,
    private readonly seams: WebrootSeams = {},
  ) {}

  async present(challenges: readonly Challenge[]): Promise<void> {
    await checkWebroot(this.webroot);
    const dirs = await this.openChallengeDir(true);
    try {
      const dir = dirs.at(-1)!;
      for (const challenge of challenges) await this.writeToken(dir, tokenName(challenge), challenge.value);
    } finally {
      await closeAll(dirs);
    }
  }

  /** The file is there once written; whether the server serves it is the CA's to find out. */
  async waitReady(): Promise<void> {}

  async cleanup(challenges: readonly Challenge[]): Promise<void> {
    // Opened again without following links: a directory swapped for a link since present
    // stops the cleanup there rather than removing anything through the link.
    const dirs = await this.openChallengeDir(false).catch(() => [] as OpenDir[]);
    try {
      if (dirs.length === CHALLENGE_PATH.length + 1) {
        for (const challenge of challenges) {
          await unlink(inside(dirs.at(-1)!, tokenName(challenge))).catch(() => undefined);
        }
      }
      // Only what this run made, and only when empty: another tool's tokens or files stay.
      for (let i = Math.min(dirs.length, CHALLENGE_PATH.length) - 1; i >= 0; i--) {
        const part = CHALLENGE_PATH[i]!;
        if (this.created.has(join(...CHALLENGE_PATH.slice(0, i + 1)))) {
          await rmdir(inside(dirs[i]!, part)).catch(() => undefined);
        }
      }
    } finally {
      await closeAll(dirs);
    }
    this.created.clear();
  }

  /**
   * The web root, then each of .well-known and acme-challenge opened below the previous one
   * (created first when `create`, 0755: the web server usually runs as another user and must
   * read them, whatever the umask). Stops short, without error, when not creating and one
   * is missing.
   */
  private async openChallengeDir(create: boolean): Promise<OpenDir[]> {
    const dirs: OpenDir[] = [
      { handle: await open(this.webroot, O_RDONLY | O_DIRECTORY), path: this.webroot },
    ];
    try {
      for (const part of CHALLENGE_PATH) {
        const parent = dirs.at(-1)!;
        const path = join(parent.path, part);
        const made = create && (await makeDir(inside(parent, part), path));
        if (made) {
          this.created.add(join(...CHALLENGE_PATH.slice(0, dirs.length)));
          await this.seams.step?.('mkdir', path);
        }
        const handle = await open(inside(parent, part), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(
          async (err: NodeJS.ErrnoException) => {
            if (!create && err.code === 'ENOENT') return undefined;
            throw await notADirectory(inside(parent, part), path, err);
          },
        );
        if (!handle) break;
        dirs.push({ handle, path });
        if (made) await handle.chmod(0o755);
      }
      return dirs;
    } catch (err) {
      await closeAll(dirs);
      throw err;
    }
  }

  /**
   * Written to a new file beside the token and renamed, so the server never serves half a
   * token; 0644 set on the handle (umask would otherwise decide), never by path.
   */
  private async writeToken(dir: OpenDir, name: string, value: string): Promise<void> {
    const path = join(dir.path, name);
    const temp = `${name}.${process.pid}.tmp`;
    const create = () => open(inside(dir, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
    try {
      // A temporary file left by a run that died with the same pid, or planted: unlink
      // removes the entry itself (a link, not its target), then O_EXCL creates a new one.
      const file = await create().catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
        await unlink(inside(dir, temp));
        return create();
      });
      try {
        await file.writeFile(value);
        await this.seams.step?.('write', join(dir.path, temp));
        await file.chmod(0o644);
      } finally {
        await file.close();
      }
      await rename(inside(dir, temp), inside(dir, name));
    } catch (err) {
      await unlink(inside(dir, temp)).catch(() => undefined);
      throw err instanceof CertkeeperError ? err : writeError(path, err as NodeJS.ErrnoException);
    }
  }
}

/** mkdir; false when something is there already (checked when it is opened). */
function makeDir(at: string, path: string): Promise<boolean> {
  return mkdir(at, { mode: 0o755 }).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return false;
      throw writeError(path, err);
    },
  );
}

/** Why a component below the web root could not be opened as a directory. */
async function notADirectory(at: string, path: string, err: NodeJS.ErrnoException): Promise<CertkeeperError> {
  if (err.code !== 'ELOOP' && err.code !== 'ENOTDIR') return writeError(path, err);
  const link = await lstat(at).then(
    (found) => found.isSymbolicLink(),
    () => false,
  );
  return new ValidationError(
    '--http01-webroot',
    `${path} is ${link ? 'a symbolic link' : 'not a directory'}`,
    `replace ${path} with a directory${link ? ' (certkeeper follows no link below the web root: whoever can write the web root could otherwise point the writes of certkeeper, often run as root, at any directory)' : ''}`,
  );
}

async function closeAll(dirs: readonly OpenDir[]): Promise<void> {
  for (const dir of dirs) await dir.handle.close().catch(() => undefined);
}

/** The token becomes a file name: only a base64url token gets that far (no "../"). */
function tokenName(challenge: Challenge): string {
  if (challenge.type !== 'http-01' || !TOKEN_PATTERN.test(challenge.token)) {
    throw new CertkeeperError('internal', `not an http-01 challenge with a base64url token`);
  }
  return challenge.token;
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
