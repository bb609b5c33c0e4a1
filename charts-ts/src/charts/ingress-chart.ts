import { ApiObject, Chart } from 'cdk8s';
import { HttpIngressPathType, Ingress, IngressBackend, type Service } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { PORTS, type AlbIngress, type ChartConfig, type Weights } from '../config.js';

export interface IngressChartProps {
  readonly config: ChartConfig;
  readonly api: Service;
  readonly broadcastBlue: Service;
  readonly broadcastGreen: Service;
}

/** Name of the ALB forward action that splits WebSocket traffic between the colours. */
export const BROADCAST_ACTION = 'broadcast-weighted';
/** Paths served by the broadcast tier (Socket.IO and plain WebSocket). */
export const BROADCAST_PATHS = ['/socket.io', '/ws'] as const;
/** WebSockets idle for longer than this are closed by the load balancer (seed 001: 300 s). */
export const WEBSOCKET_IDLE_TIMEOUT_S = 300;
/** How long the ALB keeps a client on the colour it first landed on. */
export const STICKINESS_S = 3600;

/**
 * eks: one ALB (class `alb`) with path routing; /socket.io and /ws go to a weighted forward
 * action over broadcast-blue and broadcast-green. kind: ingress-nginx, with green as a canary
 * Ingress carrying the same weight.
 */
export class IngressChart extends Chart {
  constructor(scope: Construct, id: string, props: IngressChartProps) {
    super(scope, id, { namespace: props.config.namespace });
    if (props.config.ingress.kind === 'alb') this.alb(props, props.config.ingress);
    else this.nginx(props);
  }

  private alb(props: IngressChartProps, alb: AlbIngress): void {
    const { weights } = props.config;
    const https = alb.certificateArn !== undefined;
    const annotations: Record<string, string> = {
      'alb.ingress.kubernetes.io/scheme': alb.scheme,
      // Pod IPs as targets: no NodePort hop, and a draining pod leaves the target group itself.
      'alb.ingress.kubernetes.io/target-type': 'ip',
      'alb.ingress.kubernetes.io/healthcheck-path': '/readyz',
      'alb.ingress.kubernetes.io/load-balancer-attributes': `idle_timeout.timeout_seconds=${WEBSOCKET_IDLE_TIMEOUT_S}`,
      'alb.ingress.kubernetes.io/listen-ports': JSON.stringify(
        https ? [{ HTTP: 80 }, { HTTPS: 443 }] : [{ HTTP: 80 }],
      ),
      [`alb.ingress.kubernetes.io/actions.${BROADCAST_ACTION}`]: JSON.stringify(
        weightedForward(props.broadcastBlue, props.broadcastGreen, weights),
      ),
    };
    if (alb.certificateArn) {
      annotations['alb.ingress.kubernetes.io/certificate-arn'] = alb.certificateArn;
      annotations['alb.ingress.kubernetes.io/ssl-redirect'] = '443';
      annotations['alb.ingress.kubernetes.io/ssl-policy'] = 'ELBSecurityPolicy-TLS13-1-2-2021-06';
    }
    const toApi = { service: { name: props.api.name, port: { number: PORTS.api } } };
    const toAction = { service: { name: BROADCAST_ACTION, port: { name: 'use-annotation' } } };
    const path = (p: string, backend: object) => ({ path: p, pathType: 'Prefix', backend });
    // The backend of a weighted action is the action's name, not a Service, which
    // cdk8s-plus-27's Ingress cannot express; hence a plain ApiObject.
    new ApiObject(this, 'Alb', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'gavel', labels: { 'app.kubernetes.io/part-of': 'gavel' }, annotations },
      spec: {
        ingressClassName: 'alb',
        rules: [
          {
            http: {
              paths: [
                path('/api', toApi),
                ...BROADCAST_PATHS.map((p) => path(p, toAction)),
                // The api also serves the web page at /.
                path('/', toApi),
              ],
            },
          },
        ],
      },
    });
  }

  private nginx(props: IngressChartProps): void {
    const { weights } = props.config;
    const timeouts = {
      'nginx.ingress.kubernetes.io/proxy-read-timeout': String(WEBSOCKET_IDLE_TIMEOUT_S),
      'nginx.ingress.kubernetes.io/proxy-send-timeout': String(WEBSOCKET_IDLE_TIMEOUT_S),
    };
    const main = new Ingress(this, 'Main', {
      metadata: { name: 'gavel', labels: { 'app.kubernetes.io/part-of': 'gavel' }, annotations: timeouts },
      className: 'nginx',
    });
    main.addRule('/api', IngressBackend.fromService(props.api), HttpIngressPathType.PREFIX);
    for (const p of BROADCAST_PATHS) {
      main.addRule(p, IngressBackend.fromService(props.broadcastBlue), HttpIngressPathType.PREFIX);
    }
    main.addRule('/', IngressBackend.fromService(props.api), HttpIngressPathType.PREFIX);

    // ingress-nginx's canary sends `canary-weight` percent of the matching paths to green.
    const canary = new Ingress(this, 'Green', {
      metadata: {
        name: 'gavel-green',
        labels: { 'app.kubernetes.io/part-of': 'gavel' },
        annotations: {
          ...timeouts,
          'nginx.ingress.kubernetes.io/canary': 'true',
          'nginx.ingress.kubernetes.io/canary-weight': String(weights.green),
        },
      },
      className: 'nginx',
    });
    for (const p of BROADCAST_PATHS) {
      canary.addRule(p, IngressBackend.fromService(props.broadcastGreen), HttpIngressPathType.PREFIX);
    }
  }
}

/** The ALB controller's forward action: two target groups with weights and group stickiness. */
function weightedForward(blue: Service, green: Service, weights: Weights) {
  return {
    type: 'forward',
    forwardConfig: {
      targetGroups: [
        { serviceName: blue.name, servicePort: String(PORTS.broadcast), weight: weights.blue },
        { serviceName: green.name, servicePort: String(PORTS.broadcast), weight: weights.green },
      ],
      // Once a client lands on a colour it stays there, so a weight change moves new sessions only.
      targetGroupStickinessConfig: { enabled: true, durationSeconds: STICKINESS_S },
    },
  };
}
