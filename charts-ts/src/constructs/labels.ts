/** Recommended Kubernetes labels; `app.kubernetes.io/name` is also the pod selector. */
export function appLabels(
  name: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/part-of': 'gavel',
    'app.kubernetes.io/managed-by': 'cdk8s',
    ...extra,
  };
}

/** The subset of labels that selects pods (stable: never add version-like values here). */
export function selectorLabels(
  name: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return { 'app.kubernetes.io/name': name, ...extra };
}
