import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { PlatformOutputsError, type PlatformOutputs } from './platform-outputs.js';

/** The images the eks profile deploys, one ECR repository each (platformOutputs.images). */
export const SERVICE_IMAGES = ['api', 'broadcast', 'archival', 'latency'] as const;
export type ServiceImage = (typeof SERVICE_IMAGES)[number];

/**
 * What `npm run images -- --push` wrote: the one immutable tag pushed, and to which stack's
 * repositories. `npm run synth` deploys exactly these.
 */
export const imageTagsSchema = z.object({
  stack: z.string().min(1),
  tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/),
  images: z.object(
    Object.fromEntries(SERVICE_IMAGES.map((s) => [s, z.string().min(1)])) as Record<
      ServiceImage,
      z.ZodString
    >,
  ),
});
export type ImageTags = z.infer<typeof imageTagsSchema>;

export function readImageTags(path: string): ImageTags | undefined {
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new PlatformOutputsError(`image tags ${path} is not JSON: ${(err as Error).message}`);
  }
  const parsed = imageTagsSchema.safeParse(json);
  if (!parsed.success) {
    throw new PlatformOutputsError(
      `image tags ${path} has a bad shape: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** The tag to deploy, after checking it was pushed to these outputs' repositories. */
export function tagFor(tags: ImageTags, outputs: PlatformOutputs, source: string): string {
  const wrong = SERVICE_IMAGES.filter((s) => tags.images[s] !== `${outputs.images[s]}:${tags.tag}`);
  if (tags.stack !== outputs.stack || wrong.length > 0) {
    throw new PlatformOutputsError(
      `${source} holds images pushed for stack ${tags.stack} (${tags.images[wrong[0] ?? 'api']}), not for stack ` +
        `${outputs.stack}'s repositories: run \`npm run images -- --stack ${outputs.stack} --push\``,
    );
  }
  return tags.tag;
}

/** Writes through a temp file and a rename, so synth never reads half a file. */
export function writeImageTags(path: string, tags: ImageTags): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(imageTagsSchema.parse(tags), null, 2)}\n`);
  renameSync(tmp, path);
}
