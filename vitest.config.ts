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
  charts: 'charts-ts',
  platform: 'platform',
};

export default defineConfig({
  test: {
    // Most tests wait on sockets, not on the CPU: more workers than cores keeps CI short.
    maxWorkers: 4,
    projects: Object.entries(projects).map(([name, root]) => ({
      resolve: { alias },
      test: {
        name,
        root: here(`./${root}`),
        include: ['test/**/*.test.ts'],
        testTimeout: 30_000,
        hookTimeout: 60_000,
      },
    })),
  },
});
