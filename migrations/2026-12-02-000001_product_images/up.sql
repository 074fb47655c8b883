-- Product photos a campaign carries (POST /v1/campaigns/{id}/images). The bytes are a
-- content-addressed asset (<data_dir>/assets/<sha256>.<ext>); a row holds its name, what it
-- is and where it sits in the campaign's order (generation uses the lowest position first).
CREATE TABLE product_images (
    id TEXT PRIMARY KEY NOT NULL,
    advertiser_id TEXT NOT NULL REFERENCES advertisers(id) ON DELETE CASCADE,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    asset TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    position INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX product_images_campaign ON product_images (advertiser_id, campaign_id, position);
