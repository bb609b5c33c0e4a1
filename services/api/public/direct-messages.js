/* global document, localStorage, crypto */
import { announce } from './announcer.js';
import { $, el, messageOf, showError, unreadBadge } from './dom.js';
import { localTime } from './format.js';

/**
 * Direct messages: the conversation list (newest first, with unread counts), one open
 * conversation and its receipts. The server keeps this browser's place in the user's DM feed (its
 * device id), so messages that arrived while the page was closed come in at connect, before
 * anything live, and count as unread. The list itself is kept in localStorage per user: the api
 * has each conversation's history (GET /api/v1/dms?with=…), not a list of them.
 */

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const PREVIEW_CHARS = 80;

function storageKey(userId) {
  return `gavel.dms.${userId}`;
}

export class DirectMessages {
  /**
   * @param {{ me: () => string | undefined, live: () => import('./connection.js').LiveConnection | undefined,
   *   api: () => import('./api.js').Api }} deps
   */
  constructor(deps) {
    this.deps = deps;
    /** partner → { partner, messages: Map<id, message>, unread: Set<id>, last, historyLoaded } */
    this.conversations = new Map();
    /** Our sent messages' receipts: id → 'delivered' | 'read'. */
    this.receipts = new Map();
    this.open = undefined;
    $('dm-start').addEventListener('submit', (event) => {
      event.preventDefault();
      this.startConversation();
    });
    $('dm-form').addEventListener('submit', (event) => void this.send(event));
    $('dm-close').addEventListener('click', () => this.closeConversation());
    document.addEventListener('visibilitychange', () => this.markOpenRead());
    this.render();
  }

  /** Signed in (or out): the stored list of this user's conversations. */
  load() {
    this.conversations.clear();
    this.receipts.clear();
    this.open = undefined;
    const me = this.deps.me();
    if (me) {
      try {
        const stored = JSON.parse(localStorage.getItem(storageKey(me)) ?? '[]');
        for (const c of Array.isArray(stored) ? stored : []) {
          if (typeof c?.partner !== 'string' || !ID.test(c.partner)) continue;
          const unread = new Set(
            Array.isArray(c.unread) ? c.unread.filter((id) => typeof id === 'string') : [],
          );
          this.conversations.set(c.partner, { ...this.blank(c.partner), unread, last: c.last });
        }
      } catch {
        // A damaged entry: start with an empty list.
      }
    }
    this.render();
  }

  blank(partner) {
    return { partner, messages: new Map(), unread: new Set(), last: undefined, historyLoaded: false };
  }

  persist() {
    const me = this.deps.me();
    if (!me) return;
    const list = [...this.conversations.values()].map((c) => ({
      partner: c.partner,
      unread: [...c.unread],
      last: c.last,
    }));
    try {
      localStorage.setItem(storageKey(me), JSON.stringify(list));
    } catch {
      // Storage full or disabled: the list lives until the page closes.
    }
  }

  conversation(partner) {
    let c = this.conversations.get(partner);
    if (!c) {
      c = this.blank(partner);
      this.conversations.set(partner, c);
    }
    return c;
  }

  get unreadTotal() {
    let n = 0;
    for (const c of this.conversations.values()) n += c.unread.size;
    return n;
  }

  /** A `dm` event: to us, or a copy of one we sent from another device. */
  onDm(message) {
    const me = this.deps.me();
    if (!me || !message?.id) return;
    const incoming = message.to === me && message.from !== me;
    const partner = incoming ? message.from : message.to;
    const c = this.conversation(partner);
    const fresh = !c.messages.has(message.id);
    this.add(c, message);
    if (incoming && fresh) {
      if (this.isShowing(partner)) this.markRead(c, [message.id]);
      else {
        c.unread.add(message.id);
        announce(`Direct message from ${partner}: ${message.text}`);
      }
    }
    this.persist();
    this.render();
  }

  onReceipt(kind, receipt) {
    if (!receipt?.id) return;
    // read outranks delivered, whichever arrives first.
    if (kind === 'read' || this.receipts.get(receipt.id) !== 'read') this.receipts.set(receipt.id, kind);
    this.renderConversation();
  }

  add(c, message) {
    c.messages.set(message.id, message);
    if (!c.last || String(message.at) >= String(c.last.at)) {
      c.last = { from: message.from, text: String(message.text).slice(0, PREVIEW_CHARS), at: message.at };
    }
  }

  isShowing(partner) {
    return this.open === partner && document.visibilityState === 'visible';
  }

  markOpenRead() {
    const c = this.open ? this.conversations.get(this.open) : undefined;
    if (c && this.isShowing(c.partner) && c.unread.size > 0) this.markRead(c, [...c.unread]);
  }

  markRead(c, ids) {
    const live = this.deps.live();
    for (const id of ids) {
      c.unread.delete(id);
      if (live?.socket.connected) void live.request('dm:read', { id }).catch(() => undefined);
    }
    this.persist();
    this.render();
  }

  startConversation() {
    showError('dm-error', '');
    const partner = $('dm-to').value.trim();
    if (!ID.test(partner)) {
      showError('dm-error', 'A user id is 1-64 letters, digits, _ or -.');
      return;
    }
    if (partner === this.deps.me()) {
      showError('dm-error', 'That is you: pick someone else.');
      return;
    }
    $('dm-to').value = '';
    this.conversation(partner);
    void this.openConversation(partner, { focus: true });
  }

  async openConversation(partner, { focus = false } = {}) {
    this.open = partner;
    showError('dm-error', '');
    const c = this.conversation(partner);
    this.render();
    this.markOpenRead();
    if (focus) $('dm-text').focus();
    if (c.historyLoaded) return;
    try {
      const history = await this.deps.api().dms(partner);
      c.historyLoaded = true;
      for (const m of history) this.add(c, m);
      this.persist();
      this.render();
    } catch (err) {
      if (this.open === partner) showError('dm-error', `Older messages: ${messageOf(err)}`);
    }
  }

  closeConversation() {
    const partner = this.open;
    this.open = undefined;
    this.render();
    $('conversations').querySelector(`[data-partner="${partner}"]`)?.focus();
  }

  async send(event) {
    event.preventDefault();
    showError('dm-error', '');
    const input = $('dm-text');
    const text = input.value.trim();
    const to = this.open;
    if (!text || !to) return;
    const live = this.deps.live();
    if (!live) {
      showError('dm-error', 'Sign in to send direct messages.');
      return;
    }
    try {
      const ack = await live.request('dm:send', { to, text, clientMsgId: crypto.randomUUID() });
      input.value = '';
      this.add(this.conversation(to), { id: ack.id, at: ack.at, from: this.deps.me(), to, text });
      this.persist();
      this.render();
    } catch (err) {
      showError('dm-error', `Not sent: ${messageOf(err)}`);
    }
  }

  render() {
    const signedIn = Boolean(this.deps.me());
    $('dm-signed-out').hidden = signedIn;
    $('dm-body').hidden = !signedIn;
    const total = this.unreadTotal;
    $('dm-unread').replaceChildren(...(total > 0 ? [unreadBadge(total)] : []));
    this.renderList();
    this.renderConversation();
  }

  renderList() {
    const me = this.deps.me();
    const list = $('conversations');
    const focused = list.contains(document.activeElement)
      ? document.activeElement.dataset.partner
      : undefined;
    const sorted = [...this.conversations.values()].sort((a, b) =>
      String(b.last?.at ?? '').localeCompare(String(a.last?.at ?? '')),
    );
    list.replaceChildren(
      ...sorted.map((c) => {
        const unread = c.unread.size;
        const preview = c.last ? `${c.last.from === me ? 'you: ' : ''}${c.last.text}` : 'no messages yet';
        return el(
          'li',
          { class: `conversation-row${c.partner === this.open ? ' current' : ''}${unread ? ' unread' : ''}` },
          el(
            'button',
            {
              type: 'button',
              dataset: { partner: c.partner },
              'aria-current': c.partner === this.open ? 'true' : undefined,
              onclick: () => void this.openConversation(c.partner, { focus: true }),
            },
            el('span', { class: 'conversation-name' }, c.partner),
            unread ? unreadBadge(unread) : undefined,
            el('span', { class: 'conversation-preview' }, ` ${preview}`),
          ),
        );
      }),
    );
    $('conversations-empty').hidden = sorted.length > 0;
    if (focused) list.querySelector(`[data-partner="${focused}"]`)?.focus();
  }

  renderConversation() {
    const partner = this.open;
    $('conversation').hidden = !partner;
    if (!partner) return;
    const me = this.deps.me();
    const c = this.conversation(partner);
    $('conversation-title').textContent = `With ${partner}`;
    const log = $('dm-messages');
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const sorted = [...c.messages.values()].sort((a, b) => String(a.at).localeCompare(String(b.at)));
    log.replaceChildren(
      ...sorted.map((m) => {
        const mine = m.from === me;
        const receipt = mine ? this.receipts.get(m.id) : undefined;
        return el(
          'li',
          { class: `message${mine ? ' mine' : ''}` },
          el('span', { class: 'message-user' }, mine ? 'you' : m.from),
          el('span', { class: 'message-text' }, m.text),
          el(
            'span',
            { class: 'message-time' },
            el('time', { datetime: m.at ?? '' }, localTime(m.at)),
            receipt ? el('span', { class: `receipt ${receipt}` }, ` · ${receipt}`) : undefined,
          ),
        );
      }),
    );
    $('dm-messages-empty').hidden = sorted.length > 0;
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
}
