import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'pg-connection-string';
import { afterAll, describe, expect, it } from 'vitest';
import { databaseUrl } from '../src/k8s-secrets.js';
import { TEST_CA_BUNDLE } from './support/program.js';

/** The DATABASE_URL the platform writes, read by node-postgres's own parser as the services read it. */
describe('databaseUrl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gavel-db-url-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const caFile = join(dir, 'rds-ca-bundle.pem');
  writeFileSync(caFile, TEST_CA_BUNDLE);
  const url = databaseUrl({
    username: 'gavel_app',
    password: 'p@ss/w:rd#1?&=',
    host: 'gavel-dev-postgres.abc123.us-east-1.rds.amazonaws.com',
    port: 5432,
    name: 'gavel',
    caFile,
  });

  it('verifies the server against the CA file, which node-postgres loads itself', () => {
    const config = parse(url);
    expect(config.ssl).toMatchObject({ ca: TEST_CA_BUNDLE });
    // verify-full: the certificate chain and the host name are both checked.
    expect((config.ssl as { rejectUnauthorized?: boolean }).rejectUnauthorized).not.toBe(false);
    expect(config.host).toBe('gavel-dev-postgres.abc123.us-east-1.rds.amazonaws.com');
  });

  it('keeps credentials with URL metacharacters intact', () => {
    const config = parse(url);
    expect(config.user).toBe('gavel_app');
    expect(config.password).toBe('p@ss/w:rd#1?&=');
    expect(config.database).toBe('gavel');
  });

  it('fails loudly when the CA file is missing (the check can fail)', () => {
    expect(() =>
      parse(url.replace(encodeURIComponent(caFile), encodeURIComponent(join(dir, 'missing.pem')))),
    ).toThrow(/ENOENT/);
  });
});
