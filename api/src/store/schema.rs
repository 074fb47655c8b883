//! Diesel table definitions, written to match `migrations/` (portable SQL, see up.sql).

diesel::table! {
    advertisers (id) {
        id -> Text,
        name -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        advertiser_id -> Text,
        prefix -> Text,
        secret_sha256 -> Text,
        created_at -> BigInt,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    brand_kits (id) {
        id -> Text,
        advertiser_id -> Text,
        name -> Text,
        colors -> Text,
        font -> Nullable<Text>,
        logo_asset -> Nullable<Text>,
        banned_words -> Text,
        required_phrases -> Text,
        disclaimer -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    campaigns (id) {
        id -> Text,
        advertiser_id -> Text,
        brand_kit_id -> Nullable<Text>,
        name -> Text,
        brand -> Text,
        product -> Text,
        description -> Text,
        offer -> Nullable<Text>,
        landing_url -> Text,
        objective -> Text,
        tone -> Nullable<Text>,
        languages -> Text,
        status -> Text,
        allow_claims -> Bool,
        auto_approve -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
        call_to_action -> Nullable<Text>,
    }
}

diesel::table! {
    segments (id) {
        id -> Text,
        advertiser_id -> Text,
        campaign_id -> Text,
        name -> Text,
        rules -> Text,
        persona -> Text,
        language -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    placements (id) {
        id -> Text,
        advertiser_id -> Text,
        campaign_id -> Text,
        name -> Text,
        preset -> Text,
        platform -> Text,
        format -> Text,
        text_limits -> Text,
        image_sizes -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        serve_key -> Nullable<Text>,
    }
}

diesel::table! {
    generation_items (job_id, segment_id, placement_id, variant) {
        job_id -> Text,
        segment_id -> Text,
        placement_id -> Text,
        variant -> Integer,
        status -> Text,
        creative_id -> Nullable<Text>,
        error -> Nullable<Text>,
        worker -> Text,
        finished_at -> BigInt,
    }
}

diesel::table! {
    generation_jobs (id) {
        id -> Text,
        advertiser_id -> Text,
        campaign_id -> Text,
        status -> Text,
        request -> Text,
        items_total -> Integer,
        items_done -> Integer,
        items_failed -> Integer,
        error -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        claimed_at -> Nullable<BigInt>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    creatives (id) {
        id -> Text,
        advertiser_id -> Text,
        campaign_id -> Text,
        segment_id -> Nullable<Text>,
        placement_id -> Nullable<Text>,
        job_id -> Nullable<Text>,
        variant -> Integer,
        headline -> Text,
        body -> Text,
        cta -> Text,
        assets -> Text,
        status -> Text,
        violations -> Text,
        provenance -> Text,
        score -> Nullable<Double>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    event_counters (creative_id, segment_key) {
        creative_id -> Text,
        segment_key -> Text,
        impressions -> BigInt,
        clicks -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    event_nonces (nonce, kind) {
        nonce -> Text,
        kind -> Text,
        expires_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    advertisers,
    api_keys,
    brand_kits,
    campaigns,
    segments,
    placements,
    generation_jobs,
    generation_items,
    creatives,
    event_counters,
    event_nonces,
    batches,
    product_images,
);

diesel::table! {
    batches (id) {
        id -> Text,
        advertiser_id -> Text,
        file_name -> Text,
        status -> Text,
        rows_total -> Integer,
        rows_done -> Integer,
        rows_failed -> Integer,
        errors -> Text,
        error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<BigInt>,
        claimed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    product_images (id) {
        id -> Text,
        advertiser_id -> Text,
        campaign_id -> Text,
        asset -> Text,
        file_name -> Text,
        content_type -> Text,
        width -> Integer,
        height -> Integer,
        bytes -> BigInt,
        position -> Integer,
        created_at -> BigInt,
    }
}
