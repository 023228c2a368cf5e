import { mkdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { LocalDir } from '../../composition/local.js';
import { CertkeeperError } from '../../shared/model/errors.js';
import { BUNDLE_FILES, type BundleFile } from '../../shared/store/layout.js';

/** DIR/live/<name>/{cert,chain,fullchain,privkey}.pem: symlinks to the current serial's files. */
export const liveDir = (out: string, name: string): string => join(resolve(out), 'live', name);
export const livePath = (out: string, name: string, file: BundleFile): string =>
  join(liveDir(out, name), `${file}.pem`);

/**
 * Points DIR/live/<name>/*.pem at the current serial's files (relative symlinks, so DIR can
 * move). Each link is replaced atomically (a new link renamed over the old one), so a server
 * reading them never finds one missing. The key is linked, never copied: it stays 0600 in one place.
 */
export async function updateLiveLinks(
  dir: LocalDir,
  out: string,
  name: string,
): Promise<Record<BundleFile, string>> {
  const manifest = await dir.store.getManifest(name);
  if (!manifest) throw new CertkeeperError('not-found', `no current certificate for ${name} in ${dir.root}`);
  const live = liveDir(out, name);
  await mkdir(live, { recursive: true, mode: 0o700 });
  const files = {} as Record<BundleFile, string>;
  for (const file of BUNDLE_FILES) {
    const link = livePath(out, name, file);
    const target = relative(live, join(dir.root, ...manifest.files[file].key.split('/')));
    files[file] = link;
    if ((await readlink(link).catch(() => undefined)) === target) continue;
    const temp = `${link}.${process.pid}.tmp`;
    await unlink(temp).catch(() => undefined);
    await symlink(target, temp);
    await rename(temp, link);
  }
  return files;
}
