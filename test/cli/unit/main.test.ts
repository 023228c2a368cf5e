import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, COMMAND_MODULES, version } from '../../../cli/main.js';

describe('cli/main: commands loaded on demand', () => {
  it('routes every registered command to the module that registers it', async () => {
    const all = (await buildProgram()).commands.map((c) => c.name());
    expect(all.length).toBeGreaterThan(5);
    // A new command whose module main.ts does not know would be missing from the built help.
    expect(Object.keys(COMMAND_MODULES).sort()).toEqual([...all].sort());
    for (const name of all) {
      const program = new Command();
      (await COMMAND_MODULES[name]!())(program);
      expect(program.commands.map((c) => c.name())).toContain(name);
    }
  });

  it('loads only the module of the command asked for', async () => {
    // One module per command: `add` no longer brings `remove`, `list` and `status` with it.
    for (const command of ['issue', 'add', 'remove', 'list', 'status']) {
      const names = (await buildProgram([command])).commands.map((c) => c.name());
      expect(names).toEqual([command]);
    }
  });

  it('spells the directory flag --directory-url in every command that takes one; --directory stays hidden', async () => {
    const program = await buildProgram();
    const withDirectory = program.commands.filter((c) => c.options.some((o) => o.long === '--directory-url'));
    // Local mode (issue, renew --out), and the stack commands that talk to the CA.
    expect(withDirectory.map((c) => c.name()).sort()).toEqual(['doctor', 'issue', 'renew', 'revoke']);
    for (const command of program.commands) {
      expect(command.helpInformation(), command.name()).not.toMatch(/--directory\b(?!-url)/);
    }
  });

  it('reports the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(version()).toBe(pkg.version);
  });
});
