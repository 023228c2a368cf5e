/** The scheduler's heartbeat: when it last completed a tick, and what the tick found. */
export interface SchedulerTick {
  /** ISO-8601 time of the tick. */
  at: string;
  checked: number;
  enqueued: number;
}

/**
 * Port: the scheduler's heartbeat, written after every completed tick and read by the
 * stack's alarm and by `certkeeper doctor`. Unconditional: the last tick to finish wins,
 * and ticks are minutes apart.
 */
export interface Heartbeat {
  record(at: Date, summary: { checked: number; enqueued: number }): Promise<void>;
  /** The last recorded tick; undefined before the first one. */
  last(): Promise<SchedulerTick | undefined>;
}
