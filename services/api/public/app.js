/* global window, location, sessionStorage, localStorage, crypto */
import { Api, ApiFailure } from './api.js';
import { AuctionList } from './auction-list.js';
import { AuctionView } from './auction-view.js';
import { RoomChat } from './chat-rooms.js';
import { LiveConnection, broadcastOrigin, loadSocketIoClient } from './connection.js';
import { DirectMessages } from './direct-messages.js';
import { $, messageOf, showError } from './dom.js';
import { SessionRenewal } from './session-renewal.js';

/**
 * The live auction page: sign in (dev tokens, renewed before they end), the auction list, one
 * auction with its live bids, chat in the lobby and in the auction's room, and direct messages.
 * This file wires the parts to the session and the live connection; each part lives in its own
 * module.
 */

const STATE_TEXT = {
  'signed-out': 'not signed in',
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

/**
 * This browser's device name for the DM feed: the server keeps how far each device got, so one
 * that was closed gets what came meanwhile, and no message twice.
 */
function deviceId() {
  let id = localStorage.getItem('gavel.device');
  if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    id = `web-${crypto.randomUUID().slice(0, 8)}`;
    localStorage.setItem('gavel.device', id);
  }
  return id;
}

const deps = { me: () => session.userId, live: () => live, api: () => api };
const auction = new AuctionView({
  ...deps,
  onChange: () => auctions.render(),
  onUnauthorized: () => expired(),
});
const auctions = new AuctionList({ ...deps, current: () => auction.leader() });
const chat = new RoomChat(deps);
const dms = new DirectMessages(deps);
const renewal = new SessionRenewal({
  renew: renewSession,
  onExpired: () => expired(),
  onTrouble: (message) => showError('page-error', message),
});

// ---------------------------------------------------------------- connection

function renderConnection(state) {
  const node = $('connection');
  node.dataset.state = state;
  node.textContent = STATE_TEXT[state] ?? state;
}

async function connect() {
  live?.close();
  live = undefined;
  if (!session.token) {
    renderConnection('signed-out');
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
    deviceId: deviceId(),
    onState: renderConnection,
    onConnect: (reconnected) => {
      showError('page-error', '');
      // Any replica resumes us: the item is watched again from the last bid seen and each room
      // joined again from the last chat cursor seen, so the server sends what we missed.
      void auction.watch();
      // Signed out, the stored bids were refused (jwt mode): now they can be read.
      if (auction.state.historyNeedsSignIn && auction.itemId) void auction.loadHistory(auction.itemId);
      void chat.rejoinAll({ reconnected });
    },
    onUnauthorized: () => expired('The live service refused your sign-in. Sign in again.'),
    onExpired: () => expired(),
  });
  live.on('bid', (bid) => {
    auction.onBid(bid);
    auctions.loadSoon();
  });
  live.on('item:extended', (e) => auction.onExtended(e));
  live.on('item:closed', (e) => {
    auction.onClosed(e);
    void auctions.load();
  });
  live.on('chat', (m) => chat.onChat(m));
  live.on('presence', (p) => chat.onPresence(p));
  live.on('dm', (m) => dms.onDm(m));
  live.on('dm:delivered', (r) => dms.onReceipt('delivered', r));
  live.on('dm:read', (r) => dms.onReceipt('read', r));
}

// ---------------------------------------------------------------- sign in

function renderSession() {
  const signedIn = Boolean(session.token);
  $('sign-in').hidden = signedIn;
  $('signed-in').hidden = !signedIn;
  $('welcome').hidden = signedIn;
  $('me').textContent = session.userId ?? '';
  for (const control of $('chat-form').elements) control.disabled = !signedIn;
  $('chat-text').placeholder = signedIn ? 'Say something…' : 'Sign in to chat';
  auction.render();
  auctions.render();
  chat.render();
}

/** From now on every HTTP call (and the next live handshake) carries `token`. */
function useToken(token) {
  session.token = token;
  sessionStorage.setItem('gavel.token', token);
  api = new Api(token);
}

/**
 * A fresh token for the signed-in user, got the way sign-in got the first, sent on the live
 * connection (`auth:refresh`) and used for later calls. Throws when any step fails: the renewal
 * tries again while the old token lasts.
 */
async function renewSession() {
  const userId = session.userId;
  if (!userId) throw new Error('signed out');
  const token = await new Api().devToken(userId);
  // Signed out or in as someone else meanwhile: this token is nobody's any more.
  if (session.userId !== userId) throw new Error('signed out');
  await live?.useToken(token);
  useToken(token);
  // A notice of an earlier failed renewal is out of date now.
  if (/renew your sign-in/.test($('page-error').textContent)) showError('page-error', '');
  return token;
}

async function signIn(event) {
  event.preventDefault();
  const userId = $('user-id').value.trim();
  showError('page-error', '');
  try {
    const token = await new Api().devToken(userId);
    session.userId = userId;
    sessionStorage.setItem('gavel.user', userId);
    useToken(token);
    renewal.start(token);
    dms.load();
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
  renewal.stop();
  live?.close();
  live = undefined;
  session.userId = undefined;
  session.token = undefined;
  sessionStorage.removeItem('gavel.user');
  sessionStorage.removeItem('gavel.token');
  api = new Api();
  dms.load();
  chat.clearPresence();
  renderConnection('signed-out');
  renderSession();
}

/** The sign-in no longer works: back to signed out, saying why. */
function expired(message = 'Your session expired. Sign in again to keep bidding and chatting.') {
  signOut();
  showError('page-error', message);
}

// ---------------------------------------------------------------- routing

function itemIdFromHash() {
  const match = /^#\/items\/([^/]+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
}

async function route() {
  const itemId = itemIdFromHash();
  if (itemId === auction.itemId) return;
  chat.setItemRoom(itemId, itemId);
  auctions.render();
  await auction.open(itemId);
  if (itemId && itemId === auction.itemId) chat.setItemRoom(itemId, auction.state.item?.title ?? itemId);
}

function init() {
  $('sign-in').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', () => void route());
  // The countdown ticks; the list (its "time left" and highest bids) refreshes now and then.
  setInterval(() => auction.tick(), 1000);
  setInterval(() => void auctions.load(), 15_000);
  // A token kept from before a reload: renewed as usual, or (already ended) signed out at once.
  if (session.token) renewal.start(session.token);
  dms.load();
  renderSession();
  renderConnection(session.token ? 'connecting' : 'signed-out');
  void auctions.load();
  void connect();
  void route();
}

init();
