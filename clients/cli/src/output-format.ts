import { formatCents } from '@gavel/shared';

/**
 * How server events read in the terminal, one line each, e.g.
 * `[lobby] alice: hello`, `[dm] bob → you: hi`, `[bid item1 #3] carol 12.50`.
 */

type Loose = Record<string, unknown>;

const str = (value: unknown): string => (typeof value === 'string' ? value : String(value ?? '?'));

/** Events carry integer cents (`amountCents`); api answers may carry a decimal `amount`. */
export function amountOf(payload: Loose): string {
  if (typeof payload.amountCents === 'number') return formatCents(payload.amountCents);
  if (typeof payload.amount === 'number') return payload.amount.toFixed(2);
  if (typeof payload.amount === 'string') return payload.amount;
  return '?';
}

/** Local wall-clock time of an ISO timestamp, e.g. 14:03:07. */
export function localTime(iso: unknown): string {
  const date = new Date(str(iso));
  return Number.isNaN(date.getTime()) ? str(iso) : date.toLocaleTimeString([], { hour12: false });
}

export function chatLine(message: Loose, me: string, options: { earlier?: boolean } = {}): string {
  const who = message.userId === me ? `${me} (you)` : str(message.userId);
  const suffix = options.earlier ? `  (earlier, ${localTime(message.at)})` : '';
  return `[${str(message.roomId)}] ${who}: ${str(message.text)}${suffix}`;
}

export function dmLine(message: Loose, me: string): string {
  const from = message.from === me ? 'you' : str(message.from);
  const to = message.to === me ? 'you' : str(message.to);
  return `[dm] ${from} → ${to}: ${str(message.text)}`;
}

export function bidLine(bid: Loose): string {
  return `[bid ${str(bid.itemId)} #${str(bid.seq)}] ${str(bid.userId)} ${amountOf(bid)}`;
}

export function extendedLine(event: Loose): string {
  return `[item ${str(event.itemId)}] extended: now ends at ${localTime(event.endsAt)}`;
}

export function closedLine(event: Loose): string {
  const winner = event.winner as Loose | null | undefined;
  const count =
    typeof event.bidCount === 'number' ? `, ${event.bidCount} bid${event.bidCount === 1 ? '' : 's'}` : '';
  if (!winner) return `[item ${str(event.itemId)}] closed without bids`;
  return `[item ${str(event.itemId)}] closed: won by ${str(winner.userId)} at ${amountOf(winner)}${count}`;
}

export function presenceLine(event: Loose, me: string): string {
  const who = event.userId === me ? 'you' : str(event.userId);
  const verb = event.state === 'leave' ? 'left' : 'joined';
  return `[${str(event.roomId)}] * ${who} ${verb}`;
}

export function roomsLine(rooms: readonly Loose[]): string {
  if (rooms.length === 0) return '[rooms] no active rooms';
  const list = rooms.map((r) => `${str(r.roomId)} (${str(r.members)})`).join(', ');
  return `[rooms] ${list}`;
}

export function whoLine(roomId: string, users: readonly unknown[]): string {
  return `[who ${roomId}] ${users.length === 0 ? 'nobody' : users.map(str).join(', ')}`;
}

export function itemLine(item: Loose): string {
  const highest = item.highestBid as Loose | null | undefined;
  const parts = [`[item ${str(item.id)}]`, str(item.title ?? item.id), `— ${str(item.status ?? 'open')}`];
  parts.push(
    highest
      ? `, highest ${amountOf(highest)} by ${str(highest.userId)} (#${str(highest.seq)})`
      : ', no bids yet',
  );
  if (item.endsAt) parts.push(`, ends at ${localTime(item.endsAt)}`);
  return parts.join(' ').replace(/ ,/g, ',');
}

/** The api's answer to our own bid. */
export function acceptedBidLine(bid: Loose): string {
  return `* bid accepted: ${str(bid.itemId)} #${str(bid.seq)} at ${amountOf(bid)}`;
}

/** "4m 05s left", "2h 10m left", "3d 4h left", "ended". */
export function timeLeft(iso: unknown, nowMs = Date.now()): string {
  const end = Date.parse(str(iso));
  if (Number.isNaN(end)) return '';
  let s = Math.floor((end - nowMs) / 1000);
  if (s <= 0) return 'ended';
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d ${h}h left`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m left`;
  return `${m}m ${String(s).padStart(2, '0')}s left`;
}

/** `/items`: one numbered line per open auction, the numbers usable in /watch and /bid. */
export function itemsLines(items: readonly Loose[], me: string, nowMs = Date.now()): string[] {
  if (items.length === 0) return ['[items] no open auctions'];
  const head = `[items] ${items.length} open auction${items.length === 1 ? '' : 's'} (by number: /watch 1, /bid 1 AMOUNT)`;
  const width = String(items.length).length;
  return [
    head,
    ...items.map((item, i) => {
      const highest = item.highestBid as Loose | null | undefined;
      const price = highest
        ? `${amountOf(highest)} by ${highest.userId === me ? 'you' : str(highest.userId)}`
        : `no bids, starts at ${str(item.startingPrice ?? '?')}`;
      return `  ${String(i + 1).padStart(width)}. ${str(item.title ?? item.id)} — ${price}, ${timeLeft(item.endsAt, nowMs)}  [${str(item.id)}]`;
    }),
  ];
}
