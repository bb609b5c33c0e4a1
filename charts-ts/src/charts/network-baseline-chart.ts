import { Chart } from 'cdk8s';
import { NetworkPolicy, NetworkPolicyPort, NetworkPolicyTrafficDefault, Pods } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import type { ChartConfig } from '../config.js';
import { clusterDns } from '../constructs/network-peers.js';

/**
 * Default deny in both directions for every pod of the namespace; each workload's chart then
 * allows exactly the flows it needs. DNS is the one flow every pod has.
 */
export class NetworkBaselineChart extends Chart {
  constructor(scope: Construct, id: string, config: ChartConfig) {
    super(scope, id, { namespace: config.namespace });
    const allPods = Pods.all(this, 'AllPods');
    new NetworkPolicy(this, 'DefaultDeny', {
      metadata: { name: 'default-deny' },
      selector: allPods,
      ingress: { default: NetworkPolicyTrafficDefault.DENY },
      egress: { default: NetworkPolicyTrafficDefault.DENY },
    });
    new NetworkPolicy(this, 'AllowDns', {
      metadata: { name: 'allow-dns' },
      selector: allPods,
      egress: {
        rules: [{ peer: clusterDns(this), ports: [NetworkPolicyPort.udp(53), NetworkPolicyPort.tcp(53)] }],
      },
    });
  }
}
