/**
 * A source of numbers in [0, 1) for jitter and for the pick inside an ARI window
 * (RFC 9773 §4.2): Math.random in production, a fixed one in tests.
 */
export type Random = () => number;
