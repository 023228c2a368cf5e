import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CertkeeperError, UnreachableError } from '../shared/model/errors.js';
import { EXIT, terminalSafe } from './output.js';

/**
 * What `scripts/cli-bundle.ts` writes into the built file (esbuild `define`): the version and
 * the top-level help text, rendered at build time from the same commands. Absent when the
 * sources run through tsx.
 */
declare const CERTKEEPER_BUILD: { version: string; help: string } | undefined;

type Register = (program: Command) => void;

/**
 * Which module registers each command, loaded only when that command runs: the AWS SDK,
 * acme-client and the agent are most of the code, and `--help`, `--version` or `issue` need
 * none of the others. Keep in step with the modules (test/cli/unit/main.test.ts checks it).
 */
export const COMMAND_MODULES: Record<string, () => Promise<Register>> = {
  add: async () => (await import('./commands/add.js')).register,
  remove: async () => (await import('./commands/remove.js')).register,
  list: async () => (await import('./commands/list.js')).register,
  status: async () => (await import('./commands/status.js')).register,
  renew: async () => (await import('./commands/renew.js')).register,
  revoke: async () => (await import('./commands/revoke.js')).register,
  export: async () => (await import('./commands/export.js')).register,
  doctor: async () => (await import('./commands/doctor.js')).register,
  issue: async () => (await import('./commands/issue.js')).register,
  agent: async () => (await import('./commands/agent.js')).registerAgentCommand,
  dashboard: async () => (await import('./commands/dashboard.js')).register,
};

/** certkeeper's version: written into the built file, read from package.json under tsx. */
export function version(): string {
  if (typeof CERTKEEPER_BUILD !== 'undefined') return CERTKEEPER_BUILD.version;
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function newProgram(): Command {
  return (
    new Command('certkeeper')
      .description('Serverless ACME certificates on AWS: the operator and server side')
      .version(version(), '-V, --version', 'print the version and exit')
      // Each subcommand owns its options (`agent --config` and `agent status --config`).
      .enablePositionalOptions()
      .showHelpAfterError('(add --help for usage)')
      .exitOverride()
  );
}

/**
 * The certkeeper command line: a registry of commands, each in cli/commands/. Commands set
 * `process.exitCode` for results that need attention; what they throw means the command
 * could not do its job at all (bad usage or config) and exits 2. With `only`, just the
 * modules registering those commands are loaded.
 */
export async function buildProgram(only?: readonly string[]): Promise<Command> {
  const program = newProgram();
  // Before any command module builds a schema (see jitless.ts).
  await import('./jitless.js');
  const names = only ?? Object.keys(COMMAND_MODULES);
  const registers = new Set(await Promise.all(names.map((name) => COMMAND_MODULES[name]!())));
  for (const register of registers) register(program);
  return program;
}

/** The command argv names (`certkeeper [global options] <command>`, or `help <command>`), if any. */
function commandOf(args: readonly string[]): string | undefined {
  const operand = args.find((arg) => !arg.startsWith('-'));
  const name = operand === 'help' ? args[args.indexOf(operand) + 1] : operand;
  return name !== undefined && Object.hasOwn(COMMAND_MODULES, name) ? name : undefined;
}

/** `certkeeper`, `certkeeper --help`, `certkeeper help`: the top-level help and nothing else. */
function isTopLevelHelp(args: readonly string[]): boolean {
  return args.length === 0 || (args.length === 1 && ['--help', '-h', 'help'].includes(args[0]!));
}

/** Runs the CLI and resolves to the exit code. */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  process.exitCode = undefined;
  const args = argv.slice(2);
  try {
    if (typeof CERTKEEPER_BUILD !== 'undefined' && isTopLevelHelp(args)) {
      // Rendered at build time by the full program: nothing to load. No arguments at all is
      // a usage error, as commander makes it.
      (args.length ? process.stdout : process.stderr).write(CERTKEEPER_BUILD.help);
      return args.length ? EXIT.ok : EXIT.usage;
    }
    const command = commandOf(args);
    let program: Command;
    if (command) {
      program = await buildProgram([command]);
    } else if (args.length === 1 && ['--version', '-V'].includes(args[0]!)) {
      program = newProgram();
    } else {
      // Unknown commands and top-level help under tsx: everything, for commander's listing
      // and its "Did you mean ...?".
      program = await buildProgram();
    }
    await program.parseAsync([...argv]);
    return Number(process.exitCode ?? EXIT.ok);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; everything else is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const message =
      err instanceof CertkeeperError ? err.describe() : err instanceof Error ? err.message : String(err);
    process.stderr.write(`certkeeper: ${terminalSafe(message)}\n`);
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

// The built file calls main() from its own entry (scripts/cli-bundle.ts), where this file's
// URL would be the bundle's, which is the program too.
if (typeof CERTKEEPER_BUILD === 'undefined' && isEntry()) {
  // exit() rather than exitCode: idle keep-alive sockets of the AWS clients must not hold the process.
  main().then((code) => process.exit(code));
}
