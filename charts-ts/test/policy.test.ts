import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LATENCY_NODE_POOL } from '@gavel/shared';
import { BROADCAST_ACTION } from '../src/charts/ingress-chart.js';
import { DEFAULT_WEIGHTS_FILE } from '../src/synth-options.js';
import {
  eksConfig,
  find,
  kindConfig,
  podSpec,
  PROFILES,
  synthAll,
  WORKLOAD_KINDS,
  type K8sObject,
} from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const workloads = (objects: readonly K8sObject[]) => objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
const containersOf = (w: K8sObject): Json[] => [
  ...(podSpec(w).initContainers ?? []),
  ...podSpec(w).containers,
];
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const envOf = (container: Json): Record<string, Json> =>
  Object.fromEntries((container.env ?? []).map((e: Json) => [e.name, e]));

describe.each(PROFILES)('policy: %s profile', (profile, config) => {
  const objects = synthAll(config());
  const namespace = config().namespace;

  it('has the expected workloads', () => {
    const names = workloads(objects).map((w) => `${w.kind}/${w.metadata.name}`);
    for (const name of [
      'Deployment/api',
      'Deployment/broadcast-blue',
      'Deployment/broadcast-green',
      'Deployment/archival',
      'Deployment/latency-server',
      'Deployment/latency-client',
      'StatefulSet/nats',
    ]) {
      expect(names).toContain(name);
    }
  });

  it('puts every namespaced object in the namespace', () => {
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(namespace);
    }
  });

  it('scales every Deployment with an autoscaling/v2 HPA', () => {
    const hpas = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      const hpa = hpas.find(
        (h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === d.metadata.name,
      );
      expect(hpa, `HPA for ${d.metadata.name}`).toBeDefined();
      expect(hpa!.apiVersion).toBe('autoscaling/v2');
      expect(hpa!.spec.metrics.length).toBeGreaterThan(0);
      // The HPA owns the replica count; a fixed one would be reset on every apply.
      expect(d.spec.replicas).toBeUndefined();
    }
  });

  it('scales api on CPU 70%, broadcast on CPU 60% and memory 70%', () => {
    const targets = (name: string) =>
      find(objects, 'HorizontalPodAutoscaler', name).spec.metrics.map(
        (m: Json) => `${m.resource.name}:${m.resource.target.averageUtilization}`,
      );
    expect(targets('api')).toEqual(['cpu:70']);
    expect(targets('broadcast-blue')).toEqual(['cpu:60', 'memory:70']);
    expect(targets('broadcast-green')).toEqual(['cpu:60', 'memory:70']);
  });

  it('sizes every volume claim', () => {
    const statefulSets = objects.filter((o) => o.kind === 'StatefulSet');
    expect(statefulSets.length).toBeGreaterThan(0);
    for (const sts of statefulSets) {
      for (const claim of sts.spec.volumeClaimTemplates) {
        expect(claim.spec.resources.requests.storage, sts.metadata.name).toMatch(/^\d+Gi$/);
      }
    }
  });

  it('gives every container probes, requests and limits', () => {
    for (const w of workloads(objects)) {
      for (const c of podSpec(w).containers) {
        const where = `${w.metadata.name}/${c.name}`;
        expect(c.livenessProbe, where).toBeDefined();
        expect(c.readinessProbe, where).toBeDefined();
        for (const r of ['cpu', 'memory']) {
          expect(c.resources?.requests?.[r], `${where} request ${r}`).toBeDefined();
          expect(c.resources?.limits?.[r], `${where} limit ${r}`).toBeDefined();
        }
      }
    }
  });

  it('probes /livez and /readyz on the Gavel services', () => {
    for (const name of [
      'api',
      'broadcast-blue',
      'broadcast-green',
      'archival',
      'latency-server',
      'latency-client',
    ]) {
      const [c] = podSpec(find(objects, 'Deployment', name)).containers;
      expect(c.livenessProbe.httpGet.path).toBe('/livez');
      expect(c.readinessProbe.httpGet.path).toBe('/readyz');
      expect(c.livenessProbe.httpGet.port).toBe(c.ports[0].containerPort);
    }
  });

  it('runs every pod under Pod Security "restricted"', () => {
    for (const w of workloads(objects)) {
      const spec = podSpec(w);
      expect(spec.securityContext.runAsNonRoot, w.metadata.name).toBe(true);
      expect(spec.securityContext.seccompProfile, w.metadata.name).toEqual({ type: 'RuntimeDefault' });
      expect(spec.automountServiceAccountToken, w.metadata.name).toBe(false);
      expect(spec.hostNetwork ?? false).toBe(false);
      for (const c of containersOf(w)) {
        const where = `${w.metadata.name}/${c.name}`;
        const sc = c.securityContext;
        expect(sc.allowPrivilegeEscalation, where).toBe(false);
        expect(sc.privileged ?? false, where).toBe(false);
        expect(sc.readOnlyRootFilesystem, where).toBe(true);
        expect(sc.capabilities, where).toEqual({ drop: ['ALL'] });
        expect(sc.runAsUser ?? spec.securityContext.runAsUser, where).toBeGreaterThan(0);
        // A read-only root needs somewhere to write temporary files.
        expect(
          c.volumeMounts.map((m: Json) => m.mountPath),
          where,
        ).toContain('/tmp');
      }
    }
  });

  it('gives each Gavel service its own ServiceAccount without a token', () => {
    for (const d of objects.filter((o) => o.kind === 'Deployment')) {
      const sa = find(objects, 'ServiceAccount', podSpec(d).serviceAccountName);
      expect(sa.metadata.name).toBe(d.metadata.name);
      expect(sa.automountServiceAccountToken).toBe(false);
    }
  });

  it('protects api, both broadcast colours and NATS with PodDisruptionBudgets', () => {
    for (const [kind, name] of [
      ['Deployment', 'api'],
      ['Deployment', 'broadcast-blue'],
      ['Deployment', 'broadcast-green'],
      ['StatefulSet', 'nats'],
    ] as const) {
      const workload = find(objects, kind, name);
      const pdb = find(objects, 'PodDisruptionBudget', name);
      expect(pdb.spec.maxUnavailable).toBe(1);
      expect(matches(pdb.spec.selector.matchLabels, workload.spec.template.metadata.labels)).toBe(true);
    }
  });

  it('denies all traffic by default and allows DNS', () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    const deny = policies.find((p) => p.metadata.name === 'default-deny')!;
    expect(deny.spec.podSelector).toEqual({});
    expect([...deny.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
    expect(deny.spec.ingress ?? []).toEqual([]);
    expect(deny.spec.egress ?? []).toEqual([]);
    const dns = policies.find((p) => p.metadata.name === 'allow-dns')!;
    expect(dns.spec.podSelector).toEqual({});
    expect(dns.spec.egress[0].ports.map((p: Json) => `${p.protocol}/${p.port}`).sort()).toEqual([
      'TCP/53',
      'UDP/53',
    ]);
  });

  it('gives every workload an explicit allow policy', () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy' && o.spec.podSelector.matchLabels);
    for (const w of workloads(objects)) {
      const selected = policies.filter((p) =>
        matches(p.spec.podSelector.matchLabels, w.spec.template.metadata.labels),
      );
      expect(selected.length, w.metadata.name).toBeGreaterThan(0);
    }
  });

  it('lets api reach Redis, PostgreSQL and NATS, and NATS nodes reach each other', () => {
    const egressPorts = (name: string) =>
      find(objects, 'NetworkPolicy', name).spec.egress.flatMap((r: Json) => r.ports.map((p: Json) => p.port));
    expect(egressPorts('allow-api')).toEqual(expect.arrayContaining([6379, 5432, 4222]));
    expect(egressPorts('allow-nats')).toEqual([6222]);
    const natsIngress = find(objects, 'NetworkPolicy', 'allow-nats').spec.ingress.flatMap((r: Json) =>
      r.ports.map((p: Json) => p.port),
    );
    expect(natsIngress).toEqual(expect.arrayContaining([4222, 6222]));
    // Monitoring is admitted only from a scraper namespace the profile knows of.
    expect(natsIngress.includes(8222)).toBe(config().metricsNamespace !== undefined);
  });

  it('gives each service only the variables it reads (archival has no Redis)', () => {
    const names = (d: string) =>
      (podSpec(find(objects, 'Deployment', d)).containers[0].env ?? []).map((e: Json) => e.name);
    expect(names('archival')).not.toContain('REDIS_URL');
    expect(names('archival')).not.toContain('REDIS_PREFIX');
    expect(names('archival')).toContain('DATABASE_URL');
    expect(names('api')).toEqual(expect.arrayContaining(['REDIS_URL', 'DATABASE_URL', 'NATS_URL']));
  });

  it('deregisters from load balancers before stopping: preStop sleep shorter than the grace period', () => {
    for (const name of ['api', 'broadcast-blue', 'broadcast-green', 'latency-server']) {
      const spec = podSpec(find(objects, 'Deployment', name));
      const [cmd, seconds] = spec.containers[0].lifecycle.preStop.exec.command;
      expect(cmd, name).toBe('sleep');
      expect(Number(seconds), name).toBeGreaterThanOrEqual(10);
      expect(spec.terminationGracePeriodSeconds ?? 30, name).toBeGreaterThan(Number(seconds));
    }
  });

  it('runs NATS with a full-health startup probe, spread one per node, and no advertised pod IPs', () => {
    const sts = find(objects, 'StatefulSet', 'nats');
    const c = podSpec(sts).containers[0];
    expect(c.startupProbe.httpGet.path).toBe('/healthz');
    expect(c.livenessProbe.httpGet.path).toBe('/healthz?js-enabled-only=true');
    expect(c.readinessProbe.httpGet.path).toBe('/healthz?js-server-only=true');
    const spread = podSpec(sts).topologySpreadConstraints;
    const keys = spread.map((t: Json) => t.topologyKey);
    expect(keys).toContain('kubernetes.io/hostname');
    expect(keys.includes('topology.kubernetes.io/zone')).toBe(profile === 'eks');
    for (const t of spread) {
      expect(t).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule', nodeTaintsPolicy: 'Honor' });
      expect(matches(t.labelSelector.matchLabels, sts.spec.template.metadata.labels)).toBe(true);
    }
    expect(find(objects, 'ConfigMap', 'nats-config').data['nats.conf']).toMatch(/^\s*no_advertise: true$/m);
  });

  it('never scales the latency server past one pod per latency node', () => {
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'latency-server');
    expect(hpa.spec.minReplicas).toBe(1);
    expect(hpa.spec.maxReplicas).toBe(config().sizing.latencyServer.replicas.max);
  });

  it('pins the latency server to the latency pool, one pod per node', () => {
    const spec = podSpec(find(objects, 'Deployment', 'latency-server'));
    const pool = config().latencyPool;
    expect(spec.nodeSelector).toEqual(pool.labels);
    for (const taint of pool.taints) {
      expect(spec.tolerations).toContainEqual(
        expect.objectContaining({
          key: taint.key,
          value: taint.value,
          effect: taint.effect,
          operator: 'Equal',
        }),
      );
    }
    const anti = spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(anti).toHaveLength(1);
    expect(anti[0].topologyKey).toBe('kubernetes.io/hostname');
    expect(
      matches(
        anti[0].labelSelector.matchLabels,
        find(objects, 'Deployment', 'latency-server').spec.template.metadata.labels,
      ),
    ).toBe(true);
  });

  it('keeps the latency client off the latency pool', () => {
    const spec = podSpec(find(objects, 'Deployment', 'latency-client'));
    const terms = spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    const expressions = terms.flatMap((t: Json) => t.matchExpressions);
    for (const [key, value] of Object.entries(LATENCY_NODE_POOL.labels)) {
      expect(expressions).toContainEqual({ key, operator: 'NotIn', values: [value] });
    }
    expect(spec.nodeSelector).toBeUndefined();
    expect(JSON.stringify(spec.tolerations ?? [])).not.toContain(LATENCY_NODE_POOL.taints[0]!.value);
  });

  it('keeps secrets out of the manifests: only Secret references', () => {
    const credentialUrl = /^[a-z]+:\/\/[^/@\s]*:[^/@\s]+@/i;
    const sensitive = /SECRET|PASSWORD|PASSWD|TOKEN(?!S$)|CREDENTIAL|PRIVATE_KEY/i;
    expect(objects.some((o) => o.kind === 'Secret')).toBe(false);
    for (const w of workloads(objects)) {
      for (const c of containersOf(w)) {
        for (const e of c.env ?? []) {
          const where = `${w.metadata.name}/${c.name} ${e.name}`;
          if (sensitive.test(e.name)) expect(e.valueFrom?.secretKeyRef, where).toBeDefined();
          if (e.value !== undefined) expect(e.value, where).not.toMatch(credentialUrl);
        }
      }
    }
    for (const cm of objects.filter((o) => o.kind === 'ConfigMap')) {
      for (const [key, value] of Object.entries(cm.data ?? {})) {
        expect(key, `${cm.metadata.name}.${key}`).not.toMatch(sensitive);
        expect(value as string, `${cm.metadata.name}.${key}`).not.toMatch(credentialUrl);
      }
    }
  });

  it('takes AUTH_SECRET from a Secret in every service that verifies tokens', () => {
    for (const name of ['api', 'broadcast-blue', 'broadcast-green']) {
      const env = envOf(podSpec(find(objects, 'Deployment', name)).containers[0]);
      expect(env.AUTH_SECRET.valueFrom.secretKeyRef).toEqual(config().authSecret);
    }
  });

  it('wires services by name: URLs point at Services that exist', () => {
    const cm = find(objects, 'ConfigMap', 'gavel-config');
    const services = new Set(objects.filter((o) => o.kind === 'Service').map((s) => s.metadata.name));
    expect(services.has(new URL(cm.data.NATS_URL).hostname)).toBe(true);
    for (const key of ['REDIS_URL', 'DATABASE_URL']) {
      if (cm.data[key]) expect(services.has(new URL(cm.data[key]).hostname), key).toBe(true);
    }
    // Services with a selector select some workload's pods.
    const podLabels = workloads(objects).map((w) => w.spec.template.metadata.labels);
    for (const svc of objects.filter((o) => o.kind === 'Service' && o.spec.selector)) {
      expect(
        podLabels.some((l) => matches(svc.spec.selector, l)),
        svc.metadata.name,
      ).toBe(true);
    }
    // Every Service the env names (NATS, redis, postgres) exists in both profiles.
    for (const name of ['nats', 'redis', 'postgres']) expect(services.has(name), name).toBe(true);
  });

  it('drains broadcast pods: preStop sleep and a grace period longer than the drain', () => {
    const drain = Number(find(objects, 'ConfigMap', 'gavel-config').data.DRAIN_TIMEOUT_S);
    expect(drain).toBeGreaterThan(0);
    for (const name of ['broadcast-blue', 'broadcast-green']) {
      const spec = podSpec(find(objects, 'Deployment', name));
      const sleep = Number(spec.containers[0].lifecycle.preStop.exec.command[1]);
      expect(spec.containers[0].lifecycle.preStop.exec.command[0]).toBe('sleep');
      expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(drain + sleep);
      expect(envOf(spec.containers[0]).BROADCAST_COLOR.value).toBe(name.replace('broadcast-', ''));
    }
  });

  it('configures NATS as a 3-node JetStream cluster with volumes and durable writes', () => {
    const sts = find(objects, 'StatefulSet', 'nats');
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
    expect(podSpec(sts).containers[0].volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    const headless = find(objects, 'Service', sts.spec.serviceName);
    expect(headless.spec.clusterIP).toBe('None');
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    const conf: string = find(objects, 'ConfigMap', 'nats-config').data['nats.conf'];
    expect(conf).toMatch(/^\s*sync_interval: always$/m);
    for (let i = 0; i < 3; i++) expect(conf).toContain(`nats://nats-${i}.${headless.metadata.name}:6222`);
    expect(find(objects, 'Service', 'nats').spec.ports.map((p: Json) => p.port)).toEqual([4222, 8222]);
  });

  it('splits blue/green as weights.json says', () => {
    const weights = JSON.parse(readFileSync(DEFAULT_WEIGHTS_FILE, 'utf8'));
    expect(weights.blue + weights.green).toBe(100);
    const ingresses = objects.filter((o) => o.kind === 'Ingress');
    if (profile === 'eks') {
      const action = JSON.parse(
        ingresses[0]!.metadata.annotations![`alb.ingress.kubernetes.io/actions.${BROADCAST_ACTION}`]!,
      );
      const groups = action.forwardConfig.targetGroups;
      expect(groups.reduce((sum: number, g: Json) => sum + g.weight, 0)).toBe(100);
      expect(
        Object.fromEntries(groups.map((g: Json) => [g.serviceName.replace('broadcast-', ''), g.weight])),
      ).toEqual(weights);
    } else {
      const canary = ingresses.find(
        (i) => i.metadata.annotations?.['nginx.ingress.kubernetes.io/canary'] === 'true',
      )!;
      expect(canary.metadata.annotations!['nginx.ingress.kubernetes.io/canary-weight']).toBe(
        String(weights.green),
      );
    }
  });
});

describe('policy: profile differences', () => {
  const kind = synthAll(kindConfig());
  const eks = synthAll(eksConfig());

  it('has no AWS annotations, classes or images in kind', () => {
    const text = JSON.stringify(kind);
    expect(text).not.toMatch(
      /amazonaws\.com|alb\.ingress\.kubernetes\.io|service\.beta\.kubernetes\.io\/aws|arn:aws/,
    );
    expect(kind.filter((o) => o.kind === 'Ingress').map((i) => i.spec.ingressClassName)).toEqual([
      'nginx',
      'nginx',
    ]);
    expect(kind.some((o) => o.spec?.type === 'LoadBalancer')).toBe(false);
  });

  it('runs Redis and PostgreSQL in kind, ExternalName Services on eks', () => {
    expect(find(kind, 'StatefulSet', 'redis')).toBeDefined();
    expect(find(kind, 'StatefulSet', 'postgres')).toBeDefined();
    const cfg = eksConfig();
    if (cfg.dataStores.kind !== 'external') throw new Error('eks must use external stores');
    expect(find(eks, 'Service', 'redis').spec).toMatchObject({
      type: 'ExternalName',
      externalName: cfg.dataStores.redis.host,
    });
    expect(find(eks, 'Service', 'postgres').spec).toMatchObject({
      type: 'ExternalName',
      externalName: cfg.dataStores.postgres.host,
    });
    expect(eks.some((o) => o.kind === 'StatefulSet' && o.metadata.name !== 'nats')).toBe(false);
  });

  it('turns dev tokens and auto-opening off on eks, on in kind', () => {
    expect(find(eks, 'ConfigMap', 'gavel-config').data).toMatchObject({
      DEV_TOKENS: 'false',
      AUTO_OPEN_ITEMS: 'false',
    });
    expect(find(kind, 'ConfigMap', 'gavel-config').data).toMatchObject({
      DEV_TOKENS: 'true',
      AUTO_OPEN_ITEMS: 'true',
    });
    const api = envOf(podSpec(find(eks, 'Deployment', 'api')).containers[0]);
    expect(api.DEV_TOKENS.valueFrom.configMapKeyRef.name).toBe('gavel-config');
  });

  it('takes DATABASE_URL and REDIS_URL from the platform Secrets on eks', () => {
    const cfg = eksConfig();
    if (cfg.dataStores.kind !== 'external') throw new Error('eks must use external stores');
    const env = envOf(podSpec(find(eks, 'Deployment', 'api')).containers[0]);
    expect(env.DATABASE_URL.valueFrom.secretKeyRef).toEqual(cfg.dataStores.databaseUrl);
    expect(env.REDIS_URL.valueFrom.secretKeyRef).toEqual(cfg.dataStores.redisUrl);
  });

  it('labels the kind Namespace for Pod Security "restricted" (eks: the platform owns it)', () => {
    const ns = find(kind, 'Namespace', 'gavel');
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'v1.33',
    });
    expect(eks.some((o) => o.kind === 'Namespace')).toBe(false);
  });

  it('names the platform StorageClass in every eks volume claim (kind: the cluster default)', () => {
    for (const sts of eks.filter((o) => o.kind === 'StatefulSet')) {
      for (const claim of sts.spec.volumeClaimTemplates)
        expect(claim.spec.storageClassName).toBe('gp3-encrypted');
    }
    for (const sts of kind.filter((o) => o.kind === 'StatefulSet')) {
      for (const claim of sts.spec.volumeClaimTemplates) expect(claim.spec.storageClassName).toBeUndefined();
    }
  });

  it('keeps eks address blocks to the VPC, except the latency client measuring public load balancers', () => {
    const vpc = eksConfig().dataStores;
    if (vpc.kind !== 'external') throw new Error('eks must use external stores');
    for (const policy of eks.filter((o) => o.kind === 'NetworkPolicy')) {
      const rules = [
        ...(policy.spec.ingress ?? []).map((r: Json) => ({ peers: r.from ?? [], ports: r.ports })),
        ...(policy.spec.egress ?? []).map((r: Json) => ({ peers: r.to ?? [], ports: r.ports })),
      ];
      for (const { peers, ports } of rules) {
        for (const cidr of peers.map((p: Json) => p.ipBlock?.cidr).filter(Boolean)) {
          if (cidr === vpc.vpcCidr) continue;
          expect(policy.metadata.name, cidr).toBe('allow-latency-client');
          expect([80, 443, 8090]).toEqual(expect.arrayContaining(ports.map((p: Json) => p.port)));
        }
      }
    }
  });

  it('verifies PostgreSQL on eks: every pod that reads DATABASE_URL mounts the RDS CA bundle', () => {
    const cfg = eksConfig();
    if (cfg.dataStores.kind !== 'external') throw new Error('eks must use external stores');
    const ca = cfg.dataStores.databaseCa;
    for (const w of workloads(eks)) {
      const c = podSpec(w).containers[0];
      if (!(c.env ?? []).some((e: Json) => e.name === 'DATABASE_URL')) continue;
      const mount = c.volumeMounts.find((m: Json) => m.mountPath === ca.mountPath);
      expect(mount?.readOnly, w.metadata.name).toBe(true);
      const volume = podSpec(w).volumes.find((v: Json) => v.name === mount.name);
      expect(volume.configMap.name).toBe(ca.configMapName);
    }
  });

  it('pins broadcast to the platform allowed Origins on eks, any Origin only on kind', () => {
    const origins = (objects: K8sObject[]) => find(objects, 'ConfigMap', 'gavel-config').data.ALLOWED_ORIGINS;
    expect(origins(eks)).toBe('https://gavel.example.com');
    expect(
      envOf(podSpec(find(eks, 'Deployment', 'broadcast-blue')).containers[0]).ALLOWED_ORIGINS,
    ).toBeDefined();
    expect(origins(kind)).toBeUndefined();
  });

  it('runs the latency server Guaranteed on whole cores on eks', () => {
    const { resources } = podSpec(find(eks, 'Deployment', 'latency-server')).containers[0];
    expect(resources.requests).toEqual(resources.limits);
    const cpu = String(resources.requests.cpu);
    const millis = cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000;
    expect(millis % 1000).toBe(0);
    expect(millis).toBeGreaterThanOrEqual(2000);
  });

  it('fronts the latency server with an NLB on eks only', () => {
    const nlb = find(eks, 'Service', 'latency-server-nlb');
    expect(nlb.spec.type).toBe('LoadBalancer');
    expect(nlb.metadata.annotations).toMatchObject({
      'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
      'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
      'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing',
      'service.beta.kubernetes.io/aws-load-balancer-attributes': 'load_balancing.cross_zone.enabled=true',
      'service.beta.kubernetes.io/aws-load-balancer-target-group-attributes':
        'preserve_client_ip.enabled=false',
    });
    expect(find(eks, 'Service', 'latency-server').spec.type).toBe('ClusterIP');
  });
});

describe('policy: optional autoscaling integrations', () => {
  it('replaces the archival HPA with a KEDA ScaledObject when KEDA is enabled', () => {
    const objects = synthAll(eksConfig({ keda: true }));
    expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'archival')).toBe(
      false,
    );
    const scaled = find(objects, 'ScaledObject', 'archival');
    expect(scaled.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'archival',
    });
    expect(scaled.spec.triggers[0]).toMatchObject({
      type: 'nats-jetstream',
      metadata: {
        stream: 'GAVEL',
        consumer: 'archival',
        natsServerMonitoringEndpoint: 'nats.gavel.svc:8222',
      },
    });
    expect(find(objects, 'Deployment', 'archival').spec.replicas).toBeUndefined();
    // KEDA's operator may read NATS monitoring.
    const natsIngress = JSON.stringify(find(objects, 'NetworkPolicy', 'allow-nats').spec.ingress);
    expect(natsIngress).toContain('"kubernetes.io/metadata.name":"keda"');
  });

  it('adds the requests-per-pod metric to the api HPA only with a metrics adapter', () => {
    const without = find(synthAll(eksConfig()), 'HorizontalPodAutoscaler', 'api').spec.metrics;
    expect(without.some((m: Json) => m.type === 'Pods')).toBe(false);
    const withAdapter = find(synthAll(eksConfig({ metricsAdapter: true })), 'HorizontalPodAutoscaler', 'api')
      .spec.metrics;
    expect(withAdapter).toContainEqual({
      type: 'Pods',
      pods: {
        metric: { name: 'http_requests_per_second' },
        target: { type: 'AverageValue', averageValue: 200 },
      },
    });
  });
});
