import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CertkeeperError, UnreachableError } from '../shared/model/errors.js';
import { registerAgentCommand } from './commands/agent.js';
import { EXIT } from './output.js';
import * as certificates from './commands/certificates.js';
import * as doctor from './commands/doctor.js';
import * as exportCommand from './commands/export.js';
import * as local from './commands/local.js';
import * as renew from './commands/renew.js';
import * as revoke from './commands/revoke.js';

/**
 * The certkeeper command line: a registry of commands, each in cli/commands/. Commands set
 * `process.exitCode` for results that need attention; what they throw means the command
 * could not do its job at all (bad usage or config) and exits 2.
 */
export function buildProgram(): Command {
  const program = new Command('certkeeper')
    .description('Serverless ACME certificates on AWS: the operator and server side')
    // Each subcommand owns its options (`agent --config` and `agent status --config`).
    .enablePositionalOptions()
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  for (const commands of [certificates, renew, revoke, exportCommand, doctor, local])
    commands.register(program);
  registerAgentCommand(program);
  return program;
}

/** Runs the CLI and resolves to the exit code. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync([...argv]);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; everything else is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const message =
      err instanceof CertkeeperError ? err.describe() : err instanceof Error ? err.message : String(err);
    process.stderr.write(`certkeeper: ${message}\n`);
    // Whatever stage it surfaced in (e.g. reading --stack outputs), unreachable is exit 3.
    return err instanceof UnreachableError ? EXIT.unreachable : EXIT.usage;
  }
}

/** True when this file is the program (`tsx cli/main.ts`), not imported by cli/bin.js or a test. */
function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  // exit() rather than exitCode: idle keep-alive sockets of the AWS clients must not hold the process.
  main().then((code) => process.exit(code));
}
