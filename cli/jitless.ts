/**
 * zod 4 compiles a parser for each object schema with `new Function` the first time it parses
 * (its "JIT"). A CLI process parses each schema once or twice and exits, so that compile is
 * pure cost (~10 ms of a local `issue`), and code made by `new Function` is never in the
 * executable's V8 code cache (cli/sea/bundle.ts), while zod's interpreter is. The setting is
 * read when a schema is built, so this module is loaded before any command module.
 */
import * as z from 'zod';

z.config({ jitless: true });
