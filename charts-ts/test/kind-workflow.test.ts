import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { LATENCY_NODE_POOL } from '@gavel/shared';
import { SERVICE_IMAGES } from '../src/image-tags.js';
import { IMAGE_PORTS } from '../src/images-plan.js';
import { KIND_IMAGE_TAG, KIND_SECRETS } from '../src/profiles.js';
import { PACKAGE_DIR } from '../src/synth-options.js';
import { find, kindConfig, synthAll } from './helpers.js';

const ROOT = join(PACKAGE_DIR, '..');
const SCRIPTS = readdirSync(join(ROOT, 'scripts'))
  .filter((f) => f.endsWith('.sh'))
  .map((f) => join(ROOT, 'scripts', f));
const kindUp = readFileSync(join(ROOT, 'scripts', 'kind-up.sh'), 'utf8');

describe('kind workflow', () => {
  // shellcheck is a Debian package (.ci/run installs it): missing, this test fails, never skips.
  it('passes shellcheck', () => {
    expect(
      spawnSync('shellcheck', ['--version']).status,
      'shellcheck is not installed (apt-get install shellcheck)',
    ).toBe(0);
    expect(SCRIPTS.length).toBeGreaterThanOrEqual(2);
    const result = spawnSync('shellcheck', ['--severity=style', ...SCRIPTS], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('runs every script in strict mode', () => {
    for (const script of SCRIPTS) {
      expect(readFileSync(script, 'utf8'), script).toMatch(/^set -euo pipefail$/m);
    }
  });

  it('creates the Secrets the kind profile references, from random bytes', () => {
    for (const { name, key } of Object.values(KIND_SECRETS)) {
      expect(kindUp).toMatch(new RegExp(`create_secret ${name} ${key}$`, 'm'));
    }
    expect(kindUp).toContain('/dev/urandom');
  });

  it('builds and loads the images the kind manifests run', () => {
    expect(kindUp).toContain(`TAG=${KIND_IMAGE_TAG}`);
    const images = new Set(
      synthAll(kindConfig())
        .filter((o) => o.kind === 'Deployment')
        .map((d) => d.spec.template.spec.containers[0].image as string),
    );
    expect([...images].sort()).toEqual(
      ['api', 'archival', 'broadcast', 'latency'].map((s) => `gavel/${s}:${KIND_IMAGE_TAG}`),
    );
    expect(kindUp).toMatch(/for image in api:8080 broadcast:8081 archival:8082 latency:8090; do/);
    expect(kindUp).toMatch(/kind load docker-image/);
  });

  it('waits for every workload the kind manifests define', () => {
    const objects = synthAll(kindConfig());
    for (const o of objects.filter((x) => x.kind === 'Deployment' || x.kind === 'StatefulSet')) {
      expect(kindUp, o.metadata.name).toContain(o.metadata.name);
    }
    expect(find(objects, 'Namespace', 'gavel')).toBeDefined();
  });

  it('labels and taints a kind node like the EKS latency pool', () => {
    const cluster = parse(readFileSync(join(ROOT, 'deploy', 'kind', 'cluster.yaml'), 'utf8'));
    const [key, value] = Object.entries(LATENCY_NODE_POOL.labels)[0]!;
    const latency = cluster.nodes.find((n: { labels?: Record<string, string> }) => n.labels?.[key] === value);
    expect(latency).toBeDefined();
    const joinConfig = parse(latency.kubeadmConfigPatches[0]);
    expect(joinConfig.nodeRegistration.taints).toEqual(LATENCY_NODE_POOL.taints);
    const controlPlane = cluster.nodes.find((n: { role: string }) => n.role === 'control-plane');
    expect(controlPlane.extraPortMappings.map((m: { hostPort: number }) => m.hostPort)).toEqual([80, 443]);
  });
});

describe('container image', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

  it('is one recipe for the four services: pinned base, production deps, non-root, node as PID 1', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-(bookworm|trixie)-slim$/m);
    expect(dockerfile).toMatch(/^ARG SERVICE$/m);
    expect(dockerfile).toMatch(/case "\$\{SERVICE\}" in api\|broadcast\|archival\|latency\)/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER 10001:10001$/m);
    expect(dockerfile).toMatch(/^EXPOSE \$\{PORT\}$/m);
    expect(dockerfile).toMatch(
      /^ENTRYPOINT \["node", "--import", "@gavel\/shared\/telemetry", "dist\/main\.js"\]$/m,
    );
    expect(dockerfile).not.toMatch(/^(CMD|ENTRYPOINT) .*npm/m);
    // The runtime assets the services read from disk travel with their dist/.
    for (const asset of ['public', 'migrations']) expect(dockerfile).toContain(asset);
    for (const service of SERVICE_IMAGES) {
      expect(
        existsSync(join(ROOT, 'services', service, 'Dockerfile')),
        `${service} has no Dockerfile of its own`,
      ).toBe(false);
    }
  });

  it('is built by kind-up.sh with each service and its port', () => {
    for (const service of SERVICE_IMAGES) expect(kindUp).toContain(`${service}:${IMAGE_PORTS[service]}`);
    expect(kindUp).toContain('--build-arg "SERVICE=$service"');
    expect(kindUp).toContain('-f "$ROOT/Dockerfile"');
  });
});
