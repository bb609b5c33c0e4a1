import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_OUT_DIR,
  EXAMPLE_PLATFORM_OUTPUTS,
  resolveConfigs,
  synthConfigs,
} from '../src/synth-options.js';

/** CI's guard: the manifests in git are exactly what the code synthesizes today. */
describe('committed manifests', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'gavel-synth-'));
  afterAll(() => rmSync(fresh, { recursive: true, force: true }));
  synthConfigs(resolveConfigs({ platformOutputs: EXAMPLE_PLATFORM_OUTPUTS }), fresh);

  for (const profile of ['kind', 'eks']) {
    it(`dist/${profile} equals a fresh synth (run \`npm run synth -w charts-ts\` and commit)`, () => {
      const files = readdirSync(join(fresh, profile)).sort();
      expect(readdirSync(join(DEFAULT_OUT_DIR, profile)).sort()).toEqual(files);
      for (const file of files) {
        const committed = readFileSync(join(DEFAULT_OUT_DIR, profile, file), 'utf8');
        expect(committed, `${profile}/${file}`).toBe(readFileSync(join(fresh, profile, file), 'utf8'));
      }
    });
  }
});
