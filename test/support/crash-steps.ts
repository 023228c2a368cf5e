/** The steps at which test/support/crash-worker.ts kills itself, in renewal order. */
export const CRASH_STEPS = ['order', 'challenge', 'finalize', 'files', 'manifest', 'state'] as const;
export type CrashStep = (typeof CRASH_STEPS)[number];
