// Builds the workspaces whose sources are newer than their build output, shared first (the
// services compile against its declarations).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** A workspace is stale when a source file is newer than its build output. */
export function stale(root, dir) {
  const dist = join(root, dir, 'dist');
  if (!existsSync(dist)) return true;
  return newestMtime(join(root, dir, 'src')) > newestMtime(dist);
}

/** @returns {string[]} the workspaces it built */
export function buildStale(root, workspaces, log) {
  const toBuild = workspaces.filter((dir) => stale(root, dir));
  if (toBuild.length === 0) return toBuild;
  log(`building ${toBuild.join(', ')}`);
  for (const dir of toBuild) {
    execFileSync('npm', ['run', 'build', '--silent', '-w', dir], { cwd: root, stdio: 'inherit' });
  }
  return toBuild;
}
