-- The order a run's tasks were saved in (1, 2, ...), when, and by which attempt, so a run's
-- tasks can be shown as they ran. Rows saved before this migration have none of them.
ALTER TABLE tasks ADD COLUMN seq INTEGER;
ALTER TABLE tasks ADD COLUMN saved_at INTEGER;
ALTER TABLE tasks ADD COLUMN attempt INTEGER;
