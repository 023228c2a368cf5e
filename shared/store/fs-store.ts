import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CertkeeperError, ConflictError, ValidationError } from '../model/errors.js';
import {
  ObjectCertificateStore,
  type ListableObjectStore,
  type ListedObject,
} from './object-certificate-store.js';
import { type GetOptions, tooLarge } from './store.js';

export interface FsStoreOptions {
  /** Directory holding the key layout of layout.ts; created (mode 0700) on first write. */
  root: string;
}

const DIR_MODE = 0o700;
const SECRET_MODE = 0o600;
const PUBLIC_MODE = 0o644;
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * ObjectStore on a local directory, for local mode without AWS. Writes are atomic (temp file,
 * fsync, rename), so a reader or a crash never sees half a file; secret objects are 0600 and
 * directories 0700. `put(..., {ifAbsent: true})` throws ConflictError when the key exists.
 *
 * The file calls are synchronous behind the async interface: each is a few microseconds on a
 * local disk, where a promise-based call costs a round trip through libuv's thread pool
 * (~20 µs of CPU, ~300 of them per `issue`); an fsync holds the event loop as long as the
 * disk takes, which nothing in a CLI run or the agent's loop is waiting on meanwhile.
 */
export class FsObjectStore implements ListableObjectStore {
  readonly location: string;
  private readonly root: string;

  constructor(options: FsStoreOptions) {
    this.root = resolve(options.root);
    this.location = this.root;
  }

  async get(key: string, options: GetOptions = {}): Promise<string | undefined> {
    const path = this.pathFor(key);
    const max = options.maxBytes;
    let body: Buffer;
    try {
      if (max === undefined) return readFileSync(path, 'utf8');
      // Read through one descriptor, at most max + 1 bytes: a file growing meanwhile
      // cannot make this read more.
      const fd = openSync(path, 'r');
      try {
        body = Buffer.alloc(max + 1);
        let length = 0;
        for (let n; length < body.length && (n = readSync(fd, body, length, body.length - length, null)) > 0;)
          length += n;
        body = body.subarray(0, length);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw fsError(err, 'read', path);
    }
    if (body.length > max) throw tooLarge(path, max);
    return body.toString('utf8');
  }

  async put(
    key: string,
    body: string,
    options: {
      secret?: boolean;
      ifAbsent?: boolean;
      /**
       * false: still atomic (temp file, then rename or link), but not fsynced, for files whose
       * loss in a power cut costs nothing (a lock's guard and lease, which end with the process
       * anyway). Default true: certificates, keys, the account and state are fsynced.
       */
      durable?: boolean;
    } = {},
  ): Promise<void> {
    const durable = options.durable ?? true;
    const path = this.pathFor(key);
    const dir = dirname(path);
    const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
    let written = false;
    try {
      mkdirSync(dir, { recursive: true, mode: DIR_MODE });
      const fd = openSync(temp, 'wx', options.secret ? SECRET_MODE : PUBLIC_MODE);
      written = true;
      try {
        writeFileSync(fd, body, 'utf8');
        if (durable) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // link() creates the name only if it is free, atomically: the filesystem's If-None-Match.
      if (options.ifAbsent) linkSync(temp, path);
      else {
        renameSync(temp, path);
        written = false;
      }
      if (durable) syncDirectory(dir);
    } catch (err) {
      if (options.ifAbsent && errno(err) === 'EEXIST') throw new ConflictError(`${path} already exists`);
      throw fsError(err, 'write', path);
    } finally {
      // The temp name is gone after a rename; after link() (or a failure) it is removed.
      if (written) rmSync(temp, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathFor(key);
    try {
      rmSync(path, { force: true });
    } catch (err) {
      throw fsError(err, 'delete', path);
    }
  }

  async list(prefix: string): Promise<ListedObject[]> {
    // Walk the deepest directory the prefix names, then filter on the whole prefix.
    const dirKey = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const found: ListedObject[] = [];
    const walk = async (relative: string): Promise<void> => {
      const dir = relative === '' ? this.root : this.pathFor(relative.slice(0, -1));
      let entries;
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch (err) {
        if (errno(err) === 'ENOENT') return;
        throw fsError(err, 'list', dir);
      }
      for (const entry of entries) {
        const key = `${relative}${entry.name}`;
        if (entry.isDirectory()) await walk(`${key}/`);
        else if (entry.isFile() && !TEMP_FILE.test(entry.name) && key.startsWith(prefix)) {
          const info = statSync(join(dir, entry.name));
          found.push({ key, lastModified: info.mtime, size: info.size });
        }
      }
    };
    await walk(dirKey);
    return found;
  }

  /** Keys are slash-separated relative names; anything that could leave the root is refused. */
  private pathFor(key: string): string {
    const segments = key.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\') || s.includes('\0'))) {
      throw new ValidationError(
        'key',
        `"${key}" is not a relative object key`,
        'use the keys from shared/store/layout.ts',
      );
    }
    return join(this.root, ...segments);
  }
}

/** CertificateStore on a local directory: see ObjectCertificateStore for the write protocol. */
export class FsCertificateStore extends ObjectCertificateStore {
  constructor(options: FsStoreOptions) {
    super(new FsObjectStore(options));
  }
}

/** Makes the rename itself durable; not every platform can open a directory, which is fine. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Best effort: the data was already fsynced; only the directory entry may lag.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

function fsError(err: unknown, action: string, path: string): CertkeeperError {
  if (err instanceof CertkeeperError) return err;
  const code = errno(err) ?? 'error';
  const permission = code === 'EACCES' || code === 'EPERM';
  return new CertkeeperError('internal', `could not ${action} ${path} (${code})`, {
    // A full disk or a busy file can clear by itself; a permission problem cannot.
    retryable: !permission,
    fix: permission
      ? `give the user certkeeper runs as access to ${path}`
      : 'check the store directory: free space, mount and ownership',
    cause: err,
  });
}
