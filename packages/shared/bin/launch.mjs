// The one way a Gavel command-line tool starts (plain JavaScript: it must work before any build).
// From a build (dist/) when there is one, otherwise straight from the TypeScript source through
// tsx, so that `npx gavel` and `npx gavel-latency` work right after `npm ci` (install scripts,
// which could build, do not run).
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Workspace packages publish their TypeScript source under the "source" export condition (the
// one tests use); without a build, @gavel/* resolves through it.
const SOURCE_CONDITION = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@gavel/') && !context.conditions.includes('source')) {
    return next(specifier, { ...context, conditions: ['source', ...context.conditions] });
  }
  return next(specifier, context);
}`;

/**
 * @param {string} binUrl the bin file's import.meta.url
 * @param {string} built the entry in the build, relative to the bin file (e.g. '../dist/cli.js')
 * @param {string} source the same entry's TypeScript source (e.g. '../src/cli.ts')
 */
export async function launch(binUrl, built, source) {
  const builtPath = fileURLToPath(new URL(built, binUrl));
  if (existsSync(builtPath)) {
    await import(pathToFileURL(builtPath).href);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  registerHooks(`data:text/javascript,${encodeURIComponent(SOURCE_CONDITION)}`);
  await import(new URL(source, binUrl).href);
}
