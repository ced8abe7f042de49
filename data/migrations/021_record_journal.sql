-- How far an append-only journal beside the store has been folded into the record (docs/record.md,
-- "Journaled appends"). The keyed API calls are appended to a journal file and synced before their
-- answers leave; a background folder moves them into record_log in large batches. A fold's leaves
-- and its mark commit in one transaction, so an entry at or below the mark is never folded again
-- (a crash between the commit and the removal of the journal file loses nothing and doubles nothing).
CREATE TABLE IF NOT EXISTS record_journal_folds (
    journal         VARCHAR NOT NULL,            -- which journal ('api_calls')
    folded_through  BIGINT NOT NULL              -- the number of the last entry folded
);
