import { createHash } from 'node:crypto';
import * as aws from '@pulumi/aws';
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { GENERAL_POOL, POOL_LABEL_KEY } from '@gavel/shared';
import { RDS_CA_BUNDLE, rdsCaBundlePath } from './rds-ca-bundle.js';

/** The role every Gavel service connects as; it owns the tables the archival migrations create. */
export const APP_DATABASE_ROLE = 'gavel_app';
/** Namespace of the one-off admin Job: no application pod runs there, and no NetworkPolicy. */
export const DATABASE_ADMIN_NAMESPACE = 'gavel-db-admin';
/** psql 17 from the official image (ECR Public mirror: no Docker Hub pull limits), pinned. */
export const PSQL_IMAGE = 'public.ecr.aws/docker/library/postgres:17.5-alpine3.21';
/** uid of the `postgres` user in the alpine image. */
const PSQL_UID = 70;

/**
 * Idempotent: creates the role once, then (re)sets its password and grants on every run. psql's
 * \getenv keeps the password out of the command line and the pod spec.
 */
export const ROLES_SQL = `\\set ON_ERROR_STOP on
\\getenv app_role APP_ROLE
\\getenv app_password APP_PASSWORD
\\getenv database PGDATABASE
SELECT format('CREATE ROLE %I LOGIN', :'app_role')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \\gexec
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"app_role";
GRANT USAGE, CREATE ON SCHEMA public TO :"app_role";
`;

export interface DatabaseRolesArgs {
  readonly provider: k8s.Provider;
  readonly caBundlePem: pulumi.Input<string>;
  readonly host: pulumi.Input<string>;
  readonly port: pulumi.Input<number>;
  readonly database: pulumi.Input<string>;
  /** The RDS-managed master secret (JSON {username, password}), read at each `pulumi up`. */
  readonly masterSecretArn: pulumi.Input<string>;
  readonly appPassword: pulumi.Input<string>;
}

/**
 * Creates the application role in PostgreSQL from inside the cluster (RDS is private; this is
 * the one place that can reach it), as a Job that `pulumi up` waits for. The master
 * credentials live only in this namespace's Secret, never where the services run.
 */
export class DatabaseRoles extends pulumi.ComponentResource {
  readonly job: k8s.batch.v1.Job;

  constructor(name: string, args: DatabaseRolesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:DatabaseRoles', name, {}, opts);
    const onCluster = { parent: this, provider: args.provider };
    const namespace = new k8s.core.v1.Namespace(
      `${name}-admin`,
      {
        metadata: {
          name: DATABASE_ADMIN_NAMESPACE,
          labels: { 'pod-security.kubernetes.io/enforce': 'restricted' },
        },
      },
      onCluster,
    );
    const ns = namespace.metadata.name;
    const masterSecret = aws.secretsmanager.getSecretVersionOutput(
      { secretId: args.masterSecretArn },
      { parent: this },
    );
    const master = masterSecret.secretString.apply((text) => {
      const credentials = JSON.parse(text) as { username?: string; password?: string };
      if (!credentials.username || !credentials.password) {
        throw new Error('the RDS master secret has no username/password');
      }
      return { username: credentials.username, password: credentials.password };
    });
    const credentials = new k8s.core.v1.Secret(
      `${name}-admin`,
      {
        metadata: { name: 'gavel-database-admin', namespace: ns },
        type: 'Opaque',
        stringData: {
          PGUSER: master.username,
          PGPASSWORD: pulumi.secret(master.password),
          APP_PASSWORD: pulumi.secret(args.appPassword),
        },
      },
      onCluster,
    );
    const ca = new k8s.core.v1.ConfigMap(
      `${name}-ca`,
      {
        metadata: { name: RDS_CA_BUNDLE.configMapName, namespace: ns },
        data: { [RDS_CA_BUNDLE.key]: args.caBundlePem },
      },
      onCluster,
    );
    const sql = new k8s.core.v1.ConfigMap(
      `${name}-sql`,
      { metadata: { name: 'gavel-db-roles-sql', namespace: ns }, data: { 'roles.sql': ROLES_SQL } },
      onCluster,
    );
    const fromSecret = (key: string) => ({
      name: key,
      valueFrom: { secretKeyRef: { name: credentials.metadata.name, key } },
    });
    // A changed password or script changes the pod template, so the Job is replaced and runs again.
    const revision = pulumi
      .secret(pulumi.all([args.appPassword, master.password]))
      .apply(([app, admin]) => createHash('sha256').update(`${app}\n${admin}\n${ROLES_SQL}`).digest('hex'));
    this.job = new k8s.batch.v1.Job(
      `${name}-roles`,
      {
        metadata: { name: 'gavel-db-roles', namespace: ns },
        spec: {
          backoffLimit: 4,
          activeDeadlineSeconds: 600,
          template: {
            metadata: {
              labels: { 'app.kubernetes.io/name': 'gavel-db-roles' },
              annotations: { 'gavel.io/revision': revision.apply((r) => r.slice(0, 16)) },
            },
            spec: {
              restartPolicy: 'OnFailure',
              automountServiceAccountToken: false,
              nodeSelector: { [POOL_LABEL_KEY]: GENERAL_POOL },
              securityContext: {
                runAsNonRoot: true,
                runAsUser: PSQL_UID,
                runAsGroup: PSQL_UID,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [
                {
                  name: 'psql',
                  image: PSQL_IMAGE,
                  command: ['psql', '--no-psqlrc', '--file', '/sql/roles.sql'],
                  env: [
                    { name: 'PGHOST', value: args.host },
                    { name: 'PGPORT', value: pulumi.output(args.port).apply(String) },
                    { name: 'PGDATABASE', value: args.database },
                    { name: 'PGSSLMODE', value: 'verify-full' },
                    { name: 'PGSSLROOTCERT', value: rdsCaBundlePath },
                    { name: 'APP_ROLE', value: APP_DATABASE_ROLE },
                    fromSecret('PGUSER'),
                    fromSecret('PGPASSWORD'),
                    fromSecret('APP_PASSWORD'),
                  ],
                  resources: {
                    requests: { cpu: '50m', memory: '64Mi' },
                    limits: { cpu: '500m', memory: '128Mi' },
                  },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    capabilities: { drop: ['ALL'] },
                  },
                  volumeMounts: [
                    { name: 'ca', mountPath: RDS_CA_BUNDLE.mountPath, readOnly: true },
                    { name: 'sql', mountPath: '/sql', readOnly: true },
                  ],
                },
              ],
              volumes: [
                { name: 'ca', configMap: { name: ca.metadata.name } },
                { name: 'sql', configMap: { name: sql.metadata.name } },
              ],
            },
          },
        },
      },
      onCluster,
    );
    this.registerOutputs({});
  }
}
