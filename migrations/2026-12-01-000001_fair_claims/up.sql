-- When a runner last claimed each generation job and batch. Claims go round-robin across
-- advertisers: the next item comes from the advertiser with the fewest items running and,
-- among those, the one whose last claim is oldest, so one tenant's backlog cannot starve
-- another's.
ALTER TABLE generation_jobs ADD COLUMN claimed_at BIGINT;
ALTER TABLE batches ADD COLUMN claimed_at BIGINT;
CREATE INDEX generation_jobs_advertiser_claimed ON generation_jobs (advertiser_id, claimed_at);
CREATE INDEX batches_advertiser_claimed ON batches (advertiser_id, claimed_at);
