import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, YamlOutputType } from 'cdk8s';
import { PORTS, type ChartConfig } from './config.js';
import { DataStoresChart } from './charts/data-stores-chart.js';
import { GavelChart } from './charts/gavel-chart.js';
import { IngressChart } from './charts/ingress-chart.js';
import { LatencyChart } from './charts/latency-chart.js';
import { MonitoringChart } from './charts/monitoring-chart.js';
import { NamespaceChart } from './charts/namespace-chart.js';
import { NatsChart } from './charts/nats-chart.js';
import { NetworkBaselineChart } from './charts/network-baseline-chart.js';
import { NetworkPoliciesChart } from './charts/network-policies-chart.js';

/**
 * Every chart of one profile, in apply order: the file names sort the way `kubectl apply -f dir`
 * reads them, so the Namespace exists before anything in it.
 */
export function buildCharts(app: App, config: ChartConfig) {
  const namespace = config.manageNamespace ? new NamespaceChart(app, '00-namespace', config) : undefined;
  const baseline = new NetworkBaselineChart(app, '01-network-baseline', config);
  const dataStores = new DataStoresChart(app, '10-data-stores', config);
  const nats = new NatsChart(app, '20-nats', config);
  const gavel = new GavelChart(app, '30-gavel', {
    config,
    dataStores: dataStores.endpoints,
    natsUrl: nats.url,
    natsMonitoring: `${nats.clientService.name}.${config.namespace}.svc:${PORTS.natsMonitor}`,
  });
  const latency = new LatencyChart(app, '40-latency', config);
  const ingress = new IngressChart(app, '50-ingress', {
    config,
    api: gavel.api.service!,
    broadcastBlue: gavel.broadcast.blue.service!,
    broadcastGreen: gavel.broadcast.green.service!,
  });
  const policies = new NetworkPoliciesChart(app, '60-network-policies', {
    config,
    gavel,
    nats,
    dataStores,
    latency,
  });
  const monitoring = config.features.podMonitors
    ? new MonitoringChart(app, '70-monitoring', config)
    : undefined;
  return { namespace, baseline, dataStores, nats, gavel, latency, ingress, policies, monitoring };
}

/** Synthesizes one profile into `outdir` (one `<chart>.k8s.yaml` per chart), replacing what was there. */
export function synthProfile(config: ChartConfig, outdir: string): string[] {
  mkdirSync(outdir, { recursive: true });
  for (const file of readdirSync(outdir)) {
    if (file.endsWith('.k8s.yaml')) rmSync(join(outdir, file));
  }
  const app = new App({
    outdir,
    outputFileExtension: '.k8s.yaml',
    yamlOutputType: YamlOutputType.FILE_PER_CHART,
  });
  buildCharts(app, config);
  app.synth();
  return readdirSync(outdir)
    .filter((f) => f.endsWith('.k8s.yaml'))
    .sort();
}
