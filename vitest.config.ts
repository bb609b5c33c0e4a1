import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Tests read workspace packages from source, as their "source" export condition points, so
// `npm test` needs no build first. One entry per workspace export.
const alias = [
  { find: /^@gavel\/shared\/testing$/, replacement: here('./packages/shared/src/testing.ts') },
  { find: /^@gavel\/shared$/, replacement: here('./packages/shared/src/index.ts') },
  { find: /^@gavel\/archival\/migrate$/, replacement: here('./services/archival/src/migrate.ts') },
];

const projects = {
  shared: 'packages/shared',
  api: 'services/api',
  archival: 'services/archival',
  broadcast: 'services/broadcast',
  latency: 'services/latency',
  cli: 'clients/cli',
  charts: 'charts-ts',
  platform: 'platform',
  scripts: 'scripts',
  faults: 'tests/faults',
  bench: 'bench',
};

/** Where a project's tests are, under its root (the fault suite has no src/ beside them). */
const includes: Partial<Record<keyof typeof projects, string[]>> = { faults: ['*.test.ts'] };

/**
 * The fault suite's files each run a whole stack on dependencies of their own: one at a time,
 * so that a 2-core machine is not asked to start a dozen services at once.
 */
const oneFileAtATime = new Set<string>(['faults']);

export default defineConfig({
  test: {
    // Most tests wait on sockets, not on the CPU: more workers than cores keeps CI short.
    maxWorkers: 4,
    projects: Object.entries(projects).map(([name, root]) => ({
      resolve: { alias },
      test: {
        name,
        root: here(`./${root}`),
        include: includes[name as keyof typeof projects] ?? ['test/**/*.test.ts'],
        ...(oneFileAtATime.has(name) ? { fileParallelism: false } : {}),
        // Generous ceilings: a test that passes is as quick as before; a loaded 2-core machine
        // (load average above 30 seen) must not fail one on time.
        testTimeout: 120_000,
        hookTimeout: 240_000,
      },
    })),
  },
});
