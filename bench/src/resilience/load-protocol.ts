/** Between the resilience experiment and its load process. */
export interface LoadStart {
  readonly type: 'start';
  readonly url: string;
  readonly itemId: string;
  /** Bids per second over all connections (autocannon overallRate). */
  readonly rate: number;
  readonly connections: number;
}

/** A quarter second of answers. */
export interface Bucket {
  /** Start of the bucket, epoch ms. */
  readonly at: number;
  readonly accepted: number;
  /** Other answers by status (409 races, 429, 503 while a dependency is down). */
  readonly refused: Record<string, number>;
  /** Requests that got no answer (connection refused or reset, timeouts). */
  readonly errors: number;
}

export type LoadMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'buckets'; readonly buckets: readonly Bucket[] }
  | { readonly type: 'stopped'; readonly accepted: number };
