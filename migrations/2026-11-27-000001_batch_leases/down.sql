DROP INDEX batches_status_created;
ALTER TABLE batches DROP COLUMN lease_expires_at;
ALTER TABLE batches DROP COLUMN lease_owner;
