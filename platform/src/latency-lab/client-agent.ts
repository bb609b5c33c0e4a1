import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { LATENCY_AGENT_PORT, LATENCY_SERVER_PORT } from '@gavel/shared';

/** Fargate size of the agent: 2 vCPU drive ~20k msg/s of 64 B probes with room to spare. */
export const AGENT_CPU_UNITS = 2048;
export const AGENT_MEMORY_MIB = 4096;
/** The runtime user of the Gavel images (USER in the root Dockerfile). */
const APP_USER = '10001:10001';

export interface AgentTarget {
  readonly label: string;
  readonly url: pulumi.Input<string>;
}

export interface LatencyClientAgentArgs {
  readonly region: string;
  readonly accountId: pulumi.Input<string>;
  readonly vpcId: pulumi.Input<string>;
  readonly vpcCidr: string;
  readonly subnetIds: pulumi.Input<string>[];
  /** Prefix list of the client VPC's S3 gateway endpoint (image layers). */
  readonly s3PrefixListId: pulumi.Input<string>;
  /** The cluster VPC's block: the lab NLB and ALB, across the peering. */
  readonly clusterVpcCidr: string;
  /** Its id, so the cluster's resolver answers the agent's Cloud Map name too. */
  readonly clusterVpcId: pulumi.Input<string>;
  /** The EKS nodes' group: the compare Job (a pod on a node) is the agent's only caller. */
  readonly nodeSecurityGroupId: pulumi.Input<string>;
  /** ECR repository URL of the latency image, and the tag to run. */
  readonly repositoryUrl: pulumi.Input<string>;
  readonly imageTag: string;
  /** The paths measured from the client VPC; the agent runs nothing else. */
  readonly targets: readonly AgentTarget[];
  readonly logRetentionDays: number;
  /** Kept after the peering exists: a rule naming a peer VPC's group needs the peering. */
  readonly dependsOn: pulumi.Input<pulumi.Resource>[];
}

/**
 * The latency client in the client VPC: an ECS Fargate service running the latency image's
 * `agent` command, which runs the compare mode's load against its paths on request. Fargate
 * because seed 000 ran its clients on ECS and because the lab is switched on for a measurement
 * and off again: no instances, AMIs or node scaling to keep, billed by the second, the same
 * image as the cluster's client. Its name in Cloud Map resolves from the cluster VPC as well.
 */
export class LatencyClientAgent extends pulumi.ComponentResource {
  /** http://agent.<namespace>:8091, where the compare Job reaches the agent. */
  readonly url: pulumi.Output<string>;
  readonly logGroupName: pulumi.Output<string>;
  readonly clusterName: pulumi.Output<string>;
  readonly serviceName: pulumi.Output<string>;

  constructor(name: string, args: LatencyClientAgentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:LatencyClientAgent', name, {}, opts);
    const parent = { parent: this };

    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-logs`,
      { name: `/gavel/${name}`, retentionInDays: args.logRetentionDays },
      parent,
    );
    this.logGroupName = logGroup.name;

    const ecsTasksTrust = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Principal: { Service: 'ecs-tasks.amazonaws.com' },
          Action: 'sts:AssumeRole',
        },
      ],
    });
    // ECS itself pulls the image and ships the logs with this role: the one repository, the one group.
    const executionRole = new aws.iam.Role(
      `${name}-execution`,
      { assumeRolePolicy: ecsTasksTrust, description: `pulls the latency image and writes logs for ${name}` },
      parent,
    );
    const repositoryName = pulumi.output(args.repositoryUrl).apply((url) => url.slice(url.indexOf('/') + 1));
    new aws.iam.RolePolicy(
      `${name}-execution`,
      {
        role: executionRole.name,
        policy: pulumi.jsonStringify({
          Version: '2012-10-17',
          Statement: [
            { Sid: 'EcrLogin', Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
            {
              Sid: 'PullLatencyImage',
              Effect: 'Allow',
              Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
              Resource: pulumi.interpolate`arn:aws:ecr:${args.region}:${args.accountId}:repository/${repositoryName}`,
            },
            {
              Sid: 'WriteLogs',
              Effect: 'Allow',
              Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              Resource: pulumi.interpolate`${logGroup.arn}:*`,
            },
          ],
        }),
      },
      parent,
    );
    // The agent calls no AWS API: its task role exists so the task runs under a role of its own
    // that grants nothing, never under whatever a default would give it.
    const taskRole = new aws.iam.Role(
      `${name}-task`,
      { assumeRolePolicy: ecsTasksTrust, description: `${name} task role; grants nothing` },
      parent,
    );

    const group = new aws.ec2.SecurityGroup(
      `${name}-agent`,
      { vpcId: args.vpcId, description: `${name}: the agent port from EKS nodes; out to the measured paths` },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-agent-from-nodes`,
      {
        securityGroupId: group.id,
        referencedSecurityGroupId: args.nodeSecurityGroupId,
        ipProtocol: 'tcp',
        fromPort: LATENCY_AGENT_PORT,
        toPort: LATENCY_AGENT_PORT,
        description: 'the compare Job on the EKS nodes, across the peering',
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    const egress: [string, Partial<aws.vpc.SecurityGroupEgressRuleArgs>, number][] = [
      ['lab-load-balancers', { cidrIpv4: args.clusterVpcCidr }, LATENCY_SERVER_PORT],
      ['latency-endpoint', { cidrIpv4: args.vpcCidr }, LATENCY_SERVER_PORT],
      ['aws-apis', { cidrIpv4: args.vpcCidr }, 443],
      ['s3', { prefixListId: args.s3PrefixListId }, 443],
    ];
    for (const [what, destination, port] of egress) {
      new aws.vpc.SecurityGroupEgressRule(
        `${name}-agent-to-${what}`,
        {
          securityGroupId: group.id,
          ...destination,
          ipProtocol: 'tcp',
          fromPort: port,
          toPort: port,
          description: what,
        },
        parent,
      );
    }

    // A private namespace in the client VPC, shared with the cluster VPC, names the agent.
    const namespace = new aws.servicediscovery.PrivateDnsNamespace(
      `${name}-dns`,
      { name: `${name}.internal`, vpc: args.vpcId, description: `names of ${name}` },
      parent,
    );
    new aws.route53.ZoneAssociation(
      `${name}-dns-cluster`,
      { zoneId: namespace.hostedZone, vpcId: args.clusterVpcId },
      parent,
    );
    const discovery = new aws.servicediscovery.Service(
      `${name}-agent`,
      {
        name: 'agent',
        namespaceId: namespace.id,
        dnsConfig: {
          namespaceId: namespace.id,
          routingPolicy: 'MULTIVALUE',
          dnsRecords: [{ type: 'A', ttl: 10 }],
        },
        forceDestroy: true,
      },
      parent,
    );
    this.url = pulumi.interpolate`http://agent.${namespace.name}:${LATENCY_AGENT_PORT}`;

    const cluster = new aws.ecs.Cluster(name, {}, parent);
    this.clusterName = cluster.name;
    const image = pulumi.interpolate`${args.repositoryUrl}:${args.imageTag}`;
    const targets = pulumi.jsonStringify(args.targets.map((t) => ({ label: t.label, url: t.url })));
    const containerDefinitions = pulumi.jsonStringify([
      {
        name: 'latency-agent',
        image,
        essential: true,
        // The image's entry point is the echo server; the client is the other one.
        entryPoint: ['node', 'dist/cli.js'],
        command: ['agent', '--port', String(LATENCY_AGENT_PORT)],
        portMappings: [{ containerPort: LATENCY_AGENT_PORT, protocol: 'tcp' }],
        environment: [
          { name: 'LATENCY_AGENT_TARGETS', value: targets },
          { name: 'GAVEL_HEALTH_PORT', value: String(LATENCY_AGENT_PORT) },
          { name: 'LOG_LEVEL', value: 'info' },
        ],
        user: APP_USER,
        readonlyRootFilesystem: true,
        // One socket per connection of the load: thousands at a time.
        ulimits: [{ name: 'nofile', softLimit: 65536, hardLimit: 65536 }],
        healthCheck: {
          command: [
            'CMD',
            'node',
            '-e',
            `fetch('http://127.0.0.1:${LATENCY_AGENT_PORT}/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
          ],
          interval: 10,
          timeout: 3,
          retries: 3,
          startPeriod: 20,
        },
        logConfiguration: {
          logDriver: 'awslogs',
          options: {
            'awslogs-group': logGroup.name,
            'awslogs-region': args.region,
            'awslogs-stream-prefix': 'agent',
          },
        },
      },
    ]);
    const taskDefinition = new aws.ecs.TaskDefinition(
      `${name}-agent`,
      {
        family: `${name}-agent`,
        requiresCompatibilities: ['FARGATE'],
        networkMode: 'awsvpc',
        cpu: String(AGENT_CPU_UNITS),
        memory: String(AGENT_MEMORY_MIB),
        runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
        executionRoleArn: executionRole.arn,
        taskRoleArn: taskRole.arn,
        containerDefinitions,
      },
      parent,
    );
    const service = new aws.ecs.Service(
      `${name}-agent`,
      {
        cluster: cluster.arn,
        taskDefinition: taskDefinition.arn,
        desiredCount: 1,
        launchType: 'FARGATE',
        networkConfiguration: { subnets: args.subnetIds, securityGroups: [group.id], assignPublicIp: false },
        serviceRegistries: { registryArn: discovery.arn },
        // One agent: a new task may replace the old one outright.
        deploymentMinimumHealthyPercent: 0,
        deploymentMaximumPercent: 100,
        propagateTags: 'SERVICE',
      },
      parent,
    );
    this.serviceName = service.name;

    this.registerOutputs({ url: this.url, logGroupName: this.logGroupName });
  }
}
