import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import {
  ConfigMap,
  Cpu,
  Deployment,
  DeploymentStrategy,
  Handler,
  HorizontalPodAutoscaler,
  ImagePullPolicy,
  Volume,
  LabelSelector,
  PercentOrAbsolute,
  Probe,
  Service,
  ServiceAccount,
  ServiceType,
  type Container,
  type EnvValue,
  type Metric,
  type ScalingRules,
} from 'cdk8s-plus-27';
import { Size } from 'cdk8s';
import { Construct } from 'constructs';
import { APP_UID, type ServiceSizing } from '../config.js';
import { appLabels, selectorLabels } from './labels.js';
import { PodDisruptionBudget } from './pod-disruption-budget.js';
import { completeRestrictedPod, mountTmp, restrictedContainerContext } from './restricted-pod.js';

export interface GavelServiceProps {
  /** Name of the Deployment, its ServiceAccount, Service, HPA and PDB. */
  readonly name: string;
  /** `app.kubernetes.io/name` of the pods; several Deployments may share it (blue/green). */
  readonly app: string;
  /** Labels that set this Deployment's pods apart from others of the same app (e.g. colour). */
  readonly variantLabels?: Readonly<Record<string, string>>;
  readonly image: string;
  readonly imagePullPolicy: 'IfNotPresent' | 'Always';
  /** Port that serves /livez, /readyz and /metrics (and the traffic, for servers). */
  readonly port: number;
  /** Overrides the image's ENTRYPOINT (the latency client runs the same image as the server). */
  readonly command?: string[];
  readonly env: Readonly<Record<string, EnvValue>>;
  readonly sizing: ServiceSizing;
  /** HPA metrics and scale-down behaviour; undefined means no HPA. */
  readonly autoscaling?: { readonly metrics: Metric[]; readonly scaleDown?: ScalingRules };
  /**
   * Another autoscaler (KEDA) owns the replica count: no HPA and no spec.replicas.
   * @default false
   */
  readonly externallyScaled?: boolean;
  /**
   * Create a ClusterIP Service in front of the pods.
   * @default true
   */
  readonly service?: boolean;
  /** Annotations of the Service (e.g. target group attributes read by the ALB controller). */
  readonly serviceAnnotations?: Readonly<Record<string, string>>;
  /**
   * Create a PodDisruptionBudget.
   * @default false
   */
  readonly disruptionBudget?: boolean;
  /**
   * Seconds the container sleeps in preStop before SIGTERM, so that it leaves Service endpoints
   * and load balancer target groups before it stops accepting work.
   * @default - no preStop hook
   */
  readonly preStopSleepS?: number;
  /** @default 30 seconds (the Kubernetes default) */
  readonly terminationGracePeriod?: Duration;
  /** ConfigMaps someone else creates (the platform's CA bundle), mounted read-only. @default [] */
  readonly configMapMounts?: readonly { readonly configMapName: string; readonly mountPath: string }[];
}

/**
 * One Gavel process as Kubernetes runs it: ServiceAccount (no token), Deployment with probes,
 * limits and a restricted security context, optional ClusterIP Service, HPA and PDB.
 */
export class GavelService extends Construct {
  readonly deployment: Deployment;
  readonly container: Container;
  readonly serviceAccount: ServiceAccount;
  readonly service?: Service;
  readonly autoscaler?: HorizontalPodAutoscaler;
  readonly disruptionBudget?: PodDisruptionBudget;

  constructor(scope: Construct, id: string, props: GavelServiceProps) {
    super(scope, id);
    const labels = appLabels(props.app, props.variantLabels);
    const selector = selectorLabels(props.app, props.variantLabels);
    const { resources, replicas } = props.sizing;

    this.serviceAccount = new ServiceAccount(this, 'ServiceAccount', {
      metadata: { name: props.name, labels },
      automountToken: false,
    });

    this.deployment = new Deployment(this, 'Deployment', {
      metadata: { name: props.name, labels },
      podMetadata: { labels },
      select: false,
      // With an autoscaler the replica count is its business: leaving it out keeps
      // `kubectl apply` from resetting the scale on every deploy.
      ...(props.autoscaling === undefined && !props.externallyScaled ? { replicas: replicas.min } : {}),
      serviceAccount: this.serviceAccount,
      automountServiceAccountToken: false,
      securityContext: { ensureNonRoot: true, user: APP_UID, group: APP_UID, fsGroup: APP_UID },
      // Surge first: a rollout never drops below the current capacity.
      strategy: DeploymentStrategy.rollingUpdate({
        maxSurge: PercentOrAbsolute.percent(25),
        maxUnavailable: PercentOrAbsolute.absolute(0),
      }),
      ...(props.terminationGracePeriod ? { terminationGracePeriod: props.terminationGracePeriod } : {}),
    });
    this.deployment.select(LabelSelector.of({ labels: selector }));
    if (props.externallyScaled) {
      // cdk8s-plus defaults to 2 replicas when it sees no HPA; the external scaler decides.
      ApiObject.of(this.deployment).addJsonPatch(JsonPatch.remove('/spec/replicas'));
    }

    this.container = this.deployment.addContainer({
      name: props.app,
      image: props.image,
      imagePullPolicy:
        props.imagePullPolicy === 'Always' ? ImagePullPolicy.ALWAYS : ImagePullPolicy.IF_NOT_PRESENT,
      ports: [{ name: 'http', number: props.port }],
      ...(props.command ? { command: props.command } : {}),
      envVariables: { ...props.env },
      resources: {
        cpu: { request: Cpu.millis(resources.cpuRequestMillis), limit: Cpu.millis(resources.cpuLimitMillis) },
        memory: {
          request: Size.mebibytes(resources.memoryRequestMi),
          limit: Size.mebibytes(resources.memoryLimitMi),
        },
      },
      securityContext: restrictedContainerContext(APP_UID),
      // Liveness only asks "is the event loop alive"; readiness checks dependencies, so a Redis
      // outage takes pods out of rotation without restarting them all.
      liveness: Probe.fromHttpGet('/livez', {
        port: props.port,
        periodSeconds: Duration.seconds(10),
        timeoutSeconds: Duration.seconds(3),
        failureThreshold: 3,
      }),
      readiness: Probe.fromHttpGet('/readyz', {
        port: props.port,
        periodSeconds: Duration.seconds(5),
        timeoutSeconds: Duration.seconds(3),
        failureThreshold: 2,
      }),
      startup: Probe.fromHttpGet('/livez', {
        port: props.port,
        periodSeconds: Duration.seconds(2),
        failureThreshold: 30,
      }),
      ...(props.preStopSleepS
        ? { lifecycle: { preStop: Handler.fromCommand(['sleep', String(props.preStopSleepS)]) } }
        : {}),
    });
    mountTmp(this.deployment, this.container);
    (props.configMapMounts ?? []).forEach((mount, i) => {
      const configMap = ConfigMap.fromConfigMapName(this, `MountedConfig${i}`, mount.configMapName);
      const volume = Volume.fromConfigMap(this, `MountedConfigVolume${i}`, configMap, {
        name: mount.configMapName,
      });
      this.container.mount(mount.mountPath, volume, { readOnly: true });
    });
    completeRestrictedPod(this.deployment);

    if (props.service ?? true) {
      this.service = new Service(this, 'Service', {
        metadata: {
          name: props.name,
          labels,
          ...(props.serviceAnnotations ? { annotations: { ...props.serviceAnnotations } } : {}),
        },
        type: ServiceType.CLUSTER_IP,
        selector: this.deployment,
        ports: [{ name: 'http', port: props.port, targetPort: props.port }],
      });
    }

    if (props.autoscaling) {
      this.autoscaler = new HorizontalPodAutoscaler(this, 'Autoscaler', {
        metadata: { name: props.name, labels },
        target: this.deployment,
        minReplicas: replicas.min,
        maxReplicas: replicas.max,
        metrics: props.autoscaling.metrics,
        ...(props.autoscaling.scaleDown ? { scaleDown: props.autoscaling.scaleDown } : {}),
      });
    }

    if (props.disruptionBudget) {
      this.disruptionBudget = new PodDisruptionBudget(this, 'DisruptionBudget', {
        name: props.name,
        workload: this.deployment,
      });
    }
  }
}
