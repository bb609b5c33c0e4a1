import * as pulumi from '@pulumi/pulumi';
import { platformOutputsSchema } from '@gavel/shared';
import type { PlatformOutputs } from '@gavel/shared';

/** What charts-ts's eks profile reads, checked against the shared schema when it resolves. */
export function platformOutputs(parts: pulumi.Inputs): pulumi.Output<PlatformOutputs> {
  return pulumi.output(parts).apply((value) => {
    const parsed = platformOutputsSchema.safeParse(value);
    if (!parsed.success) {
      throw new Error(`platformOutputs does not match platformOutputsSchema: ${parsed.error.message}`);
    }
    return parsed.data;
  });
}
