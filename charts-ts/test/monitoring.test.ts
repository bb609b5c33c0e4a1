import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@gavel/shared/testing';
import { eksConfig, kindConfig, synthAll, type K8sObject } from './helpers.js';

/** PodMonitors for Prometheus Operator users: behind a setting, one per workload with /metrics. */
describe('PodMonitors (eks, --pod-monitors)', () => {
  const podMonitors = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'PodMonitor');

  it('are not there unless asked for', () => {
    expect(podMonitors(synthAll(eksConfig()))).toEqual([]);
    expect(podMonitors(synthAll(kindConfig({ podMonitors: true })))).toEqual([]);
  });

  it('select the pods of every Gavel Deployment, on the port serving /metrics', () => {
    const objects = synthAll(eksConfig({ podMonitors: true }));
    const monitors = podMonitors(objects);
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    expect(deployments.length).toBeGreaterThan(0);
    for (const deployment of deployments) {
      const labels = deployment.spec.template.metadata.labels as Record<string, string>;
      const monitor = monitors.find((m) =>
        Object.entries(m.spec.selector.matchLabels as Record<string, string>).every(
          ([k, v]) => labels[k] === v,
        ),
      );
      expect(monitor, `a PodMonitor for ${deployment.metadata.name}`).toBeDefined();
      expect(monitor!.metadata.namespace).toBe(deployment.metadata.namespace);
      const endpoint = monitor!.spec.podMetricsEndpoints[0];
      expect(endpoint.path).toBe('/metrics');
      const ports = deployment.spec.template.spec.containers.flatMap((c: { ports?: { name: string }[] }) =>
        (c.ports ?? []).map((p) => p.name),
      );
      expect(ports, deployment.metadata.name).toContain(endpoint.port);
    }
    // Selected by the label a Prometheus picks Gavel's monitors up with.
    for (const m of monitors) expect(m.metadata.labels['app.kubernetes.io/part-of']).toBe('gavel');
  });

  it('come with the SLO alerts, each pointing at its runbook', () => {
    const rules = synthAll(eksConfig({ podMonitors: true })).filter((o) => o.kind === 'PrometheusRule');
    expect(rules).toHaveLength(1);
    const alerts = rules[0]!.spec.groups[0].rules as Array<{
      alert: string;
      annotations: { runbook: string };
    }>;
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'GavelArchivalLagP99High',
      'GavelBidLatencyP99High',
      'GavelOutboxDepthHigh',
    ]);
    const runbooks = readFileSync(join(REPO_ROOT, 'docs/runbooks.md'), 'utf8');
    for (const a of alerts) {
      const anchor = a.annotations.runbook.split('#')[1];
      expect(runbooks, a.alert).toContain(`<a id="${anchor}"></a>`);
    }
  });
});
