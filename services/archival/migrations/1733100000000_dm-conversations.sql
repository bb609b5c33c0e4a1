-- Up Migration

-- Serves GET /api/v1/dms?with=USER&before=… (one conversation, newest first): both directions of
-- a pair of users under one key, whoever sent.
CREATE INDEX direct_messages_conversation_idx
  ON direct_messages (LEAST(from_user, to_user), GREATEST(from_user, to_user), sent_at DESC, id DESC);

-- Down Migration
DROP INDEX direct_messages_conversation_idx;
