-- events: the graded figure the list is sorted by (-log10 of the clean-data tail probability,
-- uncapped; the 0-1 score stays). Data-completeness alarms use kind 'data_gap'.
ALTER TABLE events ADD COLUMN IF NOT EXISTS rank_score DOUBLE;
