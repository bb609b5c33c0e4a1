import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { APP_DATABASE_ROLE } from './database-roles.js';
import { RDS_CA_BUNDLE, rdsCaBundlePath } from './rds-ca-bundle.js';

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
    /** Password of the application role (database-roles.ts sets it in PostgreSQL). */
    readonly appPassword: pulumi.Input<string>;
    /** The RDS CA bundle that DATABASE_URL verifies the server against. */
    readonly caBundlePem: pulumi.Input<string>;
  };
  /** A Namespace label that the metrics scraper's NetworkPolicy peers name, if any. */
  readonly metricsNamespace?: string;
  readonly redis: {
    readonly host: pulumi.Input<string>;
    readonly port: number;
    readonly authToken: pulumi.Input<string>;
  };
  readonly authSecret: pulumi.Input<string>;
}

/**
 * postgres:// URL that verifies the server: sslmode=verify-full against the RDS CA bundle the
 * pods mount (node-postgres reads the sslrootcert file itself). Credentials percent-encoded.
 */
export function databaseUrl(parts: {
  username: string;
  password: string;
  host: string;
  port: number;
  name: string;
  caFile: string;
}): string {
  const user = encodeURIComponent(parts.username);
  const password = encodeURIComponent(parts.password);
  const query = new URLSearchParams({ sslmode: 'verify-full', sslrootcert: parts.caFile });
  return `postgres://${user}:${password}@${parts.host}:${parts.port}/${parts.name}?${query}`;
}

/** rediss:// URL (TLS) carrying the AUTH token as the password. */
export function redisUrl(parts: { host: string; port: number; authToken: string }): string {
  return `rediss://:${encodeURIComponent(parts.authToken)}@${parts.host}:${parts.port}`;
}

/**
 * The `gavel` namespace (Pod Security labels; the load balancer controller's readiness gates),
 * the three Secrets the services read (DATABASE_URL, REDIS_URL, AUTH_SECRET; copies taken at
 * `pulumi up`) and the RDS CA bundle ConfigMap DATABASE_URL verifies against.
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
            // The AWS Load Balancer Controller injects a target-health readiness gate into pods
            // here: a rollout waits until new pods are healthy in the ALB/NLB target groups.
            'elbv2.k8s.aws/pod-readiness-gate-inject': 'enabled',
          },
        },
      },
      onCluster,
    );
    this.namespace = namespace.metadata.name;
    if (args.metricsNamespace) {
      new k8s.core.v1.Namespace(`${name}-metrics`, { metadata: { name: args.metricsNamespace } }, onCluster);
    }

    new k8s.core.v1.ConfigMap(
      `${name}-rds-ca`,
      {
        metadata: { name: RDS_CA_BUNDLE.configMapName, namespace: this.namespace },
        data: { [RDS_CA_BUNDLE.key]: args.database.caBundlePem },
      },
      onCluster,
    );
    const databaseUrlValue = pulumi
      .all([args.database.appPassword, args.database.host, args.database.port, args.database.name])
      .apply(([password, host, port, dbName]) =>
        databaseUrl({
          username: APP_DATABASE_ROLE,
          password,
          host,
          port,
          name: dbName,
          caFile: rdsCaBundlePath,
        }),
      );
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
