/**
 * The ACME directory flag, spelt one way for every command: `--directory-url`, taking a
 * directory URL or a name the deployment config takes too (`letsencrypt`,
 * `letsencrypt-staging`). Local mode spelt it `--directory` before; that spelling still
 * works, hidden from --help.
 */
import { type Command, Option } from 'commander';
import { CA_DIRECTORIES, HTTPS_ONLY, isAllowedDirectoryUrl } from '../shared/model/cas.js';
import { ValidationError } from '../shared/model/errors.js';

export const DIRECTORY_NAMES = Object.keys(CA_DIRECTORIES).join(' / ');

/** An ACME directory URL, or the URL a known CA name stands for. */
export function resolveDirectory(value: string, flag = '--directory-url'): string {
  if (Object.hasOwn(CA_DIRECTORIES, value)) return CA_DIRECTORIES[value as keyof typeof CA_DIRECTORIES];
  let url: string;
  try {
    url = new URL(value).href;
  } catch {
    throw new ValidationError(
      flag,
      `"${value}" is neither an ACME directory URL nor a known CA`,
      `give ${Object.keys(CA_DIRECTORIES).join(' or ')}, or the directory URL, e.g. ${CA_DIRECTORIES.letsencrypt}`,
    );
  }
  if (!isAllowedDirectoryUrl(url)) {
    throw new ValidationError(
      flag,
      `${url} is not https:// (${HTTPS_ONLY})`,
      "give the CA's https:// directory URL",
    );
  }
  return url;
}

/** Adds `--directory-url` and the old, hidden `--directory`. */
export function directoryOptions(command: Command, description: string): Command {
  return command
    .option('--directory-url <url>', description)
    .addOption(new Option('--directory <url>', 'the old spelling of --directory-url').hideHelp());
}

/** The directory given under either spelling (unresolved); both with different values is an error. */
export function directoryFlag(options: { directoryUrl?: string; directory?: string }): string | undefined {
  const { directoryUrl, directory } = options;
  if (directoryUrl !== undefined && directory !== undefined && directoryUrl !== directory) {
    throw new ValidationError(
      '--directory-url',
      `given twice, as --directory-url ${directoryUrl} and as its old spelling --directory ${directory}`,
      'keep --directory-url only',
    );
  }
  return directoryUrl ?? directory;
}
