import { ApiObject, JsonPatch } from 'cdk8s';
import type { StatefulSet } from 'cdk8s-plus-27';
import { Quantity } from 'cdk8s-plus-27/lib/imports/k8s.js';

export interface DataVolumeOptions {
  /** Where the first container mounts the claim. */
  readonly mountPath: string;
  readonly sizeGi: number;
  /** @default - the cluster's default StorageClass */
  readonly storageClassName?: string;
}

/**
 * Gives every replica of a StatefulSet its own PersistentVolumeClaim named `data`.
 * cdk8s-plus-27 has no volumeClaimTemplates, so the template and the mount are JSON patches.
 */
export function addDataVolumeClaim(statefulSet: StatefulSet, options: DataVolumeOptions): void {
  const obj = ApiObject.of(statefulSet);
  obj.addJsonPatch(
    JsonPatch.add('/spec/volumeClaimTemplates', [
      {
        metadata: { name: 'data' },
        spec: {
          accessModes: ['ReadWriteOnce'],
          ...(options.storageClassName ? { storageClassName: options.storageClassName } : {}),
          // A Quantity, not a string: the StatefulSet's typed serializer runs after JSON patches
          // and turns a plain string quantity into null.
          resources: { requests: { storage: Quantity.fromString(`${options.sizeGi}Gi`) } },
        },
      },
    ]),
    JsonPatch.add('/spec/template/spec/containers/0/volumeMounts/-', {
      name: 'data',
      mountPath: options.mountPath,
    }),
  );
}
