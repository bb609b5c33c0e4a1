import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

export const POSTGRES_PORT = 5432;

export interface DatabaseArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly subnetIds: pulumi.Input<string>[];
  /** The only security group admitted on 5432: the EKS nodes'. */
  readonly clientSecurityGroupId: pulumi.Input<string>;
  readonly instanceClass: string;
  /** Major (`17`) or major.minor; minors are upgraded automatically. */
  readonly engineVersion: string;
  readonly allocatedStorageGb: number;
  /** Storage autoscaling ceiling. */
  readonly maxAllocatedStorageGb: number;
  readonly multiAz: boolean;
  readonly deletionProtection: boolean;
  readonly backupRetentionDays: number;
  readonly logRetentionDays: number;
}

/**
 * RDS PostgreSQL for the archival store: private, encrypted, TLS forced by its parameter group,
 * master password generated, kept and rotated by RDS in Secrets Manager.
 */
export class Database extends pulumi.ComponentResource {
  readonly address: pulumi.Output<string>;
  readonly port: pulumi.Output<number>;
  readonly databaseName: pulumi.Output<string>;
  readonly instanceId: pulumi.Output<string>;
  /** Secrets Manager secret (JSON {username, password}) that RDS manages. */
  readonly masterSecretArn: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Database', name, {}, opts);
    const parent = { parent: this };
    const identifier = `${name}-postgres`;
    const major = args.engineVersion.split('.')[0];

    const securityGroup = new aws.ec2.SecurityGroup(
      `${name}-postgres`,
      { vpcId: args.vpcId, description: `PostgreSQL for ${name}, reachable from EKS nodes only` },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-from-nodes`,
      {
        securityGroupId: securityGroup.id,
        referencedSecurityGroupId: args.clientSecurityGroupId,
        ipProtocol: 'tcp',
        fromPort: POSTGRES_PORT,
        toPort: POSTGRES_PORT,
        description: 'PostgreSQL from EKS nodes',
      },
      parent,
    );

    const subnetGroup = new aws.rds.SubnetGroup(name, { subnetIds: args.subnetIds }, parent);

    const parameterGroup = new aws.rds.ParameterGroup(
      name,
      {
        family: `postgres${major}`,
        description: `${name}: TLS only`,
        parameters: [
          { name: 'rds.force_ssl', value: '1' },
          { name: 'log_min_duration_statement', value: '500' },
        ],
      },
      parent,
    );

    // Exported with `enabledCloudwatchLogsExports`; created first so retention is ours.
    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-postgresql`,
      {
        name: `/aws/rds/instance/${identifier}/postgresql`,
        retentionInDays: args.logRetentionDays,
      },
      parent,
    );

    const instance = new aws.rds.Instance(
      name,
      {
        identifier,
        engine: 'postgres',
        engineVersion: args.engineVersion,
        autoMinorVersionUpgrade: true,
        instanceClass: args.instanceClass,
        allocatedStorage: args.allocatedStorageGb,
        maxAllocatedStorage: args.maxAllocatedStorageGb,
        storageType: 'gp3',
        storageEncrypted: true,
        dbName: 'gavel',
        username: 'gavel',
        manageMasterUserPassword: true,
        port: POSTGRES_PORT,
        dbSubnetGroupName: subnetGroup.name,
        vpcSecurityGroupIds: [securityGroup.id],
        publiclyAccessible: false,
        parameterGroupName: parameterGroup.name,
        multiAz: args.multiAz,
        deletionProtection: args.deletionProtection,
        backupRetentionPeriod: args.backupRetentionDays,
        backupWindow: '03:00-04:00',
        maintenanceWindow: 'sun:04:30-sun:05:30',
        copyTagsToSnapshot: true,
        skipFinalSnapshot: !args.deletionProtection,
        finalSnapshotIdentifier: args.deletionProtection ? `${identifier}-final` : undefined,
        performanceInsightsEnabled: true,
        performanceInsightsRetentionPeriod: 7,
        enabledCloudwatchLogsExports: ['postgresql'],
        // Protected stacks take changes in the maintenance window, not mid-day.
        applyImmediately: !args.deletionProtection,
      },
      { parent: this, dependsOn: [logGroup] },
    );

    this.masterSecretArn = instance.masterUserSecrets.apply((secrets) => {
      const arn = secrets?.[0]?.secretArn;
      if (!arn) throw new Error('RDS returned no managed master user secret');
      return arn;
    });

    // RDS rotates the master password on its own schedule (every 7 days by default). Nothing
    // in the cluster holds it: the services connect as the application role, and the admin Job
    // (database-roles.ts) reads the current master password at each `pulumi up`.

    this.address = instance.address;
    this.port = instance.port;
    this.databaseName = instance.dbName;
    this.instanceId = instance.identifier;
    this.registerOutputs({ address: this.address, masterSecretArn: this.masterSecretArn });
  }
}
