-- `runs.worker` was written on every claim and never read.
ALTER TABLE runs DROP COLUMN worker;
