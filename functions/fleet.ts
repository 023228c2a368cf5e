import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { buildFleetDeps } from '../composition/fleet.js';
import { type FleetMonitorDeps, type FleetTickResult, monitorFleet } from '../shared/fleet/monitor.js';
import { type Runtime, runtime } from './runtime.js';

/**
 * The fleet view, on the scheduler's tick: reads every agent's report, probes the declared
 * endpoints, compares what each delivery target has with the current serial, and publishes
 * lagging / recovered events on changes. A Lambda of its own so the scheduler never reads
 * the bucket, and so a VPC can be attached to it alone when probes must reach private
 * servers (a probe reaches what this Lambda's network reaches).
 */
export const handler = async (): Promise<FleetTickResult> => {
  const rt = await runtime();
  const result = await monitorFleet(fleetDeps(rt));
  const s = result.summary;
  rt.metrics.addMetric('FleetTargets', MetricUnit.Count, s.targets);
  rt.metrics.addMetric('TargetsBehind', MetricUnit.Count, s.behind);
  rt.metrics.addMetric('AgentsSilent', MetricUnit.Count, s.silent);
  rt.metrics.addMetric('TargetsUnreachable', MetricUnit.Count, s.unreachable);
  rt.metrics.addMetric('TargetsExpiring', MetricUnit.Count, s.expiring);
  rt.metrics.addMetric('AgentReportsIgnored', MetricUnit.Count, result.ignoredReports.length);
  rt.metrics.addMetric('AgentReportsFromRemoved', MetricUnit.Count, result.removedReports);
  rt.metrics.addMetric('AgentsRedelivered', MetricUnit.Count, result.redelivered.length);
  rt.metrics.publishStoredMetrics();
  return result;
};

/** Clients once per cold start (per runtime, which tests may replace), not per tick. */
const composed = new WeakMap<Runtime, FleetMonitorDeps>();

function fleetDeps(rt: Runtime): FleetMonitorDeps {
  let deps = composed.get(rt);
  if (!deps) {
    deps = buildFleetDeps(rt);
    composed.set(rt, deps);
  }
  return deps;
}
