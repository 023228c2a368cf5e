import type { Command } from 'commander';

/** Registers this module's commands (being written). */
export function register(_program: Command): void {}
