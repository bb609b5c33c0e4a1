/** What the harness asks of the load generator for one run, and what it reports back. */
export interface LoadSpec {
  /** Base URL of the server under load; several (replicas): connection i goes to url[i % length]. */
  readonly url: string | readonly string[];
  readonly connections: number;
  readonly durationS: number;
  /**
   * Connection i bids on paths[i % length] (an item's bid route); with `cyclePaths`, on paths
   * i, i + connections, i + 2 × connections, … in turn, so that many items share few connections
   * and no two connections bid on the same item.
   */
  readonly paths: readonly string[];
  /** @default false */
  readonly cyclePaths?: boolean;
  /** Connection i sends `Authorization: Bearer tokens[i % length]`; none when empty. */
  readonly tokens: readonly string[];
  /** Connection i names users[i % length] as user_id in the body; none when empty. */
  readonly users: readonly string[];
  /**
   * Amount of each bid, in cents: `shared` counts up across all connections (bidders racing on
   * one item), `per-path` counts up per path (each bid the new highest), `fixed` never changes.
   */
  readonly amount:
    | { readonly kind: 'shared' | 'per-path'; readonly startCents: number }
    | { readonly kind: 'fixed'; readonly cents: number };
  /** Read 409 bodies to tell `bid_too_low` from `contention`. @default false */
  readonly classifyConflicts?: boolean;
  /** Read each 201 body's seq, reported per path in `seqs` (for a gap check). @default false */
  readonly collectSeqs?: boolean;
}

export interface LoadResult {
  /** Every HTTP answer received, whatever its status. */
  readonly answers: number;
  /** By HTTP status, plus `409:<error>` when conflicts are classified. */
  readonly statuses: Record<string, number>;
  /** Latency of every answer in µs, an HdrHistogram encoded with encodeIntoCompressedBase64. */
  readonly histogram: string;
  /** The same without each connection's first answer (which includes connecting and being accepted). */
  readonly steadyHistogram: string;
  readonly errors: number;
  readonly timeouts: number;
  readonly seconds: number;
  /** With `collectSeqs`: the seq of every accepted bid, by path, in the order answered. */
  readonly seqs?: Record<string, number[]>;
}

export type GeneratorMessage =
  { type: 'ready' } | { type: 'done'; result: LoadResult } | { type: 'failed'; error: string };
