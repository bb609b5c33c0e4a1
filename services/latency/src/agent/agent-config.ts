import { z } from 'zod';
import { commonEnv, loadConfig } from '@gavel/shared';

/** One path the agent may measure: the compare mode names it by label, never by URL. */
const agentTargetSchema = z.object({
  label: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'labels are lowercase, digits and dashes'),
  url: z.url({ protocol: /^(wss?|https?|tcp)$/ }),
});
export type AgentTarget = z.infer<typeof agentTargetSchema>;

const targetList = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'expected a JSON array of {"label", "url"}' });
      return z.NEVER;
    }
  })
  .pipe(z.array(agentTargetSchema).min(1, 'lists no target'))
  .refine((targets) => new Set(targets.map((t) => t.label)).size === targets.length, 'repeats a label');

/** The agent's environment (the platform's Fargate task definition sets it), checked once at start. */
export const agentEnv = {
  LOG_LEVEL: commonEnv.LOG_LEVEL,
  LOG_FORMAT: commonEnv.LOG_FORMAT,
  /** The paths of the client VPC, from the platform: `[{"label":"nlb-peering","url":"ws://…"}]`. */
  LATENCY_AGENT_TARGETS: targetList,
} as const;

export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env) {
  return loadConfig(agentEnv, env);
}
