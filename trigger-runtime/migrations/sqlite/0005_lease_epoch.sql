-- A lease's epoch grows by one at every claim and never repeats, even when the attempt number
-- does (after a shutdown's release or a wait). Every write of an attempt names the epoch of its
-- lease, so a worker that lost its lease cannot write for a newer one.
ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
