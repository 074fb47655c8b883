DROP INDEX batches_advertiser_claimed;
DROP INDEX generation_jobs_advertiser_claimed;
ALTER TABLE batches DROP COLUMN claimed_at;
ALTER TABLE generation_jobs DROP COLUMN claimed_at;
