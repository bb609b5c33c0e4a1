import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, telemetrySettings } from '../src/index.js';
import { REPO_ROOT } from '../src/testing.js';

describe('telemetry settings (the standard OTEL_* variables)', () => {
  it('is off unless an endpoint is set or the console exporter is asked for', () => {
    expect(telemetrySettings({})).toMatchObject({ enabled: false });
    expect(telemetrySettings({ OTEL_TRACES_SAMPLER: 'always_on' })).toMatchObject({ enabled: false });
    expect(telemetrySettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toEqual({
      enabled: true,
      summary: 'OTLP http/protobuf to http://127.0.0.1:4318',
    });
    expect(
      telemetrySettings({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      }),
    ).toMatchObject({ enabled: true, summary: 'OTLP http/json to http://collector:4318/v1/traces' });
    expect(telemetrySettings({ OTEL_TRACES_EXPORTER: 'console' })).toEqual({
      enabled: true,
      summary: 'console',
    });
  });

  it('is off when disabled or told none, whatever else is set', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    expect(telemetrySettings({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toMatchObject({ enabled: false });
    expect(telemetrySettings({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toMatchObject({
      enabled: false,
    });
  });

  it('names every bad variable instead of silently tracing nothing', () => {
    let error: unknown;
    try {
      telemetrySettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml',
        OTEL_TRACES_EXPORTER: 'otlp,jaeger',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '2',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const names = (error as ConfigError).problems.map((p) => p.split(':')[0]);
    expect(names.sort()).toEqual([
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_TRACES_EXPORTER',
      'OTEL_TRACES_SAMPLER',
      'OTEL_TRACES_SAMPLER_ARG',
    ]);
  });

  it('stops a service at start (exit 2, one line naming the variable) on a bad value', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        '--import',
        '@gavel/shared/telemetry',
        '-e',
        'console.log("ran")',
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpcc' },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    expect(run.status).toBe(2);
    expect(run.stdout).not.toContain('ran');
    expect(run.stderr).toMatch(/^telemetry: invalid configuration:\n\s+OTEL_EXPORTER_OTLP_PROTOCOL: /);
  });
});
