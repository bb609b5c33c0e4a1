import type { ApiConfig } from '../config.js';
import type { ApiMetrics } from '../api-metrics.js';
import type { BidStrategy } from '../bid-strategies/rules.js';
import type { HistoryRepository } from '../history-repository.js';
import type { ItemsRepository } from '../items-repository.js';
import type { RateLimits } from '../rate-limits.js';
import type { RedisKeys } from '../redis-keys.js';
import type { Authenticator } from '../request-auth.js';
import type { RoomsRepository } from '../rooms-repository.js';

/** What the route modules are built from. */
export interface RouteDeps {
  readonly config: ApiConfig;
  readonly keys: RedisKeys;
  readonly items: ItemsRepository;
  readonly rooms: RoomsRepository;
  readonly strategy: BidStrategy;
  readonly history: HistoryRepository;
  readonly rateLimits: RateLimits;
  readonly authenticate: Authenticator;
  readonly metrics: ApiMetrics;
  /** This process wrote an outbox entry: its relay reads now (see OutboxRelay.wake). */
  readonly outboxWritten: () => void;
}
