-- Jobs of the endpoint whose filter did not match the event, with the first reason each, as a
-- JSON array of {"job", "reason"}; NULL when every enabled job matched.
ALTER TABLE events ADD COLUMN skipped TEXT;
