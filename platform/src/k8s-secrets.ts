import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';

/** Names of the Kubernetes Secrets charts-ts mounts; each holds one key of the same meaning. */
export const SECRET_NAMES = {
  database: 'gavel-database',
  redis: 'gavel-redis',
  auth: 'gavel-auth',
} as const;

export interface WorkloadSecretsArgs {
  readonly namespace: string;
  /** Pod Security Standard enforced on the namespace (the stricter `restricted` is always warned). */
  readonly podSecurityEnforce: 'privileged' | 'baseline' | 'restricted';
  readonly provider: k8s.Provider;
  readonly database: {
    readonly host: pulumi.Input<string>;
    readonly port: pulumi.Input<number>;
    readonly name: pulumi.Input<string>;
    /** The RDS-managed secret, JSON {username, password}. */
    readonly masterSecretArn: pulumi.Input<string>;
  };
  readonly redis: {
    readonly host: pulumi.Input<string>;
    readonly port: number;
    readonly authToken: pulumi.Input<string>;
  };
  readonly authSecret: pulumi.Input<string>;
}

/** postgres:// URL with TLS required; credentials percent-encoded (RDS passwords have symbols). */
export function databaseUrl(parts: {
  username: string;
  password: string;
  host: string;
  port: number;
  name: string;
}): string {
  const user = encodeURIComponent(parts.username);
  const password = encodeURIComponent(parts.password);
  // node-postgres reads sslmode=require as verify-full unless asked for libpq semantics; the RDS
  // CA is not in Node's trust store, so keep libpq's "encrypted, not verified" meaning.
  return `postgres://${user}:${password}@${parts.host}:${parts.port}/${parts.name}?sslmode=require&uselibpqcompat=true`;
}

/** rediss:// URL (TLS) carrying the AUTH token as the password. */
export function redisUrl(parts: { host: string; port: number; authToken: string }): string {
  return `rediss://:${encodeURIComponent(parts.authToken)}@${parts.host}:${parts.port}`;
}

/**
 * The `gavel` namespace (Pod Security labels) and the three Secrets the services read:
 * DATABASE_URL, REDIS_URL and AUTH_SECRET. Values are copies taken at `pulumi up`.
 */
export class WorkloadSecrets extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly names = SECRET_NAMES;

  constructor(name: string, args: WorkloadSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:WorkloadSecrets', name, {}, opts);
    const onCluster = { parent: this, provider: args.provider };

    const namespace = new k8s.core.v1.Namespace(
      name,
      {
        metadata: {
          name: args.namespace,
          labels: {
            'pod-security.kubernetes.io/enforce': args.podSecurityEnforce,
            'pod-security.kubernetes.io/audit': 'restricted',
            'pod-security.kubernetes.io/warn': 'restricted',
          },
        },
      },
      onCluster,
    );
    this.namespace = namespace.metadata.name;

    const master = aws.secretsmanager.getSecretVersionOutput(
      { secretId: args.database.masterSecretArn },
      { parent: this },
    );
    const databaseUrlValue = pulumi
      .all([master.secretString, args.database.host, args.database.port, args.database.name])
      .apply(([secretString, host, port, dbName]) => {
        const credentials = JSON.parse(secretString) as { username?: string; password?: string };
        if (!credentials.username || !credentials.password) {
          throw new Error('the RDS master secret has no username/password');
        }
        return databaseUrl({
          username: credentials.username,
          password: credentials.password,
          host,
          port,
          name: dbName,
        });
      });
    const redisUrlValue = pulumi
      .all([args.redis.host, args.redis.authToken])
      .apply(([host, authToken]) => redisUrl({ host, port: args.redis.port, authToken }));

    const secret = (key: string, secretName: string, value: pulumi.Input<string>) =>
      new k8s.core.v1.Secret(
        `${name}-${secretName}`,
        {
          metadata: { name: secretName, namespace: this.namespace },
          type: 'Opaque',
          stringData: { [key]: pulumi.secret(value) },
        },
        onCluster,
      );
    secret('DATABASE_URL', SECRET_NAMES.database, databaseUrlValue);
    secret('REDIS_URL', SECRET_NAMES.redis, redisUrlValue);
    secret('AUTH_SECRET', SECRET_NAMES.auth, args.authSecret);

    this.registerOutputs({ namespace: this.namespace });
  }
}
