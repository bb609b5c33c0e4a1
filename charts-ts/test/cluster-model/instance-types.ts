/**
 * What a node of each instance type offers the scheduler. Capacity from the EC2 instance type
 * tables; pods per node from the VPC CNI's formula without prefix delegation,
 * ENIs × (IPv4 addresses per ENI − 1) + 2; reservations as the EKS AL2023 AMI (nodeadm) computes them.
 */
export interface InstanceType {
  readonly vcpu: number;
  readonly memoryMi: number;
  readonly maxPods: number;
}

export const INSTANCE_TYPES: Readonly<Record<string, InstanceType>> = {
  'm6i.large': { vcpu: 2, memoryMi: 8 * 1024, maxPods: 29 },
  'm6i.xlarge': { vcpu: 4, memoryMi: 16 * 1024, maxPods: 58 },
  'm6i.2xlarge': { vcpu: 8, memoryMi: 32 * 1024, maxPods: 58 },
  'm6i.4xlarge': { vcpu: 16, memoryMi: 64 * 1024, maxPods: 234 },
  'm6i.8xlarge': { vcpu: 32, memoryMi: 128 * 1024, maxPods: 234 },
  'c6i.xlarge': { vcpu: 4, memoryMi: 8 * 1024, maxPods: 58 },
  'c6i.2xlarge': { vcpu: 8, memoryMi: 16 * 1024, maxPods: 58 },
};

export interface Allocatable {
  readonly cpuMillis: number;
  readonly memoryMi: number;
  readonly pods: number;
}

/**
 * kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of the next two, 0.25% of
 * the rest. kube-reserved memory: 255 MiB + 11 MiB per pod; hard eviction at 100 MiB. The
 * kernel and firmware keep about 4% of the nominal memory before the kubelet sees any.
 */
export function allocatable(instanceType: string): Allocatable {
  const type = INSTANCE_TYPES[instanceType];
  if (!type) throw new Error(`the cluster model does not know instance type ${instanceType}; add it`);
  const cores = type.vcpu;
  const reservedCpu =
    60 + (cores > 1 ? 10 : 0) + Math.min(Math.max(cores - 2, 0), 2) * 5 + Math.max(cores - 4, 0) * 2.5;
  const capacityMi = Math.floor(type.memoryMi * 0.96);
  return {
    cpuMillis: cores * 1000 - Math.ceil(reservedCpu),
    memoryMi: capacityMi - (255 + 11 * type.maxPods) - 100,
    pods: type.maxPods,
  };
}
