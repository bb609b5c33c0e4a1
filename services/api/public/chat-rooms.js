/* global document, crypto */
import { announce } from './announcer.js';
import { $, el, messageOf, showError, unreadBadge } from './dom.js';
import { localTime } from './format.js';

/**
 * The chat panel: the lobby (everyone's room) and the open auction's room (room id = item id),
 * one shown at a time, the other counting what arrived unseen. Each room remembers the highest
 * chat cursor seen, so a re-join on any replica resumes after it with no gap and no duplicate.
 */

export const LOBBY = 'lobby';

function emptyRoom(roomId, title) {
  return {
    roomId,
    title,
    /** id → message; rendered sorted by time. */
    messages: new Map(),
    /** Highest chat cursor seen in this room: a re-join resumes after it. */
    cursor: undefined,
    members: new Set(),
    unread: 0,
    historyLoaded: false,
  };
}

export class RoomChat {
  /**
   * @param {{ me: () => string | undefined, live: () => import('./connection.js').LiveConnection | undefined,
   *   api: () => import('./api.js').Api }} deps
   */
  constructor(deps) {
    this.deps = deps;
    this.rooms = new Map([[LOBBY, emptyRoom(LOBBY, 'Lobby')]]);
    this.active = LOBBY;
    /** The open auction's room, if any. */
    this.itemRoomId = undefined;
    $('chat-form').addEventListener('submit', (event) => void this.send(event));
    void this.loadHistory(LOBBY);
    this.render();
  }

  /** Follows the open auction: its room replaces the previous auction's and is shown. */
  setItemRoom(itemId, title) {
    const previous = this.itemRoomId;
    if (previous === itemId) {
      const room = this.rooms.get(itemId);
      if (room && title) room.title = title;
      this.render();
      return;
    }
    if (previous && previous !== LOBBY) {
      this.rooms.delete(previous);
      const live = this.deps.live();
      if (live?.socket.connected)
        void live.request('room:leave', { roomId: previous }).catch(() => undefined);
    }
    this.itemRoomId = itemId;
    if (itemId && !this.rooms.has(itemId)) {
      this.rooms.set(itemId, emptyRoom(itemId, title ?? itemId));
      void this.join(itemId);
      void this.loadHistory(itemId);
    }
    this.show(itemId ?? LOBBY);
  }

  show(roomId) {
    if (!this.rooms.has(roomId)) return;
    this.active = roomId;
    this.rooms.get(roomId).unread = 0;
    showError('chat-error', '');
    this.render({ scrollToEnd: true });
  }

  /** After every (re)connect: join each room again from its cursor. */
  async rejoinAll({ reconnected }) {
    await Promise.all([...this.rooms.keys()].map((roomId) => this.join(roomId, { reconnected })));
  }

  /** Signed out: nobody is present anywhere any more. */
  clearPresence() {
    for (const room of this.rooms.values()) room.members.clear();
    this.render();
  }

  async join(roomId, { reconnected = false } = {}) {
    const live = this.deps.live();
    const room = this.rooms.get(roomId);
    // Not connected yet: the connection's onConnect joins every room.
    if (!live?.socket.connected || !room) return;
    try {
      const afterCursor = room.cursor;
      const joined = await live.request(
        'room:join',
        afterCursor === undefined ? { roomId } : { roomId, afterCursor },
      );
      if (this.rooms.get(roomId) !== room) return;
      this.noteCursor(room, joined.cursor);
      // No cursor to resume from, or a replay cut short: the history fills in. So it does when
      // it could not be read before (signed out, in jwt mode the history needs a token).
      if ((reconnected && (afterCursor === undefined || joined.truncated)) || !room.historyLoaded)
        void this.loadHistory(roomId);
      /** @type {import('./protocol.js').PresenceGetResult} */
      const ack = await live.request('presence:get', { roomId });
      if (this.rooms.get(roomId) !== room) return;
      room.members = new Set(ack.users);
      const me = this.deps.me();
      if (me) room.members.add(me);
      this.render();
    } catch (err) {
      if (roomId === this.active) showError('chat-error', `Live chat: ${messageOf(err)}`);
    }
  }

  /** Merges the room's recent history (messages are keyed by id, so nothing shows twice). */
  async loadHistory(roomId) {
    try {
      const history = await this.deps.api().roomMessages(roomId);
      const room = this.rooms.get(roomId);
      if (!room) return;
      room.historyLoaded = true;
      this.add(
        room,
        history.map((m) => ({ roomId, ...m })),
        { fromHistory: true },
      );
    } catch {
      // History is a convenience (it needs the archival worker); live chat works without it.
    }
  }

  onChat(message) {
    const room = this.rooms.get(message?.roomId);
    if (!room) return;
    this.noteCursor(room, message.cursor);
    this.add(room, [message]);
  }

  onPresence(event) {
    const room = this.rooms.get(event?.roomId);
    if (!room) return;
    if (event.state === 'leave') room.members.delete(event.userId);
    else room.members.add(event.userId);
    if (room.roomId === this.active) this.renderPresence();
  }

  noteCursor(room, cursor) {
    if (Number.isSafeInteger(cursor) && !(cursor <= room.cursor)) room.cursor = cursor;
  }

  add(room, messages, { fromHistory = false } = {}) {
    const me = this.deps.me();
    let fresh = 0;
    for (const m of messages) {
      if (!m?.id || room.messages.has(m.id)) continue;
      room.messages.set(m.id, m);
      if (fromHistory || m.userId === me) continue;
      fresh += 1;
      announce(`${m.userId} in ${room.roomId === LOBBY ? 'the lobby' : room.title}: ${m.text}`);
    }
    if (fresh > 0 && room.roomId !== this.active) room.unread += fresh;
    this.render();
  }

  async send(event) {
    event.preventDefault();
    showError('chat-error', '');
    const input = $('chat-text');
    const text = input.value.trim();
    const room = this.rooms.get(this.active);
    if (!text || !room) return;
    const live = this.deps.live();
    if (!live) {
      showError('chat-error', 'Sign in to chat.');
      return;
    }
    try {
      const ack = await live.request('chat:send', {
        roomId: room.roomId,
        text,
        clientMsgId: crypto.randomUUID(),
      });
      input.value = '';
      this.noteCursor(room, ack.cursor);
      this.add(room, [{ id: ack.id, at: ack.at, roomId: room.roomId, userId: this.deps.me(), text }]);
    } catch (err) {
      showError('chat-error', `Not sent: ${messageOf(err)}`);
    }
  }

  render({ scrollToEnd = false } = {}) {
    this.renderTabs();
    this.renderMessages(scrollToEnd);
    this.renderPresence();
  }

  renderTabs() {
    const focused = document.activeElement?.dataset?.room;
    const tabs = [...this.rooms.values()].map((room) => {
      const label = room.roomId === LOBBY ? 'Lobby' : `Auction: ${room.title}`;
      return el(
        'button',
        {
          type: 'button',
          class: 'room-tab',
          'aria-pressed': String(room.roomId === this.active),
          dataset: { room: room.roomId },
          onclick: () => this.show(room.roomId),
        },
        el('span', { class: 'room-tab-name' }, label),
        room.unread > 0 ? unreadBadge(room.unread) : undefined,
      );
    });
    $('room-tabs').replaceChildren(...tabs);
    if (focused) $('room-tabs').querySelector(`[data-room="${focused}"]`)?.focus();
    const room = this.rooms.get(this.active);
    $('chat-room').textContent = room ? (room.roomId === LOBBY ? 'everyone' : `room ${room.roomId}`) : '';
  }

  renderMessages(scrollToEnd) {
    const room = this.rooms.get(this.active);
    const log = $('messages');
    const me = this.deps.me();
    const sorted = room
      ? [...room.messages.values()].sort((a, b) => String(a.at).localeCompare(String(b.at)))
      : [];
    const atBottom = scrollToEnd || log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.setAttribute('aria-label', 'Messages');
    log.replaceChildren(
      ...sorted.map((m) =>
        el(
          'li',
          { class: `message${m.userId === me ? ' mine' : ''}` },
          el('span', { class: 'message-user' }, m.userId),
          el('span', { class: 'message-text' }, m.text),
          el('time', { class: 'message-time', datetime: m.at ?? '' }, localTime(m.at)),
        ),
      ),
    );
    $('messages-empty').hidden = sorted.length > 0;
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  renderPresence() {
    const room = this.rooms.get(this.active);
    const me = this.deps.me();
    const members = room ? [...room.members].sort() : [];
    $('presence').replaceChildren(
      ...members.map((userId) =>
        el(
          'li',
          { class: `member${userId === me ? ' me' : ''}` },
          userId === me ? `${userId} (you)` : userId,
        ),
      ),
    );
    $('presence-empty').hidden = members.length > 0;
  }
}
