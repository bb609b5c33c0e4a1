import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';

/** The images charts-ts deploys, one repository each. */
export const SERVICE_IMAGES = ['api', 'broadcast', 'archival', 'latency'] as const;
export type ServiceImage = (typeof SERVICE_IMAGES)[number];

/** Images kept per repository; older ones expire. */
export const IMAGES_KEPT = 10;

export interface RegistryArgs {
  /** Allow `pulumi destroy` to delete repositories that still hold images. */
  readonly forceDelete: boolean;
}

/** ECR repositories with immutable tags, scanned on push, keeping the last {@link IMAGES_KEPT} images. */
export class Registry extends pulumi.ComponentResource {
  readonly repositoryUrls: Record<ServiceImage, pulumi.Output<string>>;

  constructor(name: string, args: RegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:Registry', name, {}, opts);
    const lifecyclePolicy = JSON.stringify({
      rules: [
        {
          rulePriority: 1,
          description: `keep the last ${IMAGES_KEPT} images`,
          selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: IMAGES_KEPT },
          action: { type: 'expire' },
        },
      ],
    });

    const entries = SERVICE_IMAGES.map((service) => {
      const repository = new aws.ecr.Repository(
        `${name}-${service}`,
        {
          name: `${name}/${service}`,
          imageScanningConfiguration: { scanOnPush: true },
          // Tags are versions (package version + git sha) pulled with IfNotPresent: a tag
          // pushed twice would leave nodes running different images under one name.
          imageTagMutability: 'IMMUTABLE',
          encryptionConfigurations: [{ encryptionType: 'AES256' }],
          forceDelete: args.forceDelete,
        },
        { parent: this },
      );
      new aws.ecr.LifecyclePolicy(
        `${name}-${service}`,
        { repository: repository.name, policy: lifecyclePolicy },
        { parent: this },
      );
      return [service, repository.repositoryUrl] as const;
    });
    this.repositoryUrls = Object.fromEntries(entries) as Record<ServiceImage, pulumi.Output<string>>;
    this.registerOutputs({ repositoryUrls: this.repositoryUrls });
  }
}
