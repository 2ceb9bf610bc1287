-- The texts of each inference, for the attribution engine (which scores the completion given
-- the prompt against the adapter's training data). Nullable: rows written before this
-- migration, and prompts given as token ids, have none. The hashes stay the commitment.
ALTER TABLE inferences ADD COLUMN prompt TEXT;
ALTER TABLE inferences ADD COLUMN completion TEXT;
