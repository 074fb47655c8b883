-- Batches run by a server hold a lease, like generation jobs: the server's runner id and when
-- its lease runs out without a heartbeat. A queued batch, or a running one whose lease ran out
-- (its server stopped), is claimed by one server and resumed from its results.csv.
ALTER TABLE batches ADD COLUMN lease_owner TEXT;
ALTER TABLE batches ADD COLUMN lease_expires_at BIGINT;
CREATE INDEX batches_status_created ON batches (status, created_at);
