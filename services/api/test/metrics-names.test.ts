import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  REPO_ROOT,
  TestStack,
  freePort,
  spawnService,
  uniqueId,
  waitFor,
  type ServiceProcess,
} from '@gavel/shared/testing';
import { SLO_RULES } from '../../../charts-ts/src/slo-rules.js';
import { CLOUDWATCH_PROMETHEUS_METRICS } from '../../../platform/src/app-slo-alarms.js';
import { parseExposition, type MetricFamily } from './prometheus-text.js';

/**
 * Every service's /metrics, read from real processes after some traffic, against the naming
 * rules (docs/observability.md), and the dashboards against what the services export.
 */

const DASHBOARD = join(REPO_ROOT, 'deploy/grafana/gavel-overview.json');
/** The client library's standard families: named as every Node.js dashboard expects them. */
const DEFAULT_PREFIXES = ['process_', 'nodejs_'];
/** What a histogram may count, last in its name. */
const UNITS = ['seconds', 'bytes', 'events', 'messages', 'entries', 'rows'];

interface Dashboard {
  title: string;
  uid: string;
  panels: Array<{
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    datasource?: { type: string; uid: string };
    targets?: Array<{ refId: string; expr: string }>;
  }>;
  templating: { list: Array<{ name: string; type: string; query?: string }> };
}

const dashboard = () => JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/** The metric names a PromQL expression reads (histogram series mapped to their family). */
function metricsIn(expr: string): string[] {
  // Label matchers and strings are not names; strip them before looking for identifiers.
  const bare = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '');
  const names = bare.match(/\b(?:gavel|process|nodejs)_[a-z0-9_]+\b/g) ?? [];
  return [...new Set(names)];
}

describe('metric names on every service', () => {
  let stack: TestStack;
  let latency: ServiceProcess;
  const families = new Map<string, Map<string, MetricFamily>>();

  beforeAll(async () => {
    stack = await TestStack.start({
      // A machine as loaded as CI's can take minutes to start three services.
      startupMs: 300_000,
      env: { broadcast: { BROADCAST_COLOR: 'green', REPLICA_ID: 'replica-m1' } },
    });
    const port = await freePort();
    latency = await spawnService(
      'services/latency/src/main.ts',
      { PORT: String(port), HOST: '127.0.0.1' },
      {
        port,
        timeoutMs: 120_000,
      },
    );

    // Traffic, so that labelled series exist: a watcher, a bid delivered to it, a 404.
    const itemId = uniqueId('item');
    const token = await tokenFor('metrics-user');
    const ws = new WebSocket(`${stack.url('broadcast').replace('http', 'ws')}/ws?token=${token}`);
    const frames: string[] = [];
    ws.on('message', (d) => frames.push(String(d)));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    ws.send(JSON.stringify({ type: 'watch', itemId, reqId: 1 }));
    await waitFor(() => frames.some((f) => f.includes('"ack"')), { timeoutMs: 30_000, what: 'watch ack' });
    const bid = await fetch(`${stack.url('api')}/api/v1/items/${itemId}/bid`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ amount: 10 }),
    });
    expect(bid.status).toBe(201);
    await waitFor(() => frames.some((f) => f.includes('"bid"')), { timeoutMs: 30_000, what: 'the bid' });
    expect((await fetch(`${stack.url('api')}/no/such/route`)).status).toBe(404);
    // Archived (the lag histogram has a sample) before the scrape.
    await waitFor(
      async () =>
        (await (await fetch(`${stack.url('archival')}/metrics`)).text()).includes(
          'gavel_archival_lag_seconds_count{service="archival"} ',
        ),
      { timeoutMs: 60_000, what: 'the bid archived' },
    );

    for (const [service, url] of [
      ['api', stack.url('api')],
      ['broadcast', stack.url('broadcast')],
      ['archival', stack.url('archival')],
      ['latency', latency.url],
    ] as const) {
      families.set(service, parseExposition(await (await fetch(`${url}/metrics`)).text()));
    }
    ws.terminate();
  }, 700_000);

  afterAll(async () => {
    await latency?.kill();
    await stack?.stop();
  });

  async function tokenFor(userId: string): Promise<string> {
    const res = await fetch(`${stack.url('api')}/api/v1/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId }),
    });
    return ((await res.json()) as { token: string }).token;
  }

  it('one gavel_ prefix, units last, _total on counters only, no quantile label outside summaries', () => {
    const problems: string[] = [];
    for (const [service, byName] of families) {
      for (const f of byName.values()) {
        const where = `${service}: ${f.name}`;
        if (DEFAULT_PREFIXES.some((p) => f.name.startsWith(p))) continue;
        if (!/^gavel_[a-z][a-z0-9_]*[a-z0-9]$/.test(f.name)) problems.push(`${where}: not gavel_snake_case`);
        if (f.help === '') problems.push(`${where}: no HELP`);
        if (f.type === 'counter' && !f.name.endsWith('_total'))
          problems.push(`${where}: counter without _total`);
        if (f.type !== 'counter' && f.name.endsWith('_total'))
          problems.push(`${where}: ${f.type} named _total`);
        if (f.type === 'histogram' && !UNITS.some((u) => f.name.endsWith(`_${u}`)))
          problems.push(`${where}: histogram without a unit (${UNITS.join(', ')})`);
        if (f.type === 'untyped') problems.push(`${where}: untyped`);
      }
      for (const f of byName.values()) {
        if (f.type !== 'summary' && f.samples.some((s) => 'quantile' in s.labels))
          problems.push(`${service}: ${f.name}: ${f.type} with a quantile label`);
        if (f.samples.some((s) => s.labels.service !== service))
          problems.push(`${service}: ${f.name}: a sample without service="${service}"`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has what the dashboards and alarms need on each service', () => {
    const has = (service: string, name: string, labels: Record<string, string | RegExp> = {}) => {
      const f = families.get(service)?.get(name);
      expect(f, `${service} exports ${name}`).toBeDefined();
      // A labelled family nothing has counted yet (no drop, no GC so far) is declared, sampleless.
      if (Object.keys(labels).length === 0) return;
      const matches = f!.samples.some((s) =>
        Object.entries(labels).every(([k, v]) =>
          typeof v === 'string' ? s.labels[k] === v : v.test(s.labels[k] ?? ''),
        ),
      );
      expect(matches, `${service} ${name} with ${JSON.stringify(labels)}`).toBe(true);
    };
    for (const service of ['api', 'broadcast', 'archival', 'latency']) {
      // Event-loop lag and GC, from the client's default metrics.
      has(service, 'nodejs_eventloop_lag_seconds');
      has(service, 'nodejs_gc_duration_seconds');
      has(service, 'process_cpu_seconds_total');
    }
    for (const service of ['api', 'broadcast', 'archival'])
      has(service, 'gavel_http_request_duration_seconds');
    // Per route pattern, never the raw URL; unmatched requests share one series.
    has('api', 'gavel_http_request_duration_seconds', {
      route: '/api/v1/items/:id/bid',
      method: 'POST',
      status_code: '201',
    });
    has('api', 'gavel_http_request_duration_seconds', { route: 'unmatched', status_code: '404' });
    const routes = families
      .get('api')!
      .get('gavel_http_request_duration_seconds')!
      .samples.map((s) => s.labels.route);
    expect(routes.filter((r) => r?.includes('item_'))).toEqual([]);

    has('api', 'gavel_bids_total', { outcome: 'accepted' });
    has('api', 'gavel_bid_duration_seconds');
    has('api', 'gavel_outbox_entries');
    has('api', 'gavel_outbox_published_total', { result: 'ok' });
    has('broadcast', 'gavel_broadcast_connections', {
      transport: 'ws',
      replica: 'replica-m1',
      color: 'green',
    });
    has('broadcast', 'gavel_broadcast_deliveries_total', { event: 'bid' });
    has('broadcast', 'gavel_broadcast_delivery_lag_seconds', { type: 'bid.accepted' });
    has('broadcast', 'gavel_broadcast_drops_total');
    has('archival', 'gavel_archival_consumer_pending_messages');
    has('archival', 'gavel_archival_lag_seconds');
    has('archival', 'gavel_archival_messages_acked_total');
    has('latency', 'gavel_latency_echo_connections');
  });

  it('the Grafana dashboard reads only metrics the services export', () => {
    const exported = new Set([...families.values()].flatMap((byName) => [...byName.keys()]));
    const missing = dashboard().panels.flatMap((p) =>
      (p.targets ?? []).flatMap((t) =>
        metricsIn(t.expr)
          .map((n) => n.replace(/_(bucket|sum|count)$/, ''))
          .filter((n) => !exported.has(n))
          .map((n) => `${p.title}: ${n}`),
      ),
    );
    expect(missing).toEqual([]);
  });

  it('the CloudWatch alarms and dashboard, and the Prometheus SLO rules, read only metrics the services export', () => {
    const exported = new Set([...families.values()].flatMap((byName) => [...byName.keys()]));
    const missing = [
      ...Object.keys(CLOUDWATCH_PROMETHEUS_METRICS),
      ...SLO_RULES.flatMap((r) => metricsIn(r.expr)),
    ]
      .map((n) => n.replace(/_(bucket|sum|count)$/, ''))
      .filter((n) => !exported.has(n));
    expect(missing).toEqual([]);
  });
});

describe('the Grafana dashboard', () => {
  it('parses, and every panel is placed, typed and queries Prometheus through the datasource variable', () => {
    const d = dashboard();
    expect(d.title).toBe('Gavel');
    expect(d.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(d.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const ids = d.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of d.panels) {
      expect(['timeseries', 'stat', 'row'], p.title).toContain(p.type);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === 'row') continue;
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        // Balanced brackets and at least one Gavel or runtime metric per query.
        for (const [open, close] of ['()', '{}', '[]']) {
          expect(t.expr.split(open!).length, `${p.title}: ${t.expr}`).toBe(t.expr.split(close!).length);
        }
        expect(metricsIn(t.expr).length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
      }
    }
    // The signals operators asked for, each on a panel.
    const titles = d.panels.map((p) => p.title).join('\n');
    for (const signal of [
      /bids\/s/i,
      /bid latency/i,
      /deliveries\/s/i,
      /fan-out latency/i,
      /consumer lag/i,
      /outbox depth/i,
      /connections/i,
      /error/i,
    ])
      expect(titles).toMatch(signal);
  });
});
