import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readWeights, weightsFromFlags, WeightsError } from '../src/weights.js';
import { CLI_TIMEOUT_MS, runCli } from './cli.js';

describe('weightsFromFlags', () => {
  it('derives the other colour from one flag', () => {
    expect(weightsFromFlags({ green: '50' })).toEqual({ blue: 50, green: 50 });
    expect(weightsFromFlags({ blue: '90' })).toEqual({ blue: 90, green: 10 });
    expect(weightsFromFlags({ green: '100' })).toEqual({ blue: 0, green: 100 });
    expect(weightsFromFlags({ blue: '10', green: '90' })).toEqual({ blue: 10, green: 90 });
  });

  it.each([
    [{}, /give --blue and\/or --green/],
    [{ green: '101' }, /--green must be an integer from 0 to 100, got "101"/],
    [{ green: '-1' }, /--green must be an integer/],
    [{ green: '12.5' }, /--green must be an integer/],
    [{ green: '1e2' }, /--green must be an integer/],
    [{ blue: 'half' }, /--blue must be an integer/],
    [{ blue: '' }, /--blue must be an integer/],
    [{ blue: '60', green: '50' }, /--blue 60 and --green 50 must sum to 100/],
  ])('refuses %j', (flags, message) => {
    expect(() => weightsFromFlags(flags)).toThrow(WeightsError);
    expect(() => weightsFromFlags(flags)).toThrow(message);
  });
});

describe('the weights command', () => {
  let dir: string;
  let weightsFile: string;
  let outDir: string;
  const common = () => ['--weights-file', weightsFile, '--out', outDir];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gavel-weights-'));
    weightsFile = join(dir, 'weights.json');
    outDir = join(dir, 'dist');
    writeFileSync(weightsFile, '{"blue": 90, "green": 10}\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'stores the split and re-synthesizes kind and the eks example with it',
    () => {
      const result = runCli('weights-command', ['--green', '50', ...common()]);
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(readWeights(weightsFile)).toEqual({ blue: 50, green: 50 });

      const ingress = parse(readFileSync(join(outDir, 'eks-example', '50-ingress.k8s.yaml'), 'utf8'));
      const action = JSON.parse(
        ingress.metadata.annotations['alb.ingress.kubernetes.io/actions.broadcast-weighted'],
      );
      expect(action.forwardConfig.targetGroups.map((g: { weight: number }) => g.weight)).toEqual([50, 50]);

      const kindDocs = readFileSync(join(outDir, 'kind', '50-ingress.k8s.yaml'), 'utf8');
      expect(kindDocs).toContain('nginx.ingress.kubernetes.io/canary-weight: "50"');
    },
    CLI_TIMEOUT_MS,
  );

  it.each([
    [['--green', '101'], /--green must be an integer from 0 to 100/],
    [['--blue', '60', '--green', '50'], /must sum to 100/],
  ])(
    'refuses %j with a clear error and writes nothing',
    (args, message) => {
      const result = runCli('weights-command', [...args, ...common()]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
      expect(readWeights(weightsFile)).toEqual({ blue: 90, green: 10 });
      expect(existsSync(outDir)).toBe(false);
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'writes nothing when the eks profile cannot be built',
    () => {
      const bad = join(dir, 'bad-outputs.json');
      writeFileSync(bad, '{"stack": "dev"}');
      const result = runCli('weights-command', [
        '--green',
        '50',
        '--weights-file',
        weightsFile,
        '--out',
        outDir,
        '--platform-outputs',
        bad,
      ]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/bad shape/);
      expect(readWeights(weightsFile)).toEqual({ blue: 90, green: 10 });
      expect(existsSync(outDir)).toBe(false);
    },
    CLI_TIMEOUT_MS,
  );
});
