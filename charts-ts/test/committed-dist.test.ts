import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_OUT_DIR, PACKAGE_DIR, resolveTargets, synthTargets } from '../src/synth-options.js';

const manifests = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.k8s.yaml'))
    .sort();

/** CI's guard: the manifests in git are exactly what the code synthesizes today. */
describe('committed manifests', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'gavel-synth-'));
  afterAll(() => rmSync(fresh, { recursive: true, force: true }));
  synthTargets(resolveTargets({ targets: ['kind', 'eks-example'] }), fresh);

  for (const target of ['kind', 'eks-example']) {
    it(`dist/${target} equals a fresh synth (run \`npm run synth -w charts-ts\` and commit)`, () => {
      const files = manifests(join(fresh, target));
      expect(manifests(join(DEFAULT_OUT_DIR, target))).toEqual(files);
      for (const file of files) {
        const committed = readFileSync(join(DEFAULT_OUT_DIR, target, file), 'utf8');
        expect(committed, `${target}/${file}`).toBe(readFileSync(join(fresh, target, file), 'utf8'));
      }
    });
  }

  it('never commits the deployable dist/eks, platform outputs or image tags (they are per stack)', () => {
    const git = (...args: string[]) => spawnSync('git', args, { cwd: PACKAGE_DIR, encoding: 'utf8' });
    expect(git('ls-files', 'dist/eks', 'platform-outputs.json', 'images.json').stdout).toBe('');
    for (const path of ['dist/eks/30-gavel.k8s.yaml', 'platform-outputs.json', 'images.json']) {
      expect(git('check-ignore', '-q', path).status, `${path} is git-ignored`).toBe(0);
    }
    // The example says what it is, next to the files.
    expect(readFileSync(join(DEFAULT_OUT_DIR, 'eks-example', 'README.md'), 'utf8')).toMatch(
      /not for kubectl apply/i,
    );
  });
});
