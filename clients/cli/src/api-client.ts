import { randomUUID } from 'node:crypto';

/** The few api routes the CLI calls, with failures turned into readable messages. */

export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status, or undefined when no answer came (unreachable, reset, timed out). */
    readonly status: number | undefined,
    /** The error body's machine code (`outcome_unknown`, `bid_too_low` …), when there is one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface AcceptedBid {
  readonly itemId: string;
  readonly seq: number;
  readonly amount: number | string;
  readonly userId: string;
  readonly at: string;
}

export interface ItemSummary {
  readonly id: string;
  readonly title?: string;
  readonly status?: string;
  readonly highestBid?: { amount: number | string; userId: string; seq: number } | null;
  readonly bidCount?: number;
  readonly endsAt?: string;
  readonly startingPrice?: string;
  readonly minIncrement?: string;
}

export interface ChatHistoryMessage {
  readonly id: string;
  readonly userId: string;
  readonly text: string;
  readonly at: string;
}

/** Connection errors that mean the request was never sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

/** A request timeout long enough for a loaded CI machine. @default 10000 */
const REQUEST_TIMEOUT_MS = 10_000;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private token?: string,
  ) {}

  withToken(token: string): ApiClient {
    return new ApiClient(this.baseUrl, token);
  }

  /** Calls from now on carry `token` (a renewed sign-in). */
  useToken(token: string): void {
    this.token = token;
  }

  async devToken(userId: string): Promise<string> {
    const body = await this.request('POST', '/api/v1/dev/token', { userId });
    const token = (body as { token?: unknown }).token;
    if (typeof token !== 'string') throw new ApiError('the api answered without a token', undefined);
    return token;
  }

  async item(itemId: string): Promise<ItemSummary | undefined> {
    try {
      return (await this.request('GET', `/api/v1/items/${encodeURIComponent(itemId)}`)) as ItemSummary;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** Open auctions, as the api lists them. */
  async openItems(limit = 50): Promise<ItemSummary[]> {
    const body = await this.request('GET', `/api/v1/items?status=open&limit=${limit}`);
    const list = (body as { items?: unknown }).items;
    return Array.isArray(list) ? (list as ItemSummary[]) : [];
  }

  /** Places a bid; the idempotency key makes a retried request safe. */
  async bid(itemId: string, amount: string, idempotencyKey = randomUUID()): Promise<AcceptedBid> {
    const body = await this.request(
      'POST',
      `/api/v1/items/${encodeURIComponent(itemId)}/bid`,
      { amount },
      { 'idempotency-key': idempotencyKey },
    );
    return body as AcceptedBid;
  }

  /** Newest first, as the api returns them. */
  async roomHistory(roomId: string, limit: number): Promise<ChatHistoryMessage[]> {
    const body = await this.request(
      'GET',
      `/api/v1/rooms/${encodeURIComponent(roomId)}/messages?limit=${limit}`,
    );
    const list = Array.isArray(body) ? body : (body as { messages?: unknown }).messages;
    return Array.isArray(list) ? (list as ChatHistoryMessage[]) : [];
  }

  private async request(
    method: string,
    path: string,
    json?: unknown,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const url = new URL(path, this.baseUrl);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...headers,
        },
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      // Refused or not found: the request never left. Anything else (reset, timeout) may have
      // reached the api.
      const code = NOT_SENT.has(cause?.code ?? '') ? 'unreachable' : 'no_answer';
      throw new ApiError(`cannot reach the api at ${url.origin} (${reason})`, undefined, code);
    }
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text.length > 0 ? JSON.parse(text) : {};
    } catch {
      // Not JSON (a proxy's error page, say): the status line below still explains it.
    }
    if (!res.ok) {
      const code = field(body, 'error');
      throw new ApiError(
        describeFailure(res.status, body),
        res.status,
        typeof code === 'string' ? code : undefined,
      );
    }
    return body;
  }
}

function field(body: unknown, name: string): unknown {
  return body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
}

function amountText(value: unknown): string | undefined {
  if (typeof value === 'number' || typeof value === 'string') return String(value);
  if (value && typeof value === 'object') return amountText(field(value, 'amount'));
  return undefined;
}

/** One line per failure, naming what the user can do about it. */
export function describeFailure(status: number, body: unknown): string {
  const code = field(body, 'error');
  const message = field(body, 'message');
  const detail = typeof message === 'string' ? message : typeof code === 'string' ? code : undefined;
  switch (status) {
    case 400:
      return `rejected: ${detail ?? 'invalid input'}`;
    case 401:
      return `not signed in or token expired (${detail ?? 'unauthorized'})`;
    case 404:
      return `not found${detail ? ` (${detail})` : ''}`;
    case 409: {
      if (code !== 'bid_too_low') return `conflict: ${detail ?? 'try again'}`;
      const highest = amountText(field(body, 'highest'));
      const minimum = amountText(field(body, 'minimum'));
      return `bid too low${highest ? `: the highest bid is ${highest}` : ''}${minimum ? `, bid at least ${minimum}` : ''}`;
    }
    case 410:
      return 'auction closed: no more bids on this item';
    case 429:
      // The api says what was limited and when to come back ("too many bids; retry in 2 s").
      return typeof message === 'string'
        ? `slow down: ${message}`
        : 'too many requests: slow down and try again';
    case 503:
      // Sent to Redis, unanswered: it may have been applied (a bid is asked about again).
      if (code === 'outcome_unknown') return 'no answer from the service: it may or may not have been done';
      return 'the service is unavailable right now, try again shortly';
    default:
      return `the api answered ${status}${detail ? `: ${detail}` : ''}`;
  }
}
