-- Per-item state of generation jobs, serving keys of placements, and CSV batches.

-- One row per (job, segment, placement, variant) once that item is finished, so a job taken
-- over by another worker redoes only what is missing, and per-item errors are visible.
CREATE TABLE generation_items (
    job_id TEXT NOT NULL REFERENCES generation_jobs(id) ON DELETE CASCADE,
    segment_id TEXT NOT NULL,
    placement_id TEXT NOT NULL,
    variant INTEGER NOT NULL,
    status TEXT NOT NULL,
    creative_id TEXT,
    error TEXT,
    worker TEXT NOT NULL,
    finished_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, segment_id, placement_id, variant)
);

-- Public, revocable key an ad server uses to ask for this placement's creatives.
ALTER TABLE placements ADD COLUMN serve_key TEXT;
CREATE UNIQUE INDEX placements_serve_key ON placements (serve_key);

-- Nonces of recorded events: a replayed impression or click URL records nothing.
CREATE TABLE event_nonces (
    nonce TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (nonce, kind)
);
