-- CSV batches (POST /v1/batches): progress and row errors. The input, results.csv, images/
-- and images.zip live under <data_dir>/batches/<id>/.
CREATE TABLE batches (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    file_name TEXT NOT NULL,
    status TEXT NOT NULL,
    rows_total INTEGER NOT NULL,
    rows_done INTEGER NOT NULL,
    rows_failed INTEGER NOT NULL,
    errors TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX batches_advertiser_created ON batches (advertiser_id, created_at);
