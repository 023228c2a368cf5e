import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type FileHandle, chown, copyFile, link, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CertkeeperError, ValidationError } from '../shared/model/errors.js';

/**
 * Files on the server: every write is a temp file in the target's own directory (so the
 * rename cannot cross filesystems), fsynced, given its mode and owner, then renamed over the
 * target, and the directory fsynced. A reader (nginx reloading, a crash, a power cut) sees
 * the old file or the new one, never half of either.
 */
export interface FileSpec {
  path: string;
  content: string;
  mode: number;
  /** Numeric ids; undefined leaves that part of the ownership as the agent's. */
  uid?: number;
  gid?: number;
}

/** Suffix of the copy of each file as it was before the last install, for rollback. */
export const PREVIOUS_SUFFIX = '.previous';

const tempName = (path: string): string =>
  join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);

export async function writeFileAtomic(spec: FileSpec): Promise<void> {
  const temp = await writeTemp(spec);
  try {
    await rename(temp, spec.path);
  } catch (err) {
    await discard(temp);
    throw fileError(err, 'replace', spec.path);
  }
  await syncDirectory(dirname(spec.path));
}

/** Writes the temp file next to `spec.path` with its final content, mode and owner. */
async function writeTemp(spec: FileSpec): Promise<string> {
  const temp = tempName(spec.path);
  try {
    await mkdir(dirname(spec.path), { recursive: true, mode: 0o755 });
    // Created 0600 whatever the mode will be: the key is never readable, even for a moment.
    const file = await open(temp, 'wx', 0o600);
    try {
      await file.writeFile(spec.content, 'utf8');
      // chmod (which ignores the umask) while the file is still ours: after a chown to
      // another user it would need CAP_FOWNER, which the hardened unit does not grant.
      await file.chmod(spec.mode);
      await chownIfAsked(file, spec);
      await file.sync();
    } finally {
      await file.close();
    }
    return temp;
  } catch (err) {
    await discard(temp);
    throw fileError(err, 'write', spec.path);
  }
}

/** Removes a temp file; a cleanup that fails must not hide the error that called it. */
const discard = (path: string): Promise<void> => rm(path, { force: true }).catch(() => undefined);

/** What an install replaced, to put it back. */
export interface Installed {
  files: readonly FileSpec[];
  /** Per file: whether a previous version existed (and is now at `<path>.previous`). */
  hadPrevious: readonly boolean[];
}

/**
 * Installs a set of files: all temp files first (a failure there changes nothing), then
 * each current file is kept as `<path>.previous` and the new one renamed over it. A failure
 * half way puts back what was already replaced before rethrowing.
 */
export async function installFiles(files: readonly FileSpec[]): Promise<Installed> {
  const temps: string[] = [];
  try {
    for (const f of files) temps.push(await writeTemp(f));
  } catch (err) {
    await Promise.all(temps.map(discard));
    throw err;
  }
  // Per replaced file, whether it had a previous version: what a rollback must put back.
  const hadPrevious: boolean[] = [];
  try {
    for (const [i, f] of files.entries()) {
      const had = await keepPrevious(f.path);
      await rename(temps[i]!, f.path).catch((err: unknown) => {
        throw fileError(err, 'replace', f.path);
      });
      hadPrevious.push(had);
    }
  } catch (err) {
    await Promise.all(temps.slice(hadPrevious.length).map(discard));
    await restoreFiles({ files: files.slice(0, hadPrevious.length), hadPrevious }).catch(() => undefined);
    throw err;
  }
  await syncDirectories(files);
  return { files, hadPrevious };
}

/** Puts back what `installFiles` replaced; a file that did not exist before is removed. */
export async function restoreFiles(installed: Installed): Promise<void> {
  for (const [i, f] of installed.files.entries()) {
    if (installed.hadPrevious[i]) {
      // Through a link (or copy) so `.previous` stays, should the restore itself be retried.
      const temp = tempName(f.path);
      await linkOrCopy(`${f.path}${PREVIOUS_SUFFIX}`, temp);
      // A copy (no hard link to another user's file without CAP_FOWNER) is the agent's own.
      await chownIfAsked(temp, f);
      await rename(temp, f.path).catch(async (err: unknown) => {
        await discard(temp);
        throw fileError(err, 'restore', f.path);
      });
    } else {
      await rm(f.path, { force: true });
    }
  }
  await syncDirectories(installed.files);
}

async function chownIfAsked(file: string | FileHandle, spec: FileSpec): Promise<void> {
  if (spec.uid === undefined && spec.gid === undefined) return;
  if (typeof file === 'string') await chown(file, spec.uid ?? -1, spec.gid ?? -1);
  else await file.chown(spec.uid ?? -1, spec.gid ?? -1);
}

/** Moves a copy of the current file to `<path>.previous`; false when there is none. */
async function keepPrevious(path: string): Promise<boolean> {
  const temp = tempName(`${path}${PREVIOUS_SUFFIX}`);
  try {
    await linkOrCopy(path, temp);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fileError(err, 'keep a copy of', path);
  }
  await rename(temp, `${path}${PREVIOUS_SUFFIX}`).catch(async (err: unknown) => {
    await discard(temp);
    throw fileError(err, 'keep a copy of', path);
  });
  return true;
}

/** A hard link keeps mode and owner exactly; filesystems without links get a copy. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV' && code !== 'EMLINK') throw err;
    await copyFile(from, to);
  }
}

async function syncDirectories(files: readonly FileSpec[]): Promise<void> {
  for (const dir of new Set(files.map((f) => dirname(f.path)))) await syncDirectory(dir);
}

/** Makes the rename durable; not every platform can open a directory, which is fine. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  try {
    await handle?.sync();
  } catch {
    // Best effort: the file data is already on disk; only the directory entry may lag.
  } finally {
    await handle?.close();
  }
}

/** The file's text, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(err, 'read', path);
  }
}

const run = promisify(execFile);

/**
 * A user or group name to its numeric id. `getent` asks NSS (LDAP, systemd-userdb, ...),
 * which the flat files alone would miss; the files are the fallback where it is missing.
 */
export async function resolveId(
  kind: 'owner' | 'group',
  value: string | number,
  field: string,
): Promise<number> {
  if (typeof value === 'number') return value;
  if (/^\d+$/.test(value)) return Number(value);
  const db = kind === 'owner' ? 'passwd' : 'group';
  let line: string | undefined;
  try {
    line = (await run('getent', [db, value], { timeout: 5000 })).stdout.split('\n')[0];
  } catch {
    const text = (await readIfExists(`/etc/${db}`)) ?? '';
    line = text.split('\n').find((l) => l.startsWith(`${value}:`));
  }
  const id = Number(line?.split(':')[2]);
  if (!line || !Number.isInteger(id)) {
    throw new ValidationError(
      field,
      `${kind === 'owner' ? 'user' : 'group'} "${value}" does not exist on this server`,
      `create it, or give an existing ${kind === 'owner' ? 'user' : 'group'} name or a numeric id`,
    );
  }
  return id;
}

function fileError(err: unknown, action: string, path: string): CertkeeperError {
  if (err instanceof CertkeeperError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code ?? 'error';
  const permission = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
  return new CertkeeperError('internal', `could not ${action} ${path} (${code})`, {
    retryable: !permission,
    fix: !permission
      ? `check ${dirname(path)}: free space, mount and ownership`
      : action === 'read'
        ? `let the agent read ${path}: run it as root (with owner set, the hardened unit needs CAP_DAC_READ_SEARCH)`
        : `let the agent write ${dirname(path)}: run it as root, and list the directory in the unit's ReadWritePaths=`,
    cause: err,
  });
}
