import { describe, expect, it } from 'vitest';
import { LATENCY_AGENT_PORT, LATENCY_NODE_POOL, LATENCY_SERVER_PORT, POOL_LABEL_KEY } from '@gavel/shared';
import { eksConfig, eksLabConfig, find, synthAll } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe('eks with the platform latency lab', () => {
  const config = eksLabConfig();
  const lab = config.latencyLab!.lab;
  const objects = synthAll(config);
  const server = find(objects, 'Deployment', 'latency-server');
  const serverLabels = server.spec.template.metadata.labels;
  const cronJob = find(objects, 'CronJob', 'latency-compare');
  const pod = cronJob.spec.jobTemplate.spec.template;

  it('binds the platform NLB and ALB target groups to the latency server Service, and drops the controller NLB', () => {
    const bindings = objects.filter((o) => o.kind === 'TargetGroupBinding');
    expect(bindings.map((b) => b.spec.targetGroupARN).sort()).toEqual(
      [lab.targetGroupArns.nlb, lab.targetGroupArns.alb].sort(),
    );
    const service = find(objects, 'Service', 'latency-server');
    for (const binding of bindings) {
      expect(binding.spec).toMatchObject({
        serviceRef: { name: 'latency-server', port: LATENCY_SERVER_PORT },
        targetType: 'ip',
      });
      expect(service.spec.ports.map((p: Json) => p.port)).toContain(binding.spec.serviceRef.port);
    }
    expect(matches(service.spec.selector, serverLabels)).toBe(true);
    expect(objects.some((o) => o.kind === 'Service' && o.spec.type === 'LoadBalancer')).toBe(false);
    // Without the lab the controller's NLB is still there.
    expect(find(synthAll(eksConfig()), 'Service', 'latency-server-nlb').spec.type).toBe('LoadBalancer');
  });

  it('names the pods themselves through a headless Service (the pod-ip path)', () => {
    const pods = find(objects, 'Service', 'latency-server-pods');
    expect(pods.spec.clusterIP).toBe('None');
    expect(matches(pods.spec.selector, serverLabels)).toBe(true);
    const podIp = lab.targets.find((t) => t.label === 'pod-ip')!;
    expect(new URL(podIp.url).hostname).toBe(`latency-server-pods.${config.namespace}.svc.cluster.local`);
  });

  it('runs the compare from a suspended CronJob with the lab paths mounted, off the latency pool', () => {
    expect(cronJob.spec).toMatchObject({ suspend: true, concurrencyPolicy: 'Forbid' });
    expect(cronJob.spec.jobTemplate.spec.backoffLimit).toBe(0);
    const [container] = pod.spec.containers;
    expect(container.image).toBe(config.images.latency);
    const args: string[] = container.command;
    expect(args.slice(0, 5)).toEqual([
      'node',
      'dist/cli.js',
      'compare',
      '--targets-file',
      '/etc/gavel/latency-lab/targets.json',
    ]);
    expect(args).toContain('--json');
    const mount = container.volumeMounts.find((m: Json) => m.mountPath === '/etc/gavel/latency-lab');
    const volume = pod.spec.volumes.find((v: Json) => v.name === mount.name);
    const configMap = find(objects, 'ConfigMap', volume.configMap.name);
    expect(JSON.parse(configMap.data['targets.json'])).toEqual(lab);
    // Pod Security "restricted".
    expect(pod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const required = pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(required.nodeSelectorTerms[0].matchExpressions).toEqual([
      { key: POOL_LABEL_KEY, operator: 'NotIn', values: [LATENCY_NODE_POOL.labels[POOL_LABEL_KEY]] },
    ]);
    // Long enough for every path in turn, with its warm-up.
    const { warmupS, durationS } = config.latencyLab!.compare;
    expect(cronJob.spec.jobTemplate.spec.activeDeadlineSeconds).toBeGreaterThan(
      lab.targets.length * (warmupS + durationS),
    );
  });

  it('lets the compare pods reach the server, the lab load balancers and the agent, and nothing more', () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    const compare = policies.find((p) => p.metadata.name === 'allow-latency-compare')!;
    expect(matches(compare.spec.podSelector.matchLabels, pod.metadata.labels)).toBe(true);
    const vpc = config.dataStores.kind === 'external' ? config.dataStores.vpcCidr : '';
    const egress = compare.spec.egress.map((r: Json) => ({
      to: r.to.map(
        (p: Json) =>
          p.ipBlock?.cidr ?? (matches(p.podSelector.matchLabels, serverLabels) ? 'latency-server pods' : p),
      ),
      ports: r.ports.map((p: Json) => p.port),
    }));
    expect(egress).toEqual([
      { to: ['latency-server pods'], ports: [LATENCY_SERVER_PORT] },
      { to: [vpc], ports: [LATENCY_SERVER_PORT] },
      { to: [lab.clientVpcCidr], ports: [LATENCY_AGENT_PORT] },
    ]);
    expect(compare.spec.ingress ?? []).toEqual([]);
    const toServer = policies.find((p) => p.metadata.name === 'allow-latency-server')!;
    const admitted = toServer.spec.ingress.flatMap((r: Json) =>
      r.from
        .filter((p: Json) => p.podSelector)
        .map((p: Json) => ({ labels: p.podSelector.matchLabels, ports: r.ports })),
    );
    expect(admitted).toContainEqual({
      labels: compare.spec.podSelector.matchLabels,
      ports: [{ port: LATENCY_SERVER_PORT, protocol: 'TCP' }],
    });
  });
});
