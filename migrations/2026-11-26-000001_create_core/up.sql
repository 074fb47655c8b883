-- adforge core schema. Portable SQL: the same file runs on SQLite and PostgreSQL.
-- Ids are UUID strings made by the application; times are Unix milliseconds (BIGINT);
-- structured values (lists, rules, provenance) are JSON text.

CREATE TABLE advertisers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    -- Public, non-secret part of the key used to find the row; the secret is only hashed.
    prefix TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE brand_kits (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    colors TEXT NOT NULL,
    font TEXT,
    logo_asset TEXT,
    banned_words TEXT NOT NULL,
    required_phrases TEXT NOT NULL,
    disclaimer TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX brand_kits_advertiser ON brand_kits (advertiser_id, created_at);

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    brand_kit_id TEXT REFERENCES brand_kits(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    brand TEXT NOT NULL,
    product TEXT NOT NULL,
    description TEXT NOT NULL,
    offer TEXT,
    landing_url TEXT NOT NULL,
    objective TEXT NOT NULL,
    tone TEXT,
    languages TEXT NOT NULL,
    status TEXT NOT NULL,
    allow_claims BOOLEAN NOT NULL,
    auto_approve BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX campaigns_advertiser ON campaigns (advertiser_id, created_at);

CREATE TABLE segments (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    rules TEXT NOT NULL,
    persona TEXT NOT NULL,
    language TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX segments_advertiser ON segments (advertiser_id, campaign_id, created_at);

CREATE TABLE placements (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    preset TEXT NOT NULL,
    platform TEXT NOT NULL,
    format TEXT NOT NULL,
    text_limits TEXT NOT NULL,
    image_sizes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX placements_advertiser ON placements (advertiser_id, campaign_id, created_at);

CREATE TABLE generation_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    request TEXT NOT NULL,
    items_total INTEGER NOT NULL,
    items_done INTEGER NOT NULL,
    items_failed INTEGER NOT NULL,
    error TEXT,
    lease_owner TEXT,
    lease_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX generation_jobs_advertiser ON generation_jobs (advertiser_id, created_at);
CREATE INDEX generation_jobs_status ON generation_jobs (status, lease_expires_at);

CREATE TABLE creatives (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    segment_id TEXT REFERENCES segments(id) ON DELETE SET NULL,
    placement_id TEXT REFERENCES placements(id) ON DELETE SET NULL,
    job_id TEXT REFERENCES generation_jobs(id) ON DELETE SET NULL,
    variant INTEGER NOT NULL,
    headline TEXT NOT NULL,
    body TEXT NOT NULL,
    cta TEXT NOT NULL,
    assets TEXT NOT NULL,
    status TEXT NOT NULL,
    violations TEXT NOT NULL,
    provenance TEXT NOT NULL,
    score DOUBLE PRECISION,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX creatives_advertiser ON creatives (advertiser_id, campaign_id, created_at);
-- One creative per (job, segment, placement, variant): generation is idempotent per item.
CREATE UNIQUE INDEX creatives_job_item ON creatives (job_id, segment_id, placement_id, variant);

CREATE TABLE event_counters (
    creative_id TEXT NOT NULL REFERENCES creatives(id) ON DELETE CASCADE,
    segment_key TEXT NOT NULL,
    impressions BIGINT NOT NULL,
    clicks BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (creative_id, segment_key)
);
