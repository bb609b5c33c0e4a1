import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

export interface GeneratedSecretArgs {
  readonly description: string;
  /** @default 64 */
  readonly length?: number;
}

/**
 * A random value generated once (kept stable in state, unlike an invoke that would re-roll on
 * every preview) and stored in Secrets Manager, the copy that IAM-scoped readers use.
 * Letters and digits only, so it is safe inside URLs and in a Redis AUTH token.
 */
export class GeneratedSecret extends pulumi.ComponentResource {
  readonly arn: pulumi.Output<string>;
  readonly value: pulumi.Output<string>;

  constructor(name: string, args: GeneratedSecretArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:GeneratedSecret', name, {}, opts);
    const password = new random.RandomPassword(
      name,
      { length: args.length ?? 64, special: false },
      { parent: this },
    );
    const secret = new aws.secretsmanager.Secret(name, { description: args.description }, { parent: this });
    const version = new aws.secretsmanager.SecretVersion(
      name,
      { secretId: secret.id, secretString: password.result },
      { parent: this },
    );
    this.arn = secret.arn;
    this.value = pulumi.secret(version.secretString.apply((value) => value ?? ''));
    this.registerOutputs({ arn: this.arn });
  }
}
