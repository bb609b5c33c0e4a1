import * as command from '@pulumi/command';
import * as pulumi from '@pulumi/pulumi';

/** AWS's bundle of every RDS certificate authority, valid in every commercial region. */
export const RDS_CA_BUNDLE_URL = 'https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem';

/** Where the bundle lives in the cluster and in the pods (platformOutputs.database.caBundle). */
export const RDS_CA_BUNDLE = {
  configMapName: 'rds-ca-bundle',
  key: 'rds-ca-bundle.pem',
  mountPath: '/etc/gavel/rds-ca',
} as const;

export const rdsCaBundlePath = `${RDS_CA_BUNDLE.mountPath}/${RDS_CA_BUNDLE.key}`;

/**
 * The RDS CA bundle, downloaded once on the machine running `pulumi up` (over HTTPS, checked by
 * that machine's trust store) and kept in state, so previews are stable and the cluster never
 * needs to reach the internet for it. Refresh it with `pulumi up --replace` on this resource.
 */
export class RdsCaBundle extends pulumi.ComponentResource {
  readonly pem: pulumi.Output<string>;

  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super('gavel:platform:RdsCaBundle', name, {}, opts);
    const download = new command.local.Command(
      name,
      { create: `curl --fail --silent --show-error --location --proto '=https' ${RDS_CA_BUNDLE_URL}` },
      { parent: this },
    );
    this.pem = download.stdout.apply((text) => {
      if (!text.includes('-----BEGIN CERTIFICATE-----')) {
        throw new Error(`${RDS_CA_BUNDLE_URL} did not return PEM certificates`);
      }
      return text.endsWith('\n') ? text : `${text}\n`;
    });
    this.registerOutputs({});
  }
}
