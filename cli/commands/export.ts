import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type Command, Option } from 'commander';
import { CertkeeperError, ValidationError } from '../../shared/model/errors.js';
import {
  action,
  connect,
  readCurrent,
  requireRecord,
  STACK_HELP,
  type StackFlags,
  stackOptions,
} from '../context.js';
import { createOutput, EXIT, EXIT_CODES_HELP } from '../output.js';

interface ExportOptions extends StackFlags {
  out: string;
  format: 'pem' | 'pfx';
  passwordFile?: string;
  json?: boolean;
}

const PEM_FILES = [
  { file: 'fullchain', name: 'fullchain.pem', mode: 0o644 },
  { file: 'cert', name: 'cert.pem', mode: 0o644 },
  { file: 'chain', name: 'chain.pem', mode: 0o644 },
  { file: 'privkey', name: 'privkey.pem', mode: 0o600 },
] as const;

export function register(program: Command): void {
  const command = program
    .command('export')
    .argument('<name>', 'the certificate name')
    .description(
      "Write the current certificate and its key to a directory (PEM files, or one PKCS#12 file), after checking them against the manifest's sha256s",
    )
    .requiredOption('--out <dir>', 'the directory to write to (created, mode 0700, if absent)')
    .addOption(
      new Option('--format <format>', 'pem: four PEM files; pfx: <name>.pfx')
        .choices(['pem', 'pfx'])
        .default('pem'),
    )
    .option(
      '--password-file <file>',
      'pfx: the password, first line of this file (default: empty, with a warning)',
    )
    .option('--json', 'print what was written as JSON');
  stackOptions(command)
    .addHelpText(
      'after',
      `
Files (pem): fullchain.pem, cert.pem, chain.pem (0644) and privkey.pem (0600).
File (pfx):  <name>.pfx (0600), built by \`openssl pkcs12 -export\` (openssl must be on PATH).
Nothing is printed but file names and digests: the key is written to files only.
${STACK_HELP}\n${EXIT_CODES_HELP}
  (export exits 1 when a stored file does not match the manifest; nothing is written then)`,
    )
    .action(action(runExport));
}

async function runExport(name: string, options: ExportOptions): Promise<number> {
  const out = createOutput({ json: options.json });
  if (options.passwordFile !== undefined) {
    if (options.format !== 'pfx') {
      throw new ValidationError(
        '--password-file',
        'applies to --format pfx only',
        'drop it, or add --format pfx',
      );
    }
    try {
      accessSync(options.passwordFile, constants.R_OK);
    } catch {
      throw new ValidationError(
        '--password-file',
        `${options.passwordFile} cannot be read`,
        'name a readable file holding the password',
      );
    }
  }
  const ctx = await connect(options);
  // An undeclared name is a different mistake from one not issued yet: say which.
  await requireRecord(ctx.inventory, name);
  // Everything is read and checked before the first byte is written.
  const { manifest, files } = await readCurrent(ctx.store, name, ['cert', 'chain', 'fullchain', 'privkey']);
  const dir = resolve(options.out);
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const written: { path: string; mode: string; sha256?: string }[] = [];
  if (options.format === 'pem') {
    for (const { file, name: fileName, mode } of PEM_FILES) {
      const path = join(dir, fileName);
      await writeAtomically(path, files[file], mode);
      written.push({ path, mode: mode.toString(8), sha256: manifest.files[file].sha256 });
    }
  } else {
    if (options.passwordFile === undefined) {
      process.stderr.write(
        `certkeeper: warning: ${name}.pfx has an empty password: anyone who can read the file has the private key (give --password-file)\n`,
      );
    }
    const path = join(dir, `${name}.pfx`);
    await writePfx(path, name, files, options.passwordFile);
    written.push({ path, mode: '600' });
  }
  out.result(
    {
      certificate: name,
      serial: manifest.serial,
      notAfter: manifest.notAfter,
      format: options.format,
      files: written,
    },
    () => {
      out.line(
        `${out.paint('exported', 'ok')} ${name}: serial ${manifest.serial}, valid until ${manifest.notAfter}`,
      );
      for (const f of written) out.line(`  ${f.path} (${f.mode})`);
    },
  );
  return EXIT.ok;
}

/** Temp file with the final mode from the start, then rename: no moment with a readable key. */
async function writeAtomically(path: string, body: string, mode: number): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, body, { mode, flag: 'wx' });
    await chmod(temp, mode); // the umask may have taken bits from 0644
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

const run = promisify(execFile);

/**
 * openssl reads the key and certificates from a private temp directory (0700) and the
 * password from the operator's file, never from its command line, where `ps` would show it.
 */
async function writePfx(
  path: string,
  name: string,
  files: Record<'cert' | 'chain' | 'privkey', string>,
  passwordFile: string | undefined,
): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'certkeeper-pfx-'));
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(join(work, 'key.pem'), files.privkey, { mode: 0o600 });
    await writeFile(join(work, 'cert.pem'), files.cert, { mode: 0o600 });
    await writeFile(join(work, 'chain.pem'), files.chain, { mode: 0o600 });
    await writeFile(temp, '', { mode: 0o600, flag: 'wx' });
    const args = [
      'pkcs12',
      '-export',
      '-out',
      temp,
      '-inkey',
      join(work, 'key.pem'),
      '-in',
      join(work, 'cert.pem'),
    ];
    args.push('-certfile', join(work, 'chain.pem'), '-name', name);
    args.push('-passout', passwordFile === undefined ? 'pass:' : `file:${resolve(passwordFile)}`);
    try {
      await run('openssl', args);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      throw new CertkeeperError(
        'internal',
        e.code === 'ENOENT'
          ? 'openssl is not installed'
          : `openssl pkcs12 -export failed: ${e.stderr?.trim() || e.message}`,
        {
          fix:
            e.code === 'ENOENT' ? 'install OpenSSL, or export with --format pem' : 'check the password file',
        },
      );
    }
    await chmod(temp, 0o600);
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
    await rm(work, { recursive: true, force: true });
  }
}
