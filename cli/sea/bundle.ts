/**
 * How the single executable runs the CLI bundle: not as Node's SEA main script, but as a
 * script compiled with a V8 code cache made at build time (scripts/sea-build.ts). Node's own
 * SEA code cache (`useCodeCache`) holds only what V8 compiles up front, the bundle's top
 * level: every module body in it (esbuild wraps each in a function, run when first needed)
 * and everything those call would still be parsed and compiled on every run. A cache taken
 * after the bundle has run (V8 keeps the bytecode of every function that ran) skips that.
 * A startup snapshot (`useSnapshot`) would skip the module bodies too, but Node 22 cannot
 * snapshot node:http/https, which the bundle loads.
 *
 * The source V8 compiles must be the same text at build time and at run time (the cache is
 * checked against it), so both sides wrap it here.
 */
import { Script, constants } from 'node:vm';

/** SEA asset keys (sea-config.json `assets`). */
/** The bundle, wrapped (wrapBundle); esbuild writes ASCII only, so it is read as latin1. */
export const BUNDLE_ASSET = 'certkeeper.cjs';
/**
 * One code cache per command that is run often (from cron, systemd or scripts), each trained
 * on that command alone, and one for the rest: V8 deserializes a whole cache before the first
 * line runs, so a cache holding every command's code costs more than it saves for one.
 */
export const CACHED_COMMANDS = ['issue', 'renew', 'list', 'agent'] as const;
export const codeCacheAsset = (command: string): string => `certkeeper.${command}.cache`;
export const OTHER_COMMANDS_CACHE = 'other';
/**
 * No command at all (`--help`, `--version`): the built file answers without loading any
 * module, but V8 still has to compile the bundle's top level, which without a cache means
 * pre-parsing all of it (~70 ms); this cache holds only that.
 */
export const NO_COMMAND_CACHE = 'top';

/** Which cache serves these arguments: the command's own, the one for the rest, or the top level's. */
export function cacheFor(args: readonly string[]): string {
  const command = args.find((arg) => !arg.startsWith('-'));
  if (command === undefined) return NO_COMMAND_CACHE;
  return (CACHED_COMMANDS as readonly string[]).includes(command) ? command : OTHER_COMMANDS_CACHE;
}

/** The CommonJS parameters the bundle expects, as Node's module wrapper passes them. */
export type BundleFunction = (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;

/**
 * The bundle as the text of one function expression, which is what the executable carries
 * (built once, so a run reads it without copying or concatenating 1.7 MB). The `#!` line
 * becomes an empty line (a hashbang is only valid at the very start of a script), so line
 * numbers in stack traces stay those of the file.
 */
export function wrapBundle(source: string): string {
  const body = source.startsWith('#!') ? source.replace(/^#![^\n]*/, '') : source;
  return `(function (exports, require, module, __filename, __dirname) {${body}\n})`;
}

/** The wrapped bundle (wrapBundle) compiled, with `cachedData` when given. */
export function compileBundle(wrapped: string, filename: string, cachedData?: Buffer): Script {
  return new Script(wrapped, {
    filename,
    ...(cachedData ? { cachedData } : {}),
    // The AWS SDK's credential providers import('node:http') on use: the default loader.
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
}

/** Runs the compiled bundle once, as a CommonJS module named `filename`. */
export function runBundle(script: Script, require: NodeJS.Require, filename: string, dirname: string): void {
  const fn = script.runInThisContext() as BundleFunction;
  const module = { exports: {} };
  fn.call(module.exports, module.exports, require, module, filename, dirname);
}
