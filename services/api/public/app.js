/* global document, window, location, sessionStorage, crypto, FormData, CSS */
import { Api, ApiFailure } from './api.js';
import { LiveConnection, ackList, broadcastOrigin, loadSocketIoClient } from './connection.js';
import { centsOf, formatCents, localDateTime, localTime, plainAmount, timeLeft, toCents } from './format.js';

/**
 * The live auction page: sign in (dev tokens), the item list, one item with its live bids and a
 * bid form, and the item's chat room (room id = item id) with presence.
 */

const $ = (id) => document.getElementById(id);
const STATE_TEXT = {
  offline: 'offline',
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  draining: 'draining — moving to another server…',
};

const session = {
  userId: sessionStorage.getItem('gavel.user') ?? undefined,
  token: sessionStorage.getItem('gavel.token') ?? undefined,
};
let api = new Api(session.token);
/** @type {LiveConnection | undefined} */
let live;

/** The item on screen, its bids by seq, and the chat room's messages and members. */
function emptyView(itemId) {
  return {
    itemId,
    item: undefined,
    bids: new Map(),
    lastSeq: 0,
    /** The next-bid amount last put into the bid input. */
    suggested: undefined,
    messages: new Map(),
    /** Highest chat cursor seen in the item's room: a re-join resumes after it. */
    chatCursor: undefined,
    members: new Set(),
  };
}
const view = emptyView(undefined);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

function showError(id, message) {
  $(id).textContent = message ?? '';
}

function messageOf(err) {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------- connection state

function renderConnection(state) {
  const node = $('connection');
  node.dataset.state = state;
  node.textContent = STATE_TEXT[state] ?? state;
}

async function connect() {
  live?.close();
  live = undefined;
  if (!session.token) {
    renderConnection('offline');
    return;
  }
  let io;
  const origin = broadcastOrigin(location);
  try {
    io = await loadSocketIoClient(origin);
  } catch (err) {
    renderConnection('offline');
    showError('page-error', messageOf(err));
    return;
  }
  live = new LiveConnection(io, {
    origin,
    token: session.token,
    onState: renderConnection,
    onConnect: (recovered, reconnected) => {
      showError('page-error', '');
      // Even a recovered session asks again: bids come from each replica's own feed, not from the
      // recovered packet buffer, and watching from the last seq seen is idempotent; the room is
      // joined again from the last chat cursor seen, so the server sends what we missed.
      void subscribe({ recovered, reconnected });
    },
    onUnauthorized: () => {
      signOut();
      showError('page-error', 'The live service refused your sign-in. Sign in again.');
    },
  });
  live.on('bid', onBid);
  live.on('item:extended', (e) => {
    if (e?.itemId !== view.itemId || !view.item) return;
    view.item.endsAt = e.endsAt;
    renderItem();
  });
  live.on('item:closed', (e) => {
    if (e?.itemId !== view.itemId || !view.item) return;
    view.item.status = 'closed';
    view.item.winner = e.winner ?? null;
    renderItem();
    void loadItems();
  });
  live.on('chat', (m) => {
    if (m?.roomId !== view.itemId) return;
    noteChatCursor(m.cursor);
    addMessages([m]);
  });
  live.on('presence', (p) => {
    if (p?.roomId !== view.itemId) return;
    if (p.state === 'leave') view.members.delete(p.userId);
    else view.members.add(p.userId);
    renderPresence();
  });
}

function noteChatCursor(cursor) {
  if (Number.isSafeInteger(cursor) && !(cursor <= view.chatCursor)) view.chatCursor = cursor;
}

/**
 * Watches the current item from the last bid seen and joins its room, from the last chat cursor
 * seen when there is one (the server replays the messages after it before answering).
 */
async function subscribe({ recovered = false, reconnected = false } = {}) {
  const itemId = view.itemId;
  // Not connected yet: onConnect subscribes.
  if (!live?.socket.connected || !itemId) return;
  try {
    await live.request('item:watch', { itemId, afterSeq: view.lastSeq });
    const afterCursor = view.chatCursor;
    const joined = await live.request(
      'room:join',
      afterCursor === undefined ? { roomId: itemId } : { roomId: itemId, afterCursor },
    );
    if (itemId !== view.itemId) return;
    noteChatCursor(joined.cursor);
    // No cursor to resume from (and no recovered session), or a replay cut short: the history
    // fills in. The first join's history is loaded by openItem.
    if (reconnected && (afterCursor === undefined ? !recovered : joined.truncated)) {
      void loadHistory(itemId);
    }
    const ack = await live.request('presence:get', { roomId: itemId });
    if (itemId !== view.itemId) return;
    view.members = new Set(ackList(ack));
    if (session.userId) view.members.add(session.userId);
    renderPresence();
  } catch (err) {
    showError('chat-error', `Live updates: ${messageOf(err)}`);
  }
}

async function unsubscribe(itemId) {
  if (!live || !itemId) return;
  await Promise.allSettled([
    live.request('item:unwatch', { itemId }),
    live.request('room:leave', { roomId: itemId }),
  ]);
}

// ---------------------------------------------------------------- sign in

function renderSession() {
  const signedIn = Boolean(session.token);
  $('sign-in').hidden = signedIn;
  $('signed-in').hidden = !signedIn;
  $('me').textContent = session.userId ?? '';
  for (const id of ['bid-form', 'chat-form']) {
    for (const control of $(id).elements) control.disabled = !signedIn;
  }
  $('bid-hint').textContent = signedIn ? hintText() : 'Sign in to bid.';
  $('chat-text').placeholder = signedIn ? 'Say something…' : 'Sign in to chat';
}

async function signIn(event) {
  event.preventDefault();
  const userId = $('user-id').value.trim();
  showError('page-error', '');
  try {
    const token = await new Api().devToken(userId);
    session.userId = userId;
    session.token = token;
    sessionStorage.setItem('gavel.user', userId);
    sessionStorage.setItem('gavel.token', token);
    api = new Api(token);
    renderSession();
    await connect();
  } catch (err) {
    const text =
      err instanceof ApiFailure && err.status === 404
        ? 'Dev sign-in is not enabled on this server.'
        : `Cannot sign in: ${messageOf(err)}`;
    showError('page-error', text);
  }
}

function signOut() {
  live?.close();
  live = undefined;
  session.userId = undefined;
  session.token = undefined;
  sessionStorage.removeItem('gavel.user');
  sessionStorage.removeItem('gavel.token');
  api = new Api();
  renderConnection('offline');
  renderSession();
}

// ---------------------------------------------------------------- item list

/** The item list as last loaded. */
let listedItems = [];

async function loadItems() {
  try {
    listedItems = await api.listItems();
  } catch (err) {
    showError('page-error', `Cannot load the auctions: ${messageOf(err)}`);
    return;
  }
  renderItems();
}

function renderItems() {
  const items = listedItems;
  const list = $('item-list');
  // Re-rendering must not take the keyboard focus away from someone moving through the list.
  const focused = list.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null;
  list.replaceChildren(
    ...items.map((item) => {
      const current = item.id === view.itemId;
      // The open item's live bids may be ahead of the list's last load.
      const live = current ? highestCents() : undefined;
      const listed = centsOf(item.highestBid);
      const highest = live !== undefined && (listed === undefined || live > listed) ? live : listed;
      return el(
        'li',
        { class: `item-row${current ? ' current' : ''}` },
        el(
          'a',
          { href: `#/items/${encodeURIComponent(item.id)}`, ...(current ? { 'aria-current': 'page' } : {}) },
          el('span', { class: 'item-row-title' }, item.title ?? item.id),
          el(
            'span',
            { class: 'item-row-meta' },
            highest !== undefined ? formatCents(highest) : 'no bids',
            ' · ',
            item.status === 'closed' ? 'closed' : timeLeft(item.endsAt) || 'open',
          ),
        ),
      );
    }),
  );
  $('items-empty').hidden = items.length > 0;
  if (focused) list.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
}

async function createItem(event) {
  event.preventDefault();
  showError('create-error', '');
  if (!session.token) {
    showError('create-error', 'Sign in to create an item.');
    return;
  }
  const form = event.currentTarget;
  const data = new FormData(form);
  const minutes = Number(data.get('minutes'));
  try {
    const item = await api.createItem({
      title: String(data.get('title')).trim(),
      startingPrice: String(data.get('startingPrice')).trim(),
      minIncrement: String(data.get('minIncrement')).trim(),
      endsAt: new Date(Date.now() + minutes * 60_000).toISOString(),
    });
    form.reset();
    form.closest('details').open = false;
    await loadItems();
    location.hash = `#/items/${encodeURIComponent(item.id)}`;
  } catch (err) {
    showError('create-error', messageOf(err));
  }
}

// ---------------------------------------------------------------- one item and its bids

function highestCents() {
  const top = view.bids.get(view.lastSeq);
  if (top) return centsOf(top);
  return centsOf(view.item?.highestBid);
}

/** The smallest acceptable next bid, when the item tells its rules. */
function nextMinimumCents() {
  const item = view.item;
  if (!item) return undefined;
  const highest = highestCents();
  const increment = item.minIncrementCents ?? toCents(item.minIncrement);
  const start = item.startingPriceCents ?? toCents(item.startingPrice);
  if (highest === undefined) return start;
  return increment === undefined ? undefined : highest + increment;
}

function hintText() {
  const next = nextMinimumCents();
  return next === undefined ? '' : `Next bid: at least ${formatCents(next)}`;
}

function renderItem() {
  const item = view.item;
  $('item-placeholder').hidden = Boolean(item);
  $('item-body').hidden = !item;
  if (!item) return;
  $('item-title').textContent = item.title ?? item.id;
  const closed = item.status === 'closed';
  const status = closed ? 'closed' : item.status === 'new' ? 'not open yet' : 'open';
  $('item-status').textContent = status;
  $('item-status').dataset.state = closed ? 'closed' : item.status === 'new' ? 'new' : 'open';
  const highest = highestCents();
  const top = view.bids.get(view.lastSeq) ?? item.highestBid;
  $('item-highest').replaceChildren(
    ...(highest === undefined
      ? ['—']
      : [formatCents(highest), ' ', el('span', { class: 'by' }, `by ${top?.userId ?? '?'}`)]),
  );
  $('item-count').textContent = String(Math.max(view.lastSeq, item.bidCount ?? 0));
  const ends = $('item-ends');
  ends.dateTime = item.endsAt ?? '';
  ends.textContent = localDateTime(item.endsAt);
  $('item-left').textContent = closed ? '' : timeLeft(item.endsAt) ? `(${timeLeft(item.endsAt)})` : '';
  if (closed && item.winner) {
    $('bid-hint').textContent = `Won by ${item.winner.userId} at ${formatCents(centsOf(item.winner))}`;
  } else if (session.token) {
    $('bid-hint').textContent = hintText();
  }
  $('bid-form').hidden = closed;
  const amount = $('bid-amount');
  const next = nextMinimumCents();
  // Suggest the next minimum when it changes, without overwriting what the user is typing.
  if (next !== undefined && next !== view.suggested) {
    view.suggested = next;
    if (document.activeElement !== amount) amount.value = plainAmount(next);
  }
}

function renderBids() {
  const rows = [...view.bids.values()]
    .sort((a, b) => b.seq - a.seq)
    .slice(0, 100)
    .map((bid) =>
      el(
        'li',
        { class: `bid${bid.userId === session.userId ? ' mine' : ''}`, dataset: { seq: String(bid.seq) } },
        el('span', { class: 'bid-seq' }, `#${bid.seq}`),
        el('span', { class: 'bid-user' }, bid.userId === session.userId ? `${bid.userId} (you)` : bid.userId),
        el('span', { class: 'bid-amount' }, formatCents(centsOf(bid))),
        el('time', { class: 'bid-time', datetime: bid.at ?? '' }, localTime(bid.at)),
      ),
    );
  $('bid-list').replaceChildren(...rows);
  $('bids-empty').hidden = rows.length > 0;
}

function onBid(bid) {
  if (!bid || bid.itemId !== view.itemId || typeof bid.seq !== 'number') return;
  if (view.bids.has(bid.seq)) return;
  view.bids.set(bid.seq, bid);
  view.lastSeq = Math.max(view.lastSeq, bid.seq);
  renderBids();
  renderItem();
  renderItems();
  refreshItemsSoon();
  // The first bid on an item we knew nothing about opened it: fetch its rules and end time.
  if (view.item?.status === 'new') void reloadItem(bid.itemId);
}

async function reloadItem(itemId) {
  try {
    const item = await api.getItem(itemId);
    if (itemId !== view.itemId) return;
    view.item = item;
    $('chat-room').textContent = item.title ?? itemId;
    renderItem();
  } catch {
    // Keep what is shown; the next bid or a reload tries again.
  }
}

let itemsRefresh;
/** The list shows highest bids too; a burst of bids refreshes it once. */
function refreshItemsSoon() {
  itemsRefresh ??= setTimeout(() => {
    itemsRefresh = undefined;
    void loadItems();
  }, 1000);
}

async function placeBid(event) {
  event.preventDefault();
  showError('bid-error', '');
  const itemId = view.itemId;
  const amount = $('bid-amount').value.trim();
  if (toCents(amount) === undefined || toCents(amount) === 0) {
    showError('bid-error', 'Enter an amount like 12.50 (at most two decimals).');
    return;
  }
  const button = event.submitter ?? $('bid-form').querySelector('button');
  button.disabled = true;
  try {
    // One key per click: if the network drops and this request is retried, only one bid counts.
    const bid = await api.placeBid(itemId, amount, crypto.randomUUID());
    onBid({ ...bid, itemId });
    $('bid-amount').blur();
    renderItem();
  } catch (err) {
    showError('bid-error', messageOf(err));
    if (err instanceof ApiFailure && err.status === 410 && view.item) {
      view.item.status = 'closed';
      renderItem();
    }
    if (err instanceof ApiFailure && err.status === 401) signOut();
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- chat

function addMessages(messages) {
  for (const m of messages) if (m?.id) view.messages.set(m.id, m);
  const sorted = [...view.messages.values()].sort((a, b) => String(a.at).localeCompare(String(b.at)));
  const log = $('messages');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.replaceChildren(
    ...sorted.map((m) =>
      el(
        'li',
        { class: `message${m.userId === session.userId ? ' mine' : ''}` },
        el('span', { class: 'message-user' }, m.userId),
        el('span', { class: 'message-text' }, m.text),
        el('time', { class: 'message-time', datetime: m.at ?? '' }, localTime(m.at)),
      ),
    ),
  );
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function renderPresence() {
  const members = [...view.members].sort();
  $('presence').replaceChildren(
    ...members.map((userId) =>
      el(
        'li',
        { class: `member${userId === session.userId ? ' me' : ''}` },
        userId === session.userId ? `${userId} (you)` : userId,
      ),
    ),
  );
}

async function sendChat(event) {
  event.preventDefault();
  showError('chat-error', '');
  const input = $('chat-text');
  const text = input.value.trim();
  if (!text || !view.itemId) return;
  if (!live) {
    showError('chat-error', 'Not connected.');
    return;
  }
  try {
    const ack = await live.request('chat:send', {
      roomId: view.itemId,
      text,
      clientMsgId: crypto.randomUUID(),
    });
    input.value = '';
    noteChatCursor(ack.cursor);
    addMessages([{ id: ack.id, at: ack.at, roomId: view.itemId, userId: session.userId, text }]);
  } catch (err) {
    showError('chat-error', `Not sent: ${messageOf(err)}`);
  }
}

// ---------------------------------------------------------------- routing

function itemIdFromHash() {
  const match = /^#\/items\/([^/]+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}

async function openItem(itemId) {
  if (itemId === view.itemId) return;
  const previous = view.itemId;
  Object.assign(view, emptyView(itemId));
  for (const id of ['bid-error', 'chat-error']) showError(id, '');
  renderBids();
  addMessages([]);
  renderPresence();
  void unsubscribe(previous);
  $('chat-placeholder').hidden = Boolean(itemId);
  $('chat-body').hidden = !itemId;
  $('chat-room').textContent = itemId ? `room ${itemId}` : '';
  $('chat-room').title = itemId ? `room ${itemId}` : '';
  renderItem();
  void loadItems();
  if (!itemId) return;
  try {
    view.item = await api.getItem(itemId);
  } catch (err) {
    if (itemId !== view.itemId) return;
    // Unknown to the api: where AUTO_OPEN_ITEMS is on, the first bid opens it.
    view.item = { id: itemId, title: itemId, status: 'new', highestBid: null, bidCount: 0 };
    if (!(err instanceof ApiFailure && err.status === 404)) showError('bid-error', messageOf(err));
  }
  if (itemId !== view.itemId) return;
  $('chat-room').textContent = view.item.title ?? itemId;
  renderItem();
  renderSession();
  void subscribe();
  await loadHistory(itemId);
}

/** Merges the room's recent history (messages are keyed by id, so nothing shows twice). */
async function loadHistory(itemId) {
  try {
    const history = await api.roomMessages(itemId);
    if (itemId === view.itemId) addMessages(history.map((m) => ({ roomId: itemId, ...m })));
  } catch {
    // History is a convenience (it needs the archival worker); live chat works without it.
  }
}

function init() {
  $('sign-in').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  $('create-item').addEventListener('submit', createItem);
  $('bid-form').addEventListener('submit', placeBid);
  $('chat-form').addEventListener('submit', sendChat);
  $('refresh-items').addEventListener('click', () => void loadItems());
  window.addEventListener('hashchange', () => void openItem(itemIdFromHash()));
  // Countdowns and the list's "time left" tick; the list itself refreshes now and then.
  setInterval(() => view.item && renderItem(), 1000);
  setInterval(() => void loadItems(), 15_000);
  renderSession();
  renderConnection('offline');
  void loadItems();
  void connect();
  void openItem(itemIdFromHash());
}

init();
