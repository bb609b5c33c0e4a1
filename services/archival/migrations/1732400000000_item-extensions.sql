-- Up Migration

-- Every item.extended event, kept so that an extension archived before its item.opened (events
-- may arrive out of order) still lands in items.ends_at when the item row is created.
CREATE TABLE item_extensions (
  event_id text PRIMARY KEY,
  item_id  text NOT NULL,
  seq      integer NOT NULL CHECK (seq > 0),
  ends_at  timestamptz NOT NULL
);
CREATE INDEX item_extensions_item_idx ON item_extensions (item_id, ends_at DESC);

-- Down Migration
DROP TABLE item_extensions;
