#!/usr/bin/env node
// `gavel` runs from a build (dist/) when there is one, otherwise straight from the TypeScript source
// through tsx, so that it works right after `npm ci`.
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  // Workspace packages publish their TypeScript source under the "source" export condition (the
  // one tests use); without a build, resolve @gavel/* through it.
  const sourceCondition = `export async function resolve(specifier, context, next) {
    if (specifier.startsWith('@gavel/') && !context.conditions.includes('source')) {
      return next(specifier, { ...context, conditions: ['source', ...context.conditions] });
    }
    return next(specifier, context);
  }`;
  registerHooks(`data:text/javascript,${encodeURIComponent(sourceCondition)}`);
  await import('../src/cli/main.ts');
}
