/* global document */
import { ApiFailure } from './api.js';
import { announce } from './announcer.js';
import { countdownOf, minimumBidCents, quickBids, standingOf, topBid } from './auction-state.js';
import { bidFailureMessage, placeBidWithRetry } from './bid-retry.js';
import { $, el, messageOf, showError } from './dom.js';
import { centsOf, formatCents, localDateTime, localTime, plainAmount, toCents } from './format.js';
import { renderPriceChart } from './price-chart.js';

/**
 * The open auction: its facts, a live countdown, where the viewer stands (winning, outbid, won),
 * one-click bids, a confirmation for each accepted bid, the price chart and the bid list. Bids are
 * keyed by seq, whichever way they arrive (live, replayed after a reconnect, from the history or
 * as the answer to our own bid), so none shows twice.
 */

/** How long the countdown flashes after a late bid pushed the end. */
const EXTENSION_FLASH_MS = 4000;

function emptyState(itemId) {
  return {
    itemId,
    item: undefined,
    /** seq → bid */
    bids: new Map(),
    lastSeq: 0,
    /** The next-bid amount last put into the bid input. */
    suggested: undefined,
    /** Bids up to this seq were there before we looked: not announced. */
    announcedUpTo: Number.POSITIVE_INFINITY,
    /** Until when the countdown shows that the auction was extended. */
    extendedUntil: 0,
    /** The end times late bids extended it to, so each extension is shown and said once. */
    extendedTo: new Set(),
    /** The standing last announced, so each change is said once. */
    standingKind: undefined,
  };
}

export class AuctionView {
  /**
   * @param {{ me: () => string | undefined, live: () => import('./connection.js').LiveConnection | undefined,
   *   api: () => import('./api.js').Api, onChange: () => void, onUnauthorized: () => void }} deps
   */
  constructor(deps) {
    this.deps = deps;
    this.state = emptyState(undefined);
    /** A bid is being placed (or its outcome checked). */
    this.bidding = false;
    $('bid-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void this.placeBid(
        $('bid-amount').value.trim(),
        event.submitter ?? $('bid-form').querySelector('button'),
      );
    });
  }

  get itemId() {
    return this.state.itemId;
  }

  /** The highest bid seen and its bidder, for the auction list (it may be ahead of the list's last load). */
  leader() {
    const top = topBid(this.state.item, this.state.bids.values());
    return { itemId: this.state.itemId, highestCents: top ? centsOf(top) : undefined, leaderId: top?.userId };
  }

  async open(itemId) {
    const previous = this.state.itemId;
    if (itemId === previous) return;
    this.state = emptyState(itemId);
    $('item-view').dataset.live = 'false';
    for (const id of ['bid-error', 'bid-confirmation']) showError(id, '');
    if (previous) void this.unwatch(previous);
    this.render();
    if (!itemId) return;
    try {
      this.state.item = await this.deps.api().getItem(itemId);
    } catch (err) {
      if (itemId !== this.state.itemId) return;
      // Unknown to the api: where AUTO_OPEN_ITEMS is on, the first bid opens it.
      this.state.item = { id: itemId, title: itemId, status: 'new', highestBid: null, bidCount: 0 };
      if (!(err instanceof ApiFailure && err.status === 404)) showError('bid-error', messageOf(err));
    }
    if (itemId !== this.state.itemId) return;
    this.render();
    this.deps.onChange();
    void this.watch();
    void this.loadHistory(itemId);
  }

  /** Watches the item from the last bid seen (the server replays the ones after it first). */
  async watch() {
    const { itemId } = this.state;
    const live = this.deps.live();
    // Not connected yet: the connection's onConnect watches.
    if (!live?.socket.connected || !itemId) return;
    try {
      const ack = await live.request('item:watch', { itemId, afterSeq: this.state.lastSeq });
      if (itemId !== this.state.itemId) return;
      $('item-view').dataset.live = 'true';
      // From here on a bid is news, worth announcing.
      if (this.state.announcedUpTo === Number.POSITIVE_INFINITY) {
        this.state.announcedUpTo = Math.max(ack.lastSeq ?? 0, this.state.lastSeq);
      }
    } catch (err) {
      showError('bid-error', `Live bids: ${messageOf(err)}`);
    }
  }

  async unwatch(itemId) {
    const live = this.deps.live();
    if (live?.socket.connected) await live.request('item:unwatch', { itemId }).catch(() => undefined);
  }

  /** The stored bids (for a signed-out viewer, the only source; otherwise it fills the chart sooner). */
  async loadHistory(itemId) {
    try {
      const page = await this.deps.api().itemBids(itemId);
      if (itemId !== this.state.itemId) return;
      this.state.historyNeedsSignIn = false;
      for (const bid of page) this.addBid({ ...bid, itemId }, { quiet: true });
    } catch (err) {
      // Where tokens are required (AUTH_MODE=jwt) the history is for signed-in users: say so
      // rather than "no bids yet". Otherwise the history needs PostgreSQL and the archival
      // worker; the live feed works without them.
      if (itemId === this.state.itemId && err instanceof ApiFailure && err.status === 401) {
        this.state.historyNeedsSignIn = true;
        this.render();
      }
    }
  }

  addBid(bid, { quiet = false } = {}) {
    const s = this.state;
    if (!bid || bid.itemId !== s.itemId || typeof bid.seq !== 'number' || s.bids.has(bid.seq)) return;
    s.bids.set(bid.seq, bid);
    s.lastSeq = Math.max(s.lastSeq, bid.seq);
    const me = this.deps.me();
    // A confirmation that said "you're winning" is stale once someone else bids higher.
    if (bid.userId !== me && bid.seq === s.lastSeq) showError('bid-confirmation', '');
    if (!quiet && bid.seq > s.announcedUpTo && bid.userId !== me && bid.seq === s.lastSeq) {
      announce(`New bid on ${s.item?.title ?? s.itemId}: ${formatCents(centsOf(bid))} by ${bid.userId}.`);
    }
    // The first bid on an item we knew nothing about opened it: fetch its rules and end time.
    if (s.item?.status === 'new') void this.reload(bid.itemId);
    this.render();
    this.deps.onChange();
  }

  onBid(bid) {
    this.addBid(bid);
  }

  onExtended(event) {
    if (event?.itemId !== this.state.itemId || !this.state.item) return;
    this.extendTo(event.endsAt);
  }

  onClosed(event) {
    const s = this.state;
    if (event?.itemId !== s.itemId || !s.item) return;
    s.item.status = 'closed';
    s.item.winner = event.winner ?? null;
    this.render();
    this.deps.onChange();
  }

  /**
   * A late bid pushed the end: from the item:extended event or our own bid's answer, whichever
   * comes first (the same end twice is one extension). Equal to the end already shown still
   * counts: an item reloaded after the bid already carries it.
   */
  extendTo(endsAt) {
    const s = this.state;
    const item = s.item;
    if (!item || !endsAt || s.extendedTo.has(endsAt)) return;
    if (Date.parse(endsAt) < Date.parse(item.endsAt ?? '')) return;
    s.extendedTo.add(endsAt);
    item.endsAt = endsAt;
    s.extendedUntil = Date.now() + EXTENSION_FLASH_MS;
    announce(`A late bid extended the auction: it now ends at ${localTime(endsAt)}.`);
    this.render();
  }

  async reload(itemId) {
    try {
      const item = await this.deps.api().getItem(itemId);
      if (itemId !== this.state.itemId) return;
      this.state.item = item;
      this.render();
      this.deps.onChange();
    } catch {
      // Keep what is shown; the next bid or a reload tries again.
    }
  }

  async placeBid(amount, button) {
    // One bid at a time: the one in flight may still be being checked, and a second click meant
    // as "again" would place a second bid.
    if (this.bidding) return;
    showError('bid-error', '');
    showError('bid-confirmation', '');
    const { itemId } = this.state;
    const cents = toCents(amount);
    if (cents === undefined || cents === 0) {
      showError('bid-error', 'Enter an amount like 12.50 (at most two decimals).');
      return;
    }
    this.bidding = true;
    if (button) button.disabled = true;
    try {
      // One key per click, kept by every retry: however many tries it takes, one bid counts.
      const bid = await placeBidWithRetry(() => this.deps.api(), itemId, plainAmount(cents), {
        onChecking: () => {
          if (itemId === this.state.itemId)
            showError('bid-confirmation', 'Checking whether your bid went through…');
        },
      });
      if (itemId !== this.state.itemId) return;
      this.addBid({ ...bid, itemId }, { quiet: true });
      if (bid.extended) this.extendTo(bid.endsAt);
      const leading = topBid(this.state.item, this.state.bids.values())?.seq === bid.seq;
      // A role=status region: this sentence is announced as well as shown.
      showError(
        'bid-confirmation',
        `✓ Bid #${bid.seq} accepted: ${formatCents(centsOf(bid))}.${leading ? " You're winning." : ''}`,
      );
      $('bid-amount').blur();
    } catch (err) {
      if (err instanceof ApiFailure && err.status === 401) this.deps.onUnauthorized();
      if (itemId !== this.state.itemId) return;
      showError('bid-confirmation', '');
      showError('bid-error', bidFailureMessage(err));
      if (err instanceof ApiFailure && err.status === 410 && this.state.item) {
        this.state.item.status = 'closed';
      }
    } finally {
      this.bidding = false;
      if (button) button.disabled = false;
      // The form was held disabled while the bid was in flight.
      this.render();
    }
  }

  /** Once a second: the countdown, and the end of an extension's flash. */
  tick() {
    if (this.state.item) this.renderCountdown();
  }

  render() {
    const s = this.state;
    const item = s.item;
    $('layout').dataset.itemOpen = String(Boolean(s.itemId));
    $('item-placeholder').hidden = Boolean(s.itemId);
    $('item-body').hidden = !item;
    if (!item) return;
    const me = this.deps.me();
    const bids = [...s.bids.values()];
    $('item-title').textContent = item.title ?? item.id;
    const closed = item.status === 'closed';
    const status = closed ? 'closed' : item.status === 'new' ? 'not open yet' : 'open';
    $('item-status').textContent = status;
    $('item-status').dataset.state = closed ? 'closed' : item.status === 'new' ? 'new' : 'open';

    const top = topBid(item, bids);
    $('item-highest').replaceChildren(
      ...(top
        ? [formatCents(centsOf(top)), ' ', el('span', { class: 'by' }, `by ${top.userId ?? '?'}`)]
        : ['—']),
    );
    $('item-count').textContent = String(Math.max(s.lastSeq, item.bidCount ?? 0));
    const ends = $('item-ends');
    ends.dateTime = item.endsAt ?? '';
    ends.textContent = localDateTime(item.endsAt);
    this.renderCountdown();
    this.renderStanding(standingOf(item, bids, me));

    const signedIn = Boolean(me);
    $('bid-form').hidden = closed;
    $('quick-bids').hidden = closed || !signedIn;
    for (const control of $('bid-form').elements) control.disabled = !signedIn || this.bidding;
    const next = minimumBidCents(item, bids);
    $('bid-hint').textContent = closed
      ? ''
      : !signedIn
        ? 'Sign in to bid.'
        : next === undefined
          ? ''
          : `Next bid: at least ${formatCents(next)}`;
    this.renderQuickBids(item, bids, signedIn && !closed);
    const amount = $('bid-amount');
    // Suggest the next minimum when it changes, without overwriting what the user is typing.
    if (next !== undefined && next !== s.suggested) {
      s.suggested = next;
      if (document.activeElement !== amount) amount.value = plainAmount(next);
    }

    renderPriceChart(
      $('price-chart'),
      bids.map((b) => ({ seq: b.seq, cents: centsOf(b), atMs: Date.parse(b.at), userId: b.userId })),
      {
        me,
        startCents: item.startingPriceCents,
        ...(s.historyNeedsSignIn && bids.length === 0 ? { emptyText: 'Sign in to see the bids' } : {}),
      },
    );
    this.renderBids(bids, me);
  }

  renderCountdown() {
    const s = this.state;
    const node = $('countdown');
    const closed = s.item?.status === 'closed';
    const { text, urgency } = closed
      ? { text: 'auction ended', urgency: 'ended' }
      : countdownOf(s.item?.endsAt);
    const extended = !closed && Date.now() < s.extendedUntil;
    node.dataset.urgency = urgency;
    node.dataset.extended = String(extended);
    node.textContent = extended ? `${text} · extended!` : text;
    const times = s.extendedTo.size;
    $('extensions').textContent =
      times === 0 ? '' : `Extended ${times === 1 ? 'once' : `${times} times`} by late bids`;
  }

  renderStanding(standing) {
    const node = $('standing');
    node.dataset.kind = standing.kind;
    node.textContent = standing.text;
    node.hidden = !standing.text;
    const s = this.state;
    // Said once per change (e.g. from winning to outbid), not on every redraw.
    if (s.standingKind !== undefined && s.standingKind !== standing.kind && standing.text) {
      if (standing.kind === 'outbid' || standing.kind === 'won' || standing.kind === 'lost')
        announce(standing.text);
    }
    s.standingKind = standing.kind;
  }

  renderQuickBids(item, bids, enabled) {
    const box = $('quick-bids');
    const focused = box.contains(document.activeElement) ? document.activeElement.dataset.step : undefined;
    const buttons = enabled
      ? quickBids(item, bids).map((q, i) =>
          el(
            'button',
            {
              type: 'button',
              class: i === 0 ? 'quick' : 'quick quiet',
              'aria-label': q.name,
              dataset: { step: String(i), cents: String(q.cents) },
              onclick: (event) => void this.placeBid(plainAmount(q.cents), event.currentTarget),
            },
            el('span', { class: 'quick-amount' }, formatCents(q.cents)),
            el('span', { class: 'quick-label' }, q.label),
          ),
        )
      : [];
    box.replaceChildren(...buttons);
    if (focused !== undefined) box.querySelector(`[data-step="${focused}"]`)?.focus();
  }

  renderBids(bids, me) {
    const rows = bids
      .sort((a, b) => b.seq - a.seq)
      .slice(0, 100)
      .map((bid) =>
        el(
          'li',
          { class: `bid${bid.userId === me ? ' mine' : ''}`, dataset: { seq: String(bid.seq) } },
          el('span', { class: 'bid-seq' }, `#${bid.seq}`),
          el('span', { class: 'bid-user' }, bid.userId === me ? `${bid.userId} (you)` : bid.userId),
          el('span', { class: 'bid-amount' }, formatCents(centsOf(bid))),
          el('time', { class: 'bid-time', datetime: bid.at ?? '' }, localTime(bid.at)),
        ),
      );
    $('bid-list').replaceChildren(...rows);
    $('bids-empty').hidden = rows.length > 0;
    $('bids-empty').textContent = this.state.historyNeedsSignIn ? 'Sign in to see the bids.' : 'No bids yet.';
  }
}
