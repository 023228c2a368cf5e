import type { CertificateSpec, ChallengeType } from '../model/spec.js';
import type { ChallengeSolver } from './solver.js';

/** How a composition makes the solver of each challenge type it supports. */
export type SolverFactories = {
  readonly [T in ChallengeType]?: (spec: CertificateSpec) => ChallengeSolver | undefined;
};

/**
 * The one place a spec's challenge type picks its solver, for the Lambda's composition and
 * local mode's alike. A type the composition has no solver for gives undefined, which the
 * order reports as a missing configuration.
 */
export function solverSelector(
  factories: SolverFactories,
): (spec: CertificateSpec) => ChallengeSolver | undefined {
  return (spec) => factories[spec.challenge]?.(spec);
}
