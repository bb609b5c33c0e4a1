import { readFileSync } from 'node:fs';
import * as pulumi from '@pulumi/pulumi';
import { vi } from 'vitest';
import { parse } from 'yaml';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
export const NODE_SECURITY_GROUP = 'sg-0eksnodes';
/** The stand-in RDS CA bundle the mocked download returns. */
export const TEST_CA_BUNDLE = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';
const PROJECT = 'gavel-platform';
const projectFile = (name: string) => new URL(`../../${name}`, import.meta.url);

// Resource inputs are whatever shape each provider takes; tests index into them freely.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Props = Record<string, any>;

export interface RegisteredResource {
  readonly type: string;
  readonly name: string;
  readonly id: string;
  readonly inputs: Props;
  readonly state: Props;
  /** Input paths that arrived marked secret, e.g. `authToken`, `stringData.REDIS_URL`. */
  readonly secretInputs: string[];
}

export interface ProgramRun {
  readonly resources: RegisteredResource[];
  readonly calls: string[];
  /** Stack exports, resolved. */
  readonly outputs: Record<string, unknown>;
  /** Stack exports as the program returned them (Outputs, e.g. to ask whether one is secret). */
  readonly exports: Record<string, unknown>;
  ofType(type: string): RegisteredResource[];
  one(type: string, nameIncludes?: string): RegisteredResource;
  byId(id: string): RegisteredResource;
}

/**
 * The configuration a real `pulumi up` would pass for a stack: Pulumi.yaml defaults overlaid with
 * Pulumi.<stack>.yaml, serialised as the CLI does (strings; arrays and objects as JSON).
 */
export function stackConfig(stack: string, overrides: Record<string, string> = {}) {
  const project = parse(readFileSync(projectFile('Pulumi.yaml'), 'utf8')) as {
    config: Record<string, unknown>;
  };
  const stackFile = parse(readFileSync(projectFile(`Pulumi.${stack}.yaml`), 'utf8')) as {
    config: Record<string, unknown>;
  };
  const serialise = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
  const config: Record<string, string> = {};
  for (const [key, declaration] of Object.entries(project.config)) {
    if (key.includes(':')) config[key] = serialise(declaration);
    else config[`${PROJECT}:${key}`] = serialise((declaration as { default: unknown }).default);
  }
  for (const [key, value] of Object.entries(stackFile.config)) config[key] = serialise(value);
  for (const [key, value] of Object.entries(overrides)) config[`${PROJECT}:${key}`] = value;
  return config;
}

const SECRET_SIG = '4dabf18193072939515e22adb298388d';

/** Strips Pulumi's secret envelopes from mock inputs, noting the paths that were secret. */
function unwrapSecrets(value: unknown, path: string, secretPaths: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, `${path}[${i}]`, secretPaths));
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (SECRET_SIG in record) {
      secretPaths.push(path);
      return unwrapSecrets(record.value, path, secretPaths);
    }
    return Object.fromEntries(
      Object.entries(record).map(([k, v]) => [k, unwrapSecrets(v, path ? `${path}.${k}` : k, secretPaths)]),
    );
  }
  return value;
}

const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;

/** Provider-computed attributes the program reads, per resource type. */
function computedState(type: string, name: string, inputs: Props) {
  switch (type) {
    case 'eks:index:Cluster':
      return {
        eksCluster: { name: inputs.name, endpoint: `https://${name}.gr7.${REGION}.eks.amazonaws.com` },
        kubeconfigJson: JSON.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [] }),
        nodeSecurityGroupId: NODE_SECURITY_GROUP,
        oidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/oidc.eks.${REGION}.amazonaws.com/id/EXAMPLE`,
        oidcIssuer: `oidc.eks.${REGION}.amazonaws.com/id/EXAMPLE`,
      };
    case 'aws:rds/instance:Instance':
      return {
        address: `${inputs.identifier}.abc123.${REGION}.rds.amazonaws.com`,
        masterUserSecrets: [
          {
            secretArn: arn('secretsmanager', 'secret:rds!db-1234-AbCdEf'),
            secretStatus: 'active',
            kmsKeyId: '',
          },
        ],
      };
    case 'aws:elasticache/replicationGroup:ReplicationGroup':
      return inputs.numNodeGroups
        ? {
            configurationEndpointAddress: `clustercfg.${inputs.replicationGroupId}.abc123.use1.cache.amazonaws.com`,
          }
        : { primaryEndpointAddress: `master.${inputs.replicationGroupId}.abc123.use1.cache.amazonaws.com` };
    case 'aws:ecr/repository:Repository':
      return { repositoryUrl: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/${inputs.name}` };
    case 'aws:ec2/launchTemplate:LaunchTemplate':
      return { latestVersion: 1 };
    case 'aws:eks/nodeGroup:NodeGroup':
      return { nodeGroupName: `${inputs.nodeGroupNamePrefix}0001` };
    case 'aws:iam/role:Role':
      return { name, arn: `arn:aws:iam::${ACCOUNT}:role/${name}` };
    case 'aws:lb/loadBalancer:LoadBalancer':
      return {
        arn: arn(
          'elasticloadbalancing',
          `loadbalancer/${inputs.loadBalancerType === 'network' ? 'net' : 'app'}/${name}/0123456789abcdef`,
        ),
        dnsName: `internal-${name}-0123456789.${REGION}.elb.amazonaws.com`,
      };
    case 'aws:lb/targetGroup:TargetGroup':
      return { arn: arn('elasticloadbalancing', `targetgroup/${name}/fedcba9876543210`) };
    case 'aws:ec2/vpcEndpointService:VpcEndpointService':
      return { serviceName: `com.amazonaws.vpce.${REGION}.vpce-svc-0${name.length}abc` };
    case 'aws:ec2/vpcEndpoint:VpcEndpoint':
      return inputs.vpcEndpointType === 'Gateway'
        ? { prefixListId: `pl-${name}` }
        : {
            dnsEntries: [
              {
                dnsName: `vpce-0abc-${name}.${inputs.serviceName}.vpce.amazonaws.com`,
                hostedZoneId: 'Z7HUB22UULQXV',
              },
            ],
          };
    case 'aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace':
      return { hostedZone: `Z-${name}`, arn: arn('servicediscovery', `namespace/ns-${name}`) };
    case 'aws:cloudwatch/dashboard:Dashboard':
      return {};
    case 'command:local:Command':
      // What curl prints for the RDS CA bundle: PEM certificates (a stand-in body).
      return { stdout: TEST_CA_BUNDLE, stderr: '' };
    case 'random:index/randomPassword:RandomPassword':
      return { result: 'A1b2C3d4'.repeat(Math.ceil(inputs.length / 8)).slice(0, inputs.length) };
    case 'aws:secretsmanager/secret:Secret':
      return { arn: arn('secretsmanager', `secret:${name}-AbCdEf`) };
    default:
      return { arn: arn(type.split(':')[1]?.split('/')[0] ?? 'unknown', name) };
  }
}

/** The invokes the program (and @pulumi/eks's SDK) makes; anything else fails the run. */
function invoke(token: string, inputs: Props): Props {
  switch (token) {
    case 'aws:index/getAvailabilityZones:getAvailabilityZones':
      return {
        names: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
        zoneIds: ['use1-az1', 'use1-az2', 'use1-az4'],
      };
    case 'aws:index/getCallerIdentity:getCallerIdentity':
      return { accountId: ACCOUNT, arn: `arn:aws:iam::${ACCOUNT}:user/deployer`, userId: 'AIDEXAMPLE' };
    case 'aws:secretsmanager/getSecretVersion:getSecretVersion':
      return {
        arn: inputs.secretId,
        secretString: JSON.stringify({ username: 'gavel', password: 'p@ss/w:rd#1' }),
      };
    default:
      throw new Error(`unmocked invoke ${token}`);
  }
}

const settle = <T>(output: unknown): Promise<T> =>
  pulumi.Output.isInstance(output)
    ? new Promise<T>((resolve) => (output as pulumi.Output<T>).apply((value) => resolve(value)))
    : Promise.resolve(output as T);

/**
 * Runs src/index.ts under Pulumi mocks for a stack and returns every resource it registered (with
 * its inputs), every invoke, and the resolved stack exports.
 */
export async function runProgram(stack: string, overrides: Record<string, string> = {}): Promise<ProgramRun> {
  const resources: RegisteredResource[] = [];
  const calls: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource({ type, name, inputs: wrapped }) {
        // Names repeat across types (a launch template and its node group), ids must not.
        const id = `${name}-${type.split(':').pop()!.toLowerCase()}`;
        const secretInputs: string[] = [];
        const inputs = unwrapSecrets(wrapped, '', secretInputs) as Props;
        const state = { ...inputs, ...computedState(type, name, inputs) };
        resources.push({ type, name, id, inputs, state, secretInputs });
        return { id, state };
      },
      call({ token, inputs }) {
        calls.push(token);
        return invoke(token, inputs);
      },
    },
    PROJECT,
    stack,
    false,
  );
  pulumi.runtime.setAllConfig(stackConfig(stack, overrides));
  vi.resetModules();
  const program = (await import('../../src/index.js')) as Record<string, unknown>;
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(program)) outputs[key] = await settle(value);
  // Registrations whose inputs resolve late are still in flight; wait until the runtime is idle.
  await pulumi.runtime.disconnect();

  const ofType = (type: string) => resources.filter((r) => r.type === type);
  return {
    resources,
    calls,
    outputs,
    exports: program,
    ofType,
    one(type, nameIncludes) {
      const matches = ofType(type).filter((r) => !nameIncludes || r.name.includes(nameIncludes));
      if (matches.length !== 1) {
        throw new Error(`expected one ${type} named *${nameIncludes ?? ''}*, found ${matches.length}`);
      }
      return matches[0]!;
    },
    byId(id) {
      const match = resources.find((r) => r.id === id);
      if (!match) throw new Error(`no resource with id ${id}`);
      return match;
    },
  };
}
