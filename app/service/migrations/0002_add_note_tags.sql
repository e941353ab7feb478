-- Expand only: a new column with a default, so the previous version's INSERT (title, body)
-- and SELECT of named columns keep working while both versions run during a deployment.
ALTER TABLE notes ADD COLUMN IF NOT EXISTS tags text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS notes_created_at_idx ON notes (created_at DESC);
