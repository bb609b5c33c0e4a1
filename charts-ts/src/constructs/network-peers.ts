import { Namespaces, NetworkPolicyIpBlock, Pods, type INetworkPolicyPeer } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';

/** Namespace of the Prometheus that scrapes /metrics (kube-prometheus-stack's default). */
export const MONITORING_NAMESPACE = 'monitoring';
/** Namespace of ingress-nginx on kind (its upstream kind manifest). */
export const INGRESS_NGINX_NAMESPACE = 'ingress-nginx';
/** Namespace of the KEDA operator, which reads NATS monitoring for consumer lag. */
export const KEDA_NAMESPACE = 'keda';

/** CoreDNS on kind and on EKS both carry k8s-app=kube-dns in kube-system. */
export function clusterDns(scope: Construct): INetworkPolicyPeer {
  return Pods.select(scope, 'ClusterDns', {
    labels: { 'k8s-app': 'kube-dns' },
    namespaces: Namespaces.select(scope, 'KubeSystem', { names: ['kube-system'] }),
  });
}

export function namespaceNamed(scope: Construct, id: string, name: string): INetworkPolicyPeer {
  return Namespaces.select(scope, id, { names: [name] });
}

/**
 * Anywhere. Used only for the latency client's egress to the public addresses of the
 * internet-facing load balancers it measures.
 */
export function anywhere(scope: Construct, id: string): INetworkPolicyPeer {
  return NetworkPolicyIpBlock.anyIpv4(scope, id);
}

/**
 * An address block: the VPC, for ALB/NLB targets in `ip` mode (the load balancers' nodes have
 * VPC addresses the cluster does not know) and for RDS/ElastiCache, which live in the VPC outside
 * the cluster (the platform's security groups are the finer boundary there).
 */
export function addressBlock(scope: Construct, id: string, cidr: string): INetworkPolicyPeer {
  return NetworkPolicyIpBlock.ipv4(scope, id, cidr);
}
