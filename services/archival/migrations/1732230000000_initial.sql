-- Up Migration

-- One row per item, upserted from item.opened / item.extended / item.closed events.
CREATE TABLE items (
  id                  text PRIMARY KEY,
  title               text NOT NULL,
  starting_price_cents bigint NOT NULL CHECK (starting_price_cents > 0),
  min_increment_cents bigint NOT NULL CHECK (min_increment_cents > 0),
  ends_at             timestamptz NOT NULL,
  status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  opened_at           timestamptz NOT NULL,
  closed_at           timestamptz
);

-- Accepted bids; (item_id, seq) is the per-item gapless order, event_id makes redelivery harmless.
CREATE TABLE bids (
  item_id      text NOT NULL,
  seq          integer NOT NULL CHECK (seq > 0),
  user_id      text NOT NULL,
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  accepted_at  timestamptz NOT NULL,
  event_id     text NOT NULL UNIQUE,
  PRIMARY KEY (item_id, seq)
);
CREATE INDEX bids_user_idx ON bids (user_id, accepted_at DESC);

-- Written once, from the item.closed event.
CREATE TABLE auction_results (
  item_id        text PRIMARY KEY,
  winner_user_id text,
  amount_cents   bigint,
  winning_seq    integer,
  bid_count      integer NOT NULL,
  closed_at      timestamptz NOT NULL,
  event_id       text NOT NULL UNIQUE
);

-- Chat history: the id is the event id (and the id the sender got in its ack).
CREATE TABLE chat_messages (
  id            text PRIMARY KEY,
  room_id       text NOT NULL,
  user_id       text NOT NULL,
  text          text NOT NULL,
  client_msg_id text NOT NULL,
  sent_at       timestamptz NOT NULL
);
-- Serves GET /rooms/:id/messages?before=TS (newest first) and retention deletes by age.
CREATE INDEX chat_messages_room_time_idx ON chat_messages (room_id, sent_at DESC, id DESC);
CREATE INDEX chat_messages_time_idx ON chat_messages (sent_at);

CREATE TABLE direct_messages (
  id            text PRIMARY KEY,
  from_user     text NOT NULL,
  to_user       text NOT NULL,
  text          text NOT NULL,
  client_msg_id text NOT NULL,
  sent_at       timestamptz NOT NULL
);
CREATE INDEX direct_messages_to_time_idx ON direct_messages (to_user, sent_at DESC);
CREATE INDEX direct_messages_time_idx ON direct_messages (sent_at);

-- Down Migration
DROP TABLE direct_messages;
DROP TABLE chat_messages;
DROP TABLE auction_results;
DROP TABLE bids;
DROP TABLE items;
