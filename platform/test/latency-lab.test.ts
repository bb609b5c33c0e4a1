import { beforeAll, describe, expect, it } from 'vitest';
import {
  LATENCY_AGENT_PORT,
  LATENCY_SERVER_PORT,
  latencyLabSchema,
  platformOutputsSchema,
  type LatencyLab,
} from '@gavel/shared';
import { ACCOUNT, NODE_SECURITY_GROUP, runProgram, type ProgramRun, type Props } from './support/program.js';

/** What an operator sets to switch the lab on (platform/README.md, "Latency lab topology"). */
export const LAB_ON = { latencyLabEnabled: 'true', latencyLabImageTag: '0.1.0-abc1234' };

const LAB_TYPES = [
  'gavel:platform:LatencyLab',
  'gavel:platform:LatencyClientVpc',
  'gavel:platform:LatencyVpcPeering',
  'gavel:platform:LatencyLabLoadBalancers',
  'gavel:platform:LatencyPrivateLink',
  'gavel:platform:LatencyClientAgent',
  'aws:ec2/vpcPeeringConnection:VpcPeeringConnection',
  'aws:lb/loadBalancer:LoadBalancer',
  'aws:ec2/vpcEndpointService:VpcEndpointService',
  'aws:ecs/service:Service',
  'aws:ecs/taskDefinition:TaskDefinition',
];

/** An IPv4 block as [first, last] address numbers. */
function range(cidr: string): [number, number] {
  const [ip, bits] = cidr.split('/');
  const base = ip!.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const size = 2 ** (32 - Number(bits));
  return [base, base + size - 1];
}
const overlaps = (a: string, b: string) => {
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
};

/** Security-group ingress rules of the program, with the group they open. */
function ingress(run: ProgramRun) {
  return run.ofType('aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule').map((r) => r.inputs);
}

describe.each(['dev', 'prod'])('latency lab on the %s stack', (stack) => {
  let run: ProgramRun;
  let lab: LatencyLab;
  let clusterVpc: Props;
  let clientVpc: Props;
  beforeAll(async () => {
    run = await runProgram(stack, LAB_ON);
    lab = latencyLabSchema.parse(platformOutputsSchema.parse(run.outputs.platformOutputs).latencyLab);
    const vpcs = run.ofType('aws:ec2/vpc:Vpc');
    clusterVpc = vpcs.find((v) => v.name === `gavel-${stack}`)!;
    clientVpc = vpcs.find((v) => v.name === `gavel-${stack}-latency-client`)!;
  }, 120_000);

  it('builds the client VPC with its own block, disjoint from the cluster VPC and every subnet in it', () => {
    expect(run.ofType('aws:ec2/vpc:Vpc')).toHaveLength(2);
    expect(clientVpc.inputs.cidrBlock).toBe('10.1.0.0/16');
    expect(overlaps(clientVpc.inputs.cidrBlock, clusterVpc.inputs.cidrBlock)).toBe(false);
    const subnets = run.ofType('aws:ec2/subnet:Subnet');
    for (const subnet of subnets) {
      const parent = subnet.inputs.vpcId === clientVpc.id ? clientVpc : clusterVpc;
      const other = parent === clientVpc ? clusterVpc : clientVpc;
      const [p0, p1] = range(parent.inputs.cidrBlock);
      const [s0, s1] = range(subnet.inputs.cidrBlock);
      expect(s0 >= p0 && s1 <= p1, `${subnet.name} inside its VPC`).toBe(true);
      expect(overlaps(subnet.inputs.cidrBlock, other.inputs.cidrBlock)).toBe(false);
    }
    // Client and server in one zone, as seed 000 measured them.
    const clientSubnets = subnets.filter((s) => s.inputs.vpcId === clientVpc.id);
    expect(clientSubnets.map((s) => s.inputs.availabilityZone)).toEqual(['us-east-1a']);
    // No way out but the measured paths and the AWS endpoints: no gateway, no NAT, no public IPs.
    for (const type of ['aws:ec2/internetGateway:InternetGateway', 'aws:ec2/natGateway:NatGateway']) {
      expect(run.ofType(type).filter((r) => r.inputs.vpcId === clientVpc.id)).toEqual([]);
    }
    const endpoints = run
      .ofType('aws:ec2/vpcEndpoint:VpcEndpoint')
      .filter((e) => e.inputs.vpcId === clientVpc.id)
      .map((e) => e.inputs.serviceName);
    expect(endpoints).toEqual(
      expect.arrayContaining(['s3', 'ecr.api', 'ecr.dkr', 'logs'].map((s) => `com.amazonaws.us-east-1.${s}`)),
    );
  });

  it('peers the two VPCs and routes each to the other from every route table', () => {
    const peering = run.one('aws:ec2/vpcPeeringConnection:VpcPeeringConnection');
    expect(peering.inputs).toMatchObject({ vpcId: clientVpc.id, peerVpcId: clusterVpc.id, autoAccept: true });
    const routes = run
      .ofType('aws:ec2/route:Route')
      .filter((r) => r.inputs.vpcPeeringConnectionId === peering.id);
    const tablesOf = (vpc: Props) =>
      run.ofType('aws:ec2/routeTable:RouteTable').filter((t) => t.inputs.vpcId === vpc.id);
    const privateClusterTables = tablesOf(clusterVpc).filter((t) => t.name.includes('-private-'));
    expect(privateClusterTables.length).toBeGreaterThan(0);
    for (const [from, to, tables] of [
      [clientVpc, clusterVpc, tablesOf(clientVpc)],
      [clusterVpc, clientVpc, privateClusterTables],
    ] as const) {
      for (const table of tables) {
        expect(
          routes.filter((r) => r.inputs.routeTableId === table.id).map((r) => r.inputs.destinationCidrBlock),
          `${table.name} (${from.name}) routes ${to.inputs.cidrBlock} to the peering`,
        ).toEqual([to.inputs.cidrBlock]);
      }
    }
    // The route tables hold no inline routes, which would delete the peering routes on update.
    for (const table of run
      .ofType('aws:ec2/routeTable:RouteTable')
      .filter((t) => t.name.includes('private'))) {
      expect(table.inputs.routes ?? []).toEqual([]);
    }
  });

  it('publishes the lab NLB, and only it, as an endpoint service with an interface endpoint in the client VPC', () => {
    const nlb = run
      .ofType('aws:lb/loadBalancer:LoadBalancer')
      .find((lb) => lb.inputs.loadBalancerType === 'network')!;
    const service = run.one('aws:ec2/vpcEndpointService:VpcEndpointService');
    expect(service.inputs.networkLoadBalancerArns).toEqual([nlb.state.arn]);
    expect(service.inputs.acceptanceRequired).toBe(false);
    expect(service.inputs.allowedPrincipals).toEqual([`arn:aws:iam::${ACCOUNT}:root`]);
    const endpoint = run
      .ofType('aws:ec2/vpcEndpoint:VpcEndpoint')
      .find((e) => e.inputs.serviceName === service.state.serviceName)!;
    expect(endpoint.inputs).toMatchObject({
      vpcEndpointType: 'Interface',
      vpcId: clientVpc.id,
      // No verified private DNS name configured: the endpoint's own name is what clients dial.
      privateDnsEnabled: false,
    });
    const privatelink = lab.targets.find((t) => t.label === 'privatelink')!;
    expect(new URL(privatelink.url).hostname).toBe(endpoint.state.dnsEntries[0].dnsName);
    // Both load balancers are internal, in the cluster's private subnets, facing the pods' port.
    const privateSubnets = run
      .ofType('aws:ec2/subnet:Subnet')
      .filter((s) => s.inputs.vpcId === clusterVpc.id && s.name.includes('-private-'))
      .map((s) => s.id);
    for (const lb of run.ofType('aws:lb/loadBalancer:LoadBalancer')) {
      expect(lb.inputs.internal).toBe(true);
      expect(lb.inputs.subnets).toEqual(privateSubnets);
    }
    for (const tg of run.ofType('aws:lb/targetGroup:TargetGroup')) {
      expect(tg.inputs).toMatchObject({ targetType: 'ip', port: LATENCY_SERVER_PORT, vpcId: clusterVpc.id });
      expect(tg.inputs.healthCheck.path).toBe('/readyz');
    }
    for (const listener of run.ofType('aws:lb/listener:Listener')) {
      expect(listener.inputs.port).toBe(LATENCY_SERVER_PORT);
    }
    expect(lab.targetGroupArns).toEqual({
      nlb: run.ofType('aws:lb/targetGroup:TargetGroup').find((t) => t.inputs.protocol === 'TCP')!.state.arn,
      alb: run.ofType('aws:lb/targetGroup:TargetGroup').find((t) => t.inputs.protocol === 'HTTP')!.state.arn,
    });
  });

  it('admits the client VPC on exactly the latency port, and the agent port from the EKS nodes alone', () => {
    const clientCidr = clientVpc.inputs.cidrBlock;
    const groups = new Map(run.ofType('aws:ec2/securityGroup:SecurityGroup').map((g) => [g.id, g]));
    const fromClient = ingress(run).filter((r) => r.cidrIpv4 === clientCidr);
    const awsApis = [...groups.values()].find((g) => g.name.endsWith('-aws-apis'))!;
    const toLatency = fromClient.filter((r) => r.securityGroupId !== awsApis.id);
    // The lab NLB, the lab ALB and the interface endpoint.
    expect(toLatency).toHaveLength(3);
    for (const rule of toLatency) {
      expect(rule).toMatchObject({
        ipProtocol: 'tcp',
        fromPort: LATENCY_SERVER_PORT,
        toPort: LATENCY_SERVER_PORT,
      });
    }
    // The AWS API endpoints' group is HTTPS only and attached to nothing but those endpoints.
    expect(fromClient.filter((r) => r.securityGroupId === awsApis.id)).toEqual([
      expect.objectContaining({ fromPort: 443, toPort: 443 }),
    ]);
    const withAwsApis = run
      .ofType('aws:ec2/vpcEndpoint:VpcEndpoint')
      .filter((e) => (e.inputs.securityGroupIds ?? []).includes(awsApis.id));
    expect(withAwsApis.map((e) => e.inputs.serviceName.split('.').slice(3).join('.')).sort()).toEqual([
      'ecr.api',
      'ecr.dkr',
      'logs',
    ]);
    // Nothing from the client VPC reaches the nodes directly: only the lab load balancers do.
    const toNodes = ingress(run).filter((r) => r.securityGroupId === NODE_SECURITY_GROUP);
    const lbGroups = run.ofType('aws:lb/loadBalancer:LoadBalancer').map((lb) => lb.inputs.securityGroups[0]);
    expect(toNodes.map((r) => r.referencedSecurityGroupId).sort()).toEqual([...lbGroups].sort());
    for (const rule of toNodes)
      expect(rule.fromPort === LATENCY_SERVER_PORT && rule.toPort === LATENCY_SERVER_PORT).toBe(true);
    // The agent takes commands from the EKS nodes only, on its own port.
    const agentGroup = [...groups.values()].find((g) => g.name.endsWith('-agent'))!;
    expect(ingress(run).filter((r) => r.securityGroupId === agentGroup.id)).toEqual([
      expect.objectContaining({
        referencedSecurityGroupId: NODE_SECURITY_GROUP,
        fromPort: LATENCY_AGENT_PORT,
        toPort: LATENCY_AGENT_PORT,
      }),
    ]);
    // And nothing the lab opens admits the world.
    for (const rule of ingress(run)) expect(rule.cidrIpv4).not.toBe('0.0.0.0/0');
  });

  it('runs the agent on Fargate in the client VPC with the ECR latency image, its own roles and a log group', () => {
    const service = run.one('aws:ecs/service:Service');
    expect(service.inputs).toMatchObject({ launchType: 'FARGATE', desiredCount: 1 });
    expect(service.inputs.networkConfiguration.assignPublicIp).toBe(false);
    const clientSubnets = run
      .ofType('aws:ec2/subnet:Subnet')
      .filter((s) => s.inputs.vpcId === clientVpc.id)
      .map((s) => s.id);
    expect(service.inputs.networkConfiguration.subnets).toEqual(clientSubnets);
    const task = run.one('aws:ecs/taskDefinition:TaskDefinition');
    expect(service.inputs.taskDefinition).toBe(task.state.arn);
    expect(task.inputs).toMatchObject({ requiresCompatibilities: ['FARGATE'], networkMode: 'awsvpc' });
    const [container] = JSON.parse(task.inputs.containerDefinitions) as Props[];
    const repository = run.one('aws:ecr/repository:Repository', 'latency');
    expect(container!.image).toBe(`${repository.state.repositoryUrl}:0.1.0-abc1234`);
    expect(container!.command.slice(0, 1)).toEqual(['agent']);
    const env = Object.fromEntries(container!.environment.map((e: Props) => [e.name, e.value]));
    expect(JSON.parse(env.LATENCY_AGENT_TARGETS)).toEqual(
      lab.targets.filter((t) => t.from === 'client-vpc').map((t) => ({ label: t.label, url: t.url })),
    );

    const logGroup = run.one('aws:cloudwatch/logGroup:LogGroup', 'latency-agent');
    expect(container!.logConfiguration).toEqual({
      logDriver: 'awslogs',
      options: {
        'awslogs-group': logGroup.inputs.name,
        'awslogs-region': 'us-east-1',
        'awslogs-stream-prefix': 'agent',
      },
    });
    expect(logGroup.inputs.retentionInDays).toBeGreaterThan(0);

    const role = (arn: string) => run.ofType('aws:iam/role:Role').find((r) => r.state.arn === arn)!;
    const policiesOf = (name: string) =>
      run
        .ofType('aws:iam/rolePolicy:RolePolicy')
        .filter((p) => p.inputs.role === name)
        .map((p) => JSON.parse(p.inputs.policy));
    for (const arn of [task.inputs.executionRoleArn, task.inputs.taskRoleArn]) {
      expect(JSON.parse(role(arn).inputs.assumeRolePolicy).Statement[0].Principal).toEqual({
        Service: 'ecs-tasks.amazonaws.com',
      });
    }
    const execution = role(task.inputs.executionRoleArn);
    const statements = policiesOf(execution.state.name).flatMap((p) => p.Statement);
    const pull = statements.find((s: Props) => s.Sid === 'PullLatencyImage');
    expect(pull.Resource).toBe(`arn:aws:ecr:us-east-1:${ACCOUNT}:repository/gavel-${stack}/latency`);
    expect(statements.find((s: Props) => s.Sid === 'WriteLogs').Resource).toBe(`${logGroup.state.arn}:*`);
    // The task role grants nothing: the agent calls no AWS API.
    const taskRole = role(task.inputs.taskRoleArn);
    expect(policiesOf(taskRole.state.name)).toEqual([]);
    expect(
      run
        .ofType('aws:iam/rolePolicyAttachment:RolePolicyAttachment')
        .filter((a) => a.inputs.role === taskRole.state.name),
    ).toEqual([]);
  });

  it('lists every path the compare mode measures, the in-cluster pod IP first, and where to reach the agent', () => {
    expect(lab.targets.map((t) => [t.label, t.from])).toEqual([
      ['pod-ip', 'cluster'],
      ['clusterip', 'cluster'],
      ['nlb', 'cluster'],
      ['alb', 'cluster'],
      ['nlb-peering', 'client-vpc'],
      ['alb-peering', 'client-vpc'],
      ['privatelink', 'client-vpc'],
    ]);
    const host = (label: string) => new URL(lab.targets.find((t) => t.label === label)!.url).host;
    expect(host('pod-ip')).toBe(`latency-server-pods.gavel.svc.cluster.local:${LATENCY_SERVER_PORT}`);
    expect(host('clusterip')).toBe(`latency-server.gavel.svc.cluster.local:${LATENCY_SERVER_PORT}`);
    const dns = (type: string) =>
      run.ofType('aws:lb/loadBalancer:LoadBalancer').find((lb) => lb.inputs.loadBalancerType === type)!.state
        .dnsName;
    expect(host('nlb')).toBe(`${dns('network')}:${LATENCY_SERVER_PORT}`);
    expect(host('nlb-peering')).toBe(host('nlb'));
    expect(host('alb')).toBe(`${dns('application')}:${LATENCY_SERVER_PORT}`);
    expect(lab.agentUrl).toBe(`http://agent.gavel-${stack}-latency-agent.internal:${LATENCY_AGENT_PORT}`);
    // The agent's name resolves from the cluster VPC too (the compare Job runs there).
    const namespace = run.one('aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace');
    expect(namespace.inputs.vpc).toBe(clientVpc.id);
    expect(run.one('aws:route53/zoneAssociation:ZoneAssociation').inputs).toEqual({
      zoneId: namespace.state.hostedZone,
      vpcId: clusterVpc.id,
    });
    expect(run.outputs.latencyLabTargets).toEqual(lab.targets);
  });

  it('uses a verified private DNS name when one is configured', async () => {
    const named = await runProgram(stack, { ...LAB_ON, latencyLabPrivateDnsName: 'latency.example.com' });
    const service = named.one('aws:ec2/vpcEndpointService:VpcEndpointService');
    expect(service.inputs.privateDnsName).toBe('latency.example.com');
    const endpoint = named
      .ofType('aws:ec2/vpcEndpoint:VpcEndpoint')
      .find((e) => e.inputs.serviceName === service.state.serviceName)!;
    expect(endpoint.inputs.privateDnsEnabled).toBe(true);
    const targets = named.outputs.latencyLabTargets as LatencyLab['targets'];
    expect(targets.find((t) => t.label === 'privatelink')!.url).toBe(
      `ws://latency.example.com:${LATENCY_SERVER_PORT}/echo`,
    );
  }, 120_000);
});

describe('latency lab switched off', () => {
  it.each(['dev', 'prod'])(
    'creates nothing of it on the %s stack as committed',
    async (stack) => {
      const run = await runProgram(stack);
      for (const type of LAB_TYPES) expect(run.ofType(type), type).toEqual([]);
      expect(run.ofType('aws:ec2/vpc:Vpc')).toHaveLength(1);
      const labNamed = /^gavel-\w+-latency-(client-|peering|nlb|alb|privatelink|agent)/;
      expect(run.resources.filter((r) => labNamed.test(r.name)).map((r) => r.name)).toEqual([]);
      expect(platformOutputsSchema.parse(run.outputs.platformOutputs).latencyLab).toBeUndefined();
      expect(run.outputs.latencyLabTargets).toBeUndefined();
    },
    120_000,
  );
});
