/**
 * The ACME directory URL flag, spelt one way for every command: `--directory-url`, taking a
 * directory URL or the name of a well-known CA, as the deployment config does (`letsencrypt`,
 * `letsencrypt-staging`). Local mode spelt it `--directory` before; that spelling still
 * works, hidden from --help.
 */
import { type Command, Option } from 'commander';
import { HTTPS_ONLY, isAllowedDirectoryUrl, WELL_KNOWN_CAS } from '../shared/model/cas.js';
import { ValidationError } from '../shared/model/errors.js';

export const WELL_KNOWN_CA_NAMES = Object.keys(WELL_KNOWN_CAS).join(' / ');

/** The flag's value as an ACME directory URL: the URL given, or the one a well-known CA's name stands for. */
export function caDirectoryUrl(value: string, flag = '--directory-url'): string {
  if (Object.hasOwn(WELL_KNOWN_CAS, value)) return WELL_KNOWN_CAS[value as keyof typeof WELL_KNOWN_CAS];
  let url: string;
  try {
    url = new URL(value).href;
  } catch {
    throw new ValidationError(
      flag,
      `"${value}" is neither an ACME directory URL nor a known CA`,
      `give ${Object.keys(WELL_KNOWN_CAS).join(' or ')}, or the directory URL, e.g. ${WELL_KNOWN_CAS.letsencrypt}`,
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
