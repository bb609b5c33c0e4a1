/* global document, location, FormData, CSS */
import { $, el, messageOf, showError } from './dom.js';
import { centsOf, formatCents, timeLeft } from './format.js';

/** The list of open auctions (with who leads each) and the form that creates one. */

export class AuctionList {
  /**
   * @param {{ me: () => string | undefined, api: () => import('./api.js').Api,
   *   current: () => { itemId?: string, highestCents?: number, leaderId?: string } }} deps
   */
  constructor(deps) {
    this.deps = deps;
    this.items = [];
    this.refresh = undefined;
    $('create-item').addEventListener('submit', (event) => void this.create(event));
    $('refresh-items').addEventListener('click', () => void this.load());
  }

  async load() {
    try {
      this.items = await this.deps.api().listItems();
      showError('items-error', '');
    } catch (err) {
      showError('items-error', `Cannot load the auctions: ${messageOf(err)}`);
      return;
    }
    this.render();
  }

  /** A burst of bids refreshes the list once. */
  loadSoon() {
    this.refresh ??= setTimeout(() => {
      this.refresh = undefined;
      void this.load();
    }, 1000);
  }

  render() {
    const me = this.deps.me();
    const { itemId, highestCents, leaderId } = this.deps.current();
    const list = $('item-list');
    // Re-rendering must not take the keyboard focus away from someone moving through the list.
    const focused = list.contains(document.activeElement)
      ? document.activeElement.getAttribute('href')
      : null;
    list.replaceChildren(
      ...this.items.map((item) => {
        const current = item.id === itemId;
        // The open item's live bids may be ahead of the list's last load.
        const listed = centsOf(item.highestBid);
        const live = current ? highestCents : undefined;
        const ahead = live !== undefined && (listed === undefined || live > listed);
        const highest = ahead ? live : listed;
        const leader = ahead ? leaderId : item.highestBid?.userId;
        return el(
          'li',
          { class: `item-row${current ? ' current' : ''}` },
          el(
            'a',
            { href: `#/items/${encodeURIComponent(item.id)}`, 'aria-current': current ? 'page' : undefined },
            el('span', { class: 'item-row-title' }, item.title ?? item.id),
            el(
              'span',
              { class: 'item-row-meta' },
              highest !== undefined ? formatCents(highest) : 'no bids',
              ' · ',
              item.status === 'closed' ? 'closed' : timeLeft(item.endsAt) || 'open',
              me && leader === me ? el('span', { class: 'leading' }, ' · you lead') : undefined,
            ),
          ),
        );
      }),
    );
    $('items-empty').hidden = this.items.length > 0;
    if (focused) list.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
  }

  async create(event) {
    event.preventDefault();
    showError('create-error', '');
    if (!this.deps.me()) {
      showError('create-error', 'Sign in to create an item.');
      return;
    }
    const form = event.currentTarget;
    const data = new FormData(form);
    const minutes = Number(data.get('minutes'));
    try {
      const item = await this.deps.api().createItem({
        title: String(data.get('title')).trim(),
        startingPrice: String(data.get('startingPrice')).trim(),
        minIncrement: String(data.get('minIncrement')).trim(),
        endsAt: new Date(Date.now() + minutes * 60_000).toISOString(),
      });
      form.reset();
      form.closest('details').open = false;
      await this.load();
      location.hash = `#/items/${encodeURIComponent(item.id)}`;
    } catch (err) {
      showError('create-error', messageOf(err));
    }
  }
}
