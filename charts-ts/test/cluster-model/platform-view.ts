import { parse as parseYaml } from 'yaml';
import type { ProgramRun, RegisteredResource } from '../../../platform/test/support/program.js';
import type { Json, Taint } from './workloads.js';

/** What the platform program built, read from its registrations under Pulumi mocks. */

export interface NodeGroupView {
  readonly name: string;
  readonly instanceType: string;
  readonly minSize: number;
  readonly maxSize: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly Taint[];
  readonly zones: readonly string[];
  /** KubeletConfiguration fields the launch template's nodeadm NodeConfig sets. */
  readonly kubelet: Readonly<Record<string, unknown>>;
}

export interface AddonView {
  readonly name: string;
  readonly configuration: Json;
  readonly serviceAccountRoleArn?: string;
}

export interface HelmReleaseView {
  readonly chart: string;
  readonly name: string;
  readonly namespace: string;
  readonly createNamespace: boolean;
  readonly values: Json;
}

export interface RoleView {
  readonly name: string;
  readonly arn: string;
  /** `namespace/name` of the ServiceAccounts an IRSA trust policy admits. */
  readonly trustedServiceAccounts: readonly string[];
  readonly managedPolicyArns: readonly string[];
  readonly inlinePolicies: readonly Json[];
}

export interface PodIdentityView {
  readonly serviceAccount: string;
  readonly roleArn: string;
}

export interface TargetGroupView {
  readonly arn: string;
  readonly port: number;
  readonly protocol: string;
  readonly targetType: string;
  readonly vpcId: string;
}

export interface PlatformView {
  readonly stack: string;
  readonly vpcCidr: string;
  readonly zones: readonly string[];
  readonly nodeGroups: readonly NodeGroupView[];
  readonly addons: readonly AddonView[];
  readonly releases: readonly HelmReleaseView[];
  readonly roles: readonly RoleView[];
  readonly podIdentities: readonly PodIdentityView[];
  /** Kubernetes objects the platform applies itself (Namespace, Secret, StorageClass, Job...). */
  readonly objects: readonly Json[];
  readonly ecrRepositories: readonly { readonly url: string; readonly immutable: boolean }[];
  /** Load balancer target groups the platform makes itself (the latency lab's). */
  readonly targetGroups: readonly TargetGroupView[];
  readonly clusterVpcId: string;
  /** The eks component's own VPC CNI settings. */
  readonly vpcCniOptions: Json;
  readonly platformOutputs: Json;
  /** The RDS master user, which applications must not connect as. */
  readonly databaseMasterUser: string;
}

const TAINT_EFFECTS: Record<string, string> = {
  NO_SCHEDULE: 'NoSchedule',
  PREFER_NO_SCHEDULE: 'PreferNoSchedule',
  NO_EXECUTE: 'NoExecute',
};

const K8S_KINDS: Record<string, string> = {
  'kubernetes:core/v1:Namespace': 'Namespace',
  'kubernetes:core/v1:Secret': 'Secret',
  'kubernetes:core/v1:ConfigMap': 'ConfigMap',
  'kubernetes:core/v1:ServiceAccount': 'ServiceAccount',
  'kubernetes:storage.k8s.io/v1:StorageClass': 'StorageClass',
  'kubernetes:batch/v1:Job': 'Job',
};

/** The KubeletConfiguration inside a launch template's MIME user data (nodeadm NodeConfig). */
export function kubeletConfigOf(userData: string | undefined): Record<string, unknown> {
  if (!userData) return {};
  const text = Buffer.from(userData, 'base64').toString('utf8');
  const config: Record<string, unknown> = {};
  for (const part of text.split(/^--[^\n]*$/m)) {
    const body = part
      .split(/\r?\n\r?\n/)
      .slice(1)
      .join('\n\n');
    if (!/kind:\s*NodeConfig/.test(body)) continue;
    const doc = parseYaml(body) as Json;
    Object.assign(config, doc?.spec?.kubelet?.config ?? {});
  }
  return config;
}

function serviceAccountsTrusted(role: RegisteredResource): string[] {
  const policy = JSON.parse(role.inputs.assumeRolePolicy) as Json;
  return (policy.Statement ?? []).flatMap((statement: Json) => {
    const equals = statement.Condition?.StringEquals ?? {};
    return Object.entries(equals)
      .filter(([key]) => key.endsWith(':sub'))
      .flatMap(([, value]) => [value].flat() as string[])
      .filter((sub) => sub.startsWith('system:serviceaccount:'))
      .map((sub) => sub.slice('system:serviceaccount:'.length).replace(':', '/'));
  });
}

export function platformView(run: ProgramRun): PlatformView {
  const subnets = new Map(run.ofType('aws:ec2/subnet:Subnet').map((s) => [s.id, s.inputs.availabilityZone]));
  const nodeGroups = run.ofType('aws:eks/nodeGroup:NodeGroup').map((ng): NodeGroupView => {
    const template = ng.inputs.launchTemplate ? run.byId(ng.inputs.launchTemplate.id) : undefined;
    return {
      name: ng.name,
      instanceType: ng.inputs.instanceTypes[0],
      minSize: ng.inputs.scalingConfig.minSize,
      maxSize: ng.inputs.scalingConfig.maxSize,
      labels: ng.inputs.labels ?? {},
      taints: (ng.inputs.taints ?? []).map((t: Json) => ({
        key: t.key,
        value: t.value,
        effect: TAINT_EFFECTS[t.effect] ?? t.effect,
      })),
      zones: [...new Set((ng.inputs.subnetIds as string[]).map((id) => subnets.get(id) as string))],
      kubelet: kubeletConfigOf(template?.inputs.userData),
    };
  });
  const roleResources = run.ofType('aws:iam/role:Role');
  const roles = roleResources.map((role): RoleView => {
    const ofRole = (type: string) =>
      run.ofType(type).filter((r) => r.inputs.role === role.state.name || r.inputs.role === role.name);
    return {
      name: role.name,
      arn: role.state.arn,
      trustedServiceAccounts: serviceAccountsTrusted(role),
      managedPolicyArns: ofRole('aws:iam/rolePolicyAttachment:RolePolicyAttachment').map(
        (a) => a.inputs.policyArn,
      ),
      inlinePolicies: ofRole('aws:iam/rolePolicy:RolePolicy').map((p) => JSON.parse(p.inputs.policy)),
    };
  });
  const cluster = run.one('eks:index:Cluster');
  // The cluster's VPC by name: the latency lab adds a client VPC beside it.
  const vpc = run.ofType('aws:ec2/vpc:Vpc').find((v) => v.name === cluster.inputs.name)!;
  return {
    stack: String(run.outputs.platformOutputs && (run.outputs.platformOutputs as Json).stack),
    vpcCidr: vpc.inputs.cidrBlock,
    zones: [...new Set(subnets.values())].sort(),
    nodeGroups,
    addons: run.ofType('aws:eks/addon:Addon').map((a) => ({
      name: a.inputs.addonName,
      configuration: a.inputs.configurationValues ? JSON.parse(a.inputs.configurationValues) : {},
      ...(a.inputs.serviceAccountRoleArn ? { serviceAccountRoleArn: a.inputs.serviceAccountRoleArn } : {}),
    })),
    releases: run.ofType('kubernetes:helm.sh/v3:Release').map((r) => ({
      chart: r.inputs.chart,
      name: r.inputs.name ?? r.name,
      namespace: r.inputs.namespace ?? 'default',
      createNamespace: r.inputs.createNamespace ?? false,
      values: r.inputs.values ?? {},
    })),
    roles,
    podIdentities: run.ofType('aws:eks/podIdentityAssociation:PodIdentityAssociation').map((p) => ({
      serviceAccount: `${p.inputs.namespace}/${p.inputs.serviceAccount}`,
      roleArn: p.inputs.roleArn,
    })),
    objects: run.resources
      .filter((r) => K8S_KINDS[r.type])
      .map((r) => ({ ...r.inputs, kind: K8S_KINDS[r.type], metadata: { ...r.inputs.metadata } })),
    ecrRepositories: run.ofType('aws:ecr/repository:Repository').map((r) => ({
      url: r.state.repositoryUrl,
      immutable: String(r.inputs.imageTagMutability ?? 'MUTABLE').startsWith('IMMUTABLE'),
    })),
    targetGroups: run.ofType('aws:lb/targetGroup:TargetGroup').map((tg) => ({
      arn: tg.state.arn,
      port: tg.inputs.port,
      protocol: tg.inputs.protocol,
      targetType: tg.inputs.targetType,
      vpcId: tg.inputs.vpcId,
    })),
    clusterVpcId: vpc.id,
    vpcCniOptions: { useDefaultVpcCni: cluster.inputs.useDefaultVpcCni, ...cluster.inputs.vpcCniOptions },
    platformOutputs: run.outputs.platformOutputs,
    databaseMasterUser: run.one('aws:rds/instance:Instance').inputs.username,
  };
}
