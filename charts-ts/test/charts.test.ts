import { describe, expect, it } from 'vitest';
import { eksProfile } from '../src/profiles.js';
import { readPlatformOutputs } from '../src/platform-outputs.js';
import { EXAMPLE_PLATFORM_OUTPUTS } from '../src/synth-options.js';
import { eksConfig, find, kindConfig, podSpec, PROFILES, synthAll, synthCharts } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe.each(PROFILES)('snapshots: %s profile', (_profile, config) => {
  const charts = synthCharts(config());
  for (const [id, objects] of charts) {
    it(`chart ${id}`, () => {
      expect(objects).toMatchSnapshot();
    });
  }
});

describe('ingress chart', () => {
  it('eks: ALB with ip targets, WebSocket idle timeout, TLS, redirect and path routing', () => {
    const alb = find(synthAll(eksConfig()), 'Ingress', 'gavel');
    expect(alb.spec.ingressClassName).toBe('alb');
    expect(alb.metadata.annotations).toMatchObject({
      'alb.ingress.kubernetes.io/target-type': 'ip',
      'alb.ingress.kubernetes.io/load-balancer-attributes': 'idle_timeout.timeout_seconds=300',
      'alb.ingress.kubernetes.io/ssl-redirect': '443',
      'alb.ingress.kubernetes.io/healthcheck-path': '/readyz',
      'alb.ingress.kubernetes.io/certificate-arn':
        readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS).certificateArn,
      'alb.ingress.kubernetes.io/listen-ports': '[{"HTTP":80},{"HTTPS":443}]',
    });
    const paths = alb.spec.rules[0].http.paths.map((p: Json) => [p.path, p.backend.service.name]);
    expect(paths).toEqual([
      ['/api', 'api'],
      ['/socket.io', 'broadcast-weighted'],
      ['/ws', 'broadcast-weighted'],
      ['/', 'api'],
    ]);
    const action = JSON.parse(
      alb.metadata.annotations['alb.ingress.kubernetes.io/actions.broadcast-weighted']!,
    );
    expect(action.type).toBe('forward');
    expect(action.forwardConfig.targetGroupStickinessConfig).toEqual({
      enabled: true,
      durationSeconds: 3600,
    });
    expect(action.forwardConfig.targetGroups.map((g: Json) => [g.serviceName, g.servicePort])).toEqual([
      ['broadcast-blue', '8081'],
      ['broadcast-green', '8081'],
    ]);
  });

  it('eks without a certificate: HTTP only, no redirect', () => {
    const outputs = readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS);
    const { certificateArn: _dropped, ...withoutCert } = outputs;
    const config = eksProfile(withoutCert, { weights: { blue: 90, green: 10 }, imageTag: 't' });
    const alb = find(synthAll(config), 'Ingress', 'gavel');
    expect(alb.metadata.annotations['alb.ingress.kubernetes.io/listen-ports']).toBe('[{"HTTP":80}]');
    expect(alb.metadata.annotations['alb.ingress.kubernetes.io/ssl-redirect']).toBeUndefined();
    expect(alb.metadata.annotations['alb.ingress.kubernetes.io/certificate-arn']).toBeUndefined();
  });

  it('eks: broadcast target groups are sticky and deregister after the drain', () => {
    const objects = synthAll(eksConfig());
    for (const name of ['broadcast-blue', 'broadcast-green']) {
      const attrs = find(objects, 'Service', name).metadata.annotations[
        'alb.ingress.kubernetes.io/target-group-attributes'
      ];
      expect(attrs).toContain('stickiness.enabled=true');
      expect(attrs).toContain('deregistration_delay.timeout_seconds=30');
    }
  });

  it('kind: ingress-nginx with long proxy timeouts and green as a weighted canary', () => {
    const objects = synthAll(kindConfig());
    const main = find(objects, 'Ingress', 'gavel');
    expect(main.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('300');
    // ingress-nginx matches the longest prefix, so the order of paths does not matter here.
    expect(main.spec.rules[0].http.paths.map((p: Json) => [p.path, p.backend.service.name]).sort()).toEqual([
      ['/', 'api'],
      ['/api', 'api'],
      ['/socket.io', 'broadcast-blue'],
      ['/ws', 'broadcast-blue'],
    ]);
    const canary = find(objects, 'Ingress', 'gavel-green');
    expect(canary.spec.rules[0].http.paths.map((p: Json) => p.backend.service.name)).toEqual([
      'broadcast-green',
      'broadcast-green',
    ]);
  });
});

describe('data stores chart (kind)', () => {
  const objects = synthAll(kindConfig());

  it('runs PostgreSQL with its password from the kind Secret and a volume', () => {
    const pg = find(objects, 'StatefulSet', 'postgres');
    const env = Object.fromEntries(podSpec(pg).containers[0].env.map((e: Json) => [e.name, e]));
    expect(env.POSTGRES_PASSWORD.valueFrom.secretKeyRef).toEqual({
      name: 'gavel-postgres',
      key: 'POSTGRES_PASSWORD',
    });
    expect(pg.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1Gi');
    expect(podSpec(pg).containers[0].readinessProbe.exec.command[0]).toBe('pg_isready');
  });

  it('runs Redis with an append-only file', () => {
    const redis = find(objects, 'StatefulSet', 'redis');
    expect(podSpec(redis).containers[0].args).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
  });

  it('gives services PGPASSWORD from the Secret, never a password in DATABASE_URL', () => {
    const api = podSpec(find(objects, 'Deployment', 'api')).containers[0];
    const pgPassword = api.env.find((e: Json) => e.name === 'PGPASSWORD');
    expect(pgPassword.valueFrom.secretKeyRef.name).toBe('gavel-postgres');
    expect(find(objects, 'ConfigMap', 'gavel-config').data.DATABASE_URL).toBe(
      'postgres://postgres@postgres:5432/gavel',
    );
  });
});

describe('latency chart', () => {
  it('runs the client as the latency image with the cli entry against the ClusterIP Service', () => {
    const objects = synthAll(eksConfig());
    const client = podSpec(find(objects, 'Deployment', 'latency-client')).containers[0];
    const server = podSpec(find(objects, 'Deployment', 'latency-server')).containers[0];
    expect(client.image).toBe(server.image);
    expect(client.command.slice(0, 3)).toEqual(['node', 'dist/cli.js', 'run']);
    expect(client.command).toEqual(
      expect.arrayContaining(['--target', 'ws://latency-server:8090/echo', '--loop']),
    );
    expect(client.command).toEqual(expect.arrayContaining(['--serve-metrics', '9464']));
    expect(client.readinessProbe.httpGet.port).toBe(9464);
  });

  it('makes the NLB internal when asked', () => {
    const outputs = readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS);
    const config = eksProfile(outputs, {
      weights: { blue: 100, green: 0 },
      imageTag: 't',
      latencyNlbScheme: 'internal',
    });
    const nlb = find(synthAll(config), 'Service', 'latency-server-nlb');
    expect(nlb.metadata.annotations['service.beta.kubernetes.io/aws-load-balancer-scheme']).toBe('internal');
  });

  it('prefers a dedicated client pool when the platform has one', () => {
    const outputs = readPlatformOutputs(EXAMPLE_PLATFORM_OUTPUTS);
    const withClients = {
      ...outputs,
      nodePools: {
        ...outputs.nodePools,
        latencyClients: {
          labels: { 'gavel.io/pool': 'latency-clients' },
          taints: [{ key: 'gavel.io/pool', value: 'latency-clients', effect: 'NoSchedule' as const }],
          maxSize: 2,
        },
      },
    };
    const config = eksProfile(withClients, { weights: { blue: 100, green: 0 }, imageTag: 't' });
    const spec = podSpec(find(synthAll(config), 'Deployment', 'latency-client'));
    const preferred = spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution;
    expect(preferred[0].preference.matchExpressions[0]).toEqual({
      key: 'gavel.io/pool',
      operator: 'In',
      values: ['latency-clients'],
    });
    expect(spec.tolerations).toContainEqual(expect.objectContaining({ value: 'latency-clients' }));
  });
});

describe('nats chart', () => {
  it('probes JetStream health on the monitoring port and enters lame-duck mode before stopping', () => {
    const nats = podSpec(find(synthAll(kindConfig()), 'StatefulSet', 'nats'));
    const c = nats.containers[0];
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz?js-enabled-only=true', port: 8222 });
    expect(c.lifecycle.preStop.exec.command).toEqual([
      'nats-server',
      '--signal',
      'ldm=/var/run/nats/nats.pid',
    ]);
    expect(c.env.find((e: Json) => e.name === 'POD_NAME').valueFrom.fieldRef.fieldPath).toBe('metadata.name');
    expect(c.image).toMatch(/^nats:2\.10\.\d+-alpine$/);
  });
});
