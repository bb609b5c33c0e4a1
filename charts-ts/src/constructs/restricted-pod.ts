import { ApiObject, JsonPatch, Size } from 'cdk8s';
import { Volume, type Container, type ContainerSecurityContextProps, type Workload } from 'cdk8s-plus-27';

/**
 * Pod Security "restricted" for every container: non-root, no privilege escalation, read-only
 * root filesystem, all capabilities dropped, RuntimeDefault seccomp.
 */
export function restrictedContainerContext(uid: number): ContainerSecurityContextProps {
  return {
    ensureNonRoot: true,
    user: uid,
    group: uid,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
  };
}

/**
 * cdk8s-plus-27 has no field for seccomp or for dropping `ALL` (its Capability enum only lists
 * named CAP_* values), so these two go in as JSON patches on the synthesized pod template. Call
 * it after every container has been added.
 */
export function completeRestrictedPod(workload: Workload): void {
  const template = '/spec/template/spec';
  const obj = ApiObject.of(workload);
  obj.addJsonPatch(JsonPatch.add(`${template}/securityContext/seccompProfile`, { type: 'RuntimeDefault' }));
  workload.initContainers.forEach((_, i) => {
    obj.addJsonPatch(
      JsonPatch.add(`${template}/initContainers/${i}/securityContext/capabilities`, { drop: ['ALL'] }),
    );
  });
  workload.containers.forEach((_, i) => {
    obj.addJsonPatch(
      JsonPatch.add(`${template}/containers/${i}/securityContext/capabilities`, { drop: ['ALL'] }),
    );
  });
}

/** The root filesystem is read-only: give the container a small writable /tmp. */
export function mountTmp(workload: Workload, container: Container, sizeMi = 64): void {
  const tmp = Volume.fromEmptyDir(workload, 'tmp', 'tmp', { sizeLimit: Size.mebibytes(sizeMi) });
  container.mount('/tmp', tmp);
}
