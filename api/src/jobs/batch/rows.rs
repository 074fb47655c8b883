//! Turning an input row into the campaign, brand kit, segment and placement it asks for,
//! validated with the same rules as the JSON API.

use super::csv_input::{Column, RawRow};
use super::RowError;
use crate::domain::placements;
use crate::domain::{
    BrandKit, BrandKitInput, Campaign, CampaignInput, CampaignStatus, FieldError, Objective,
    Placement, PlacementInput, Segment, SegmentInput, Validate,
};

/// Most variants one row may ask for.
pub const MAX_VARIANTS: u32 = 8;

/// Everything one row generates from.
#[derive(Clone, Debug)]
pub struct RowSpec {
    /// Spreadsheet row number.
    pub row: u64,
    /// The campaign (stored, or described by the row).
    pub campaign: Campaign,
    /// Its brand kit, if any.
    pub brand_kit: Option<BrandKit>,
    /// The segment.
    pub segment: Segment,
    /// The placement.
    pub placement: Placement,
    /// Variants to write.
    pub variants: u32,
    /// The product photos its creatives show, in order: the stored campaign's own, or the
    /// row's `product_image` (see [`super::photos`]).
    pub product_photos: Vec<RowPhoto>,
}

/// A product photo for a row's creatives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowPhoto {
    /// One of the stored campaign's photos.
    Stored {
        /// Its id.
        id: String,
        /// Its asset name.
        asset: String,
    },
    /// The picture the row's `product_image` cell names.
    File {
        /// The cell's value.
        name: String,
        /// The checked file.
        path: std::path::PathBuf,
    },
}

/// Campaigns, segments and placements stored for the caller, looked up by name. The command
/// line has none; the HTTP API looks in the tenant's store.
pub trait StoredResources {
    /// The campaign with this name and its brand kit.
    fn campaign(&mut self, name: &str) -> Result<Option<(Campaign, Option<BrandKit>)>, String>;
    /// The campaign's segment with this name.
    fn segment(&mut self, campaign: &Campaign, name: &str) -> Result<Option<Segment>, String>;
    /// The campaign's placement with this name.
    fn placement(&mut self, campaign: &Campaign, name: &str) -> Result<Option<Placement>, String>;
    /// The campaign's product photos, in order (none by default).
    fn product_photos(&mut self, campaign: &Campaign) -> Result<Vec<RowPhoto>, String> {
        let _ = campaign;
        Ok(Vec::new())
    }
}

/// Resolves and validates `row`. `stored` answers rows that name a stored campaign (no
/// `brand` column value); without it such rows are errors.
pub fn resolve(
    row: &RawRow,
    default_variants: u32,
    stored: Option<&mut (dyn StoredResources + '_)>,
) -> Result<RowSpec, RowError> {
    let number = row.row;
    let err = |column: &str, message: String| RowError::new(number, Some(column), message);
    let variants = match row.get(Column::Variants) {
        "" => default_variants,
        text => text
            .parse::<u32>()
            .ok()
            .filter(|v| (1..=MAX_VARIANTS).contains(v))
            .ok_or_else(|| {
                err(
                    "variants",
                    format!("{text:?} is not a whole number from 1 to {MAX_VARIANTS}"),
                )
            })?,
    };
    let segment_name = row.get(Column::Segment);
    let placement_key = row.get(Column::Placement);
    if placement_key.is_empty() {
        return Err(err("placement", "must not be empty".into()));
    }

    if row.get(Column::Brand).is_empty() {
        let Some(stored) = stored else {
            return Err(err(
                "brand",
                "must not be empty: this campaign is described by the row, so give brand, product and landing_url".into(),
            ));
        };
        return resolve_stored(row, variants, stored);
    }

    let campaign = inline_campaign(row)?;
    let brand_kit = inline_brand_kit(row)?;
    let segment_input = SegmentInput {
        campaign_id: campaign.id.clone(),
        name: segment_name.to_string(),
        rules: None,
        persona: row.get(Column::Persona).to_string(),
        language: row
            .optional(Column::Language)
            .unwrap_or_else(|| "en".into()),
    };
    segment_input
        .validate()
        .map_err(|e| column_error(number, e, segment_column))?;
    let placement = preset_placement(number, &campaign.id, placement_key)?;
    let segment = Segment {
        id: format!("row-{number}-segment"),
        input: segment_input,
        created_at: String::new(),
        updated_at: String::new(),
    };
    Ok(RowSpec {
        row: number,
        campaign,
        brand_kit,
        segment,
        placement,
        variants,
        product_photos: Vec::new(),
    })
}

fn resolve_stored(
    row: &RawRow,
    variants: u32,
    stored: &mut (dyn StoredResources + '_),
) -> Result<RowSpec, RowError> {
    let number = row.row;
    let err = |column: &str, message: String| RowError::new(number, Some(column), message);
    let name = row.get(Column::Campaign);
    if name.is_empty() {
        return Err(err("campaign", "must not be empty".into()));
    }
    for column in [
        Column::Product,
        Column::LandingUrl,
        Column::BrandColors,
        Column::BannedWords,
        Column::RequiredPhrases,
    ] {
        if !row.get(column).is_empty() {
            return Err(err(
                column.name(),
                "only used when the row describes its campaign (with a brand)".into(),
            ));
        }
    }
    let (campaign, brand_kit) = stored
        .campaign(name)
        .map_err(|e| err("campaign", e))?
        .ok_or_else(|| err("campaign", format!("no campaign named {name:?}; add brand, product and landing_url to describe one")))?;
    let segment_name = row.get(Column::Segment);
    let segment = stored
        .segment(&campaign, segment_name)
        .map_err(|e| err("segment", e))?
        .ok_or_else(|| {
            err(
                "segment",
                format!("campaign {name:?} has no segment named {segment_name:?}"),
            )
        })?;
    let key = row.get(Column::Placement);
    let placement = match stored
        .placement(&campaign, key)
        .map_err(|e| err("placement", e))?
    {
        Some(placement) => placement,
        None => preset_placement(number, &campaign.id, key)?,
    };
    let product_photos = stored
        .product_photos(&campaign)
        .map_err(|e| err("campaign", e))?;
    Ok(RowSpec {
        row: number,
        campaign,
        brand_kit,
        segment,
        placement,
        variants,
        product_photos,
    })
}

fn inline_campaign(row: &RawRow) -> Result<Campaign, RowError> {
    let number = row.row;
    let allow_claims = match row.get(Column::AllowClaims).to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" => false,
        "true" | "yes" | "1" => true,
        other => {
            return Err(RowError::new(
                number,
                Some("allow_claims"),
                format!("{other:?} is not true or false"),
            ))
        }
    };
    let input = CampaignInput {
        name: row.get(Column::Campaign).to_string(),
        brand: row.get(Column::Brand).to_string(),
        product: row.get(Column::Product).to_string(),
        description: row.get(Column::Description).to_string(),
        offer: row.optional(Column::Offer),
        call_to_action: row.optional(Column::CallToAction),
        landing_url: row.get(Column::LandingUrl).to_string(),
        objective: Objective::default(),
        tone: row.optional(Column::Tone),
        languages: vec![row
            .optional(Column::Language)
            .unwrap_or_else(|| "en".into())],
        status: CampaignStatus::Draft,
        allow_claims,
        auto_approve: false,
        brand_kit_id: None,
    };
    input
        .validate()
        .map_err(|e| column_error(number, e, campaign_column))?;
    Ok(Campaign {
        id: format!("row-{number}-campaign"),
        input,
        created_at: String::new(),
        updated_at: String::new(),
    })
}

fn inline_brand_kit(row: &RawRow) -> Result<Option<BrandKit>, RowError> {
    let list = |column: Column| -> Vec<String> {
        row.get(column)
            .split('|')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let input = BrandKitInput {
        name: row.get(Column::Brand).to_string(),
        colors: list(Column::BrandColors),
        font: None,
        banned_words: list(Column::BannedWords),
        required_phrases: list(Column::RequiredPhrases),
        disclaimer: row.optional(Column::Disclaimer),
    };
    let empty = input.colors.is_empty()
        && input.banned_words.is_empty()
        && input.required_phrases.is_empty()
        && input.disclaimer.is_none();
    if empty {
        return Ok(None);
    }
    input
        .validate()
        .map_err(|e| column_error(row.row, e, brand_kit_column))?;
    Ok(Some(BrandKit {
        id: format!("row-{}-brand-kit", row.row),
        input,
        logo_asset: None,
        created_at: String::new(),
        updated_at: String::new(),
    }))
}

/// A placement from a preset key, every field filled from the preset.
fn preset_placement(row: u64, campaign_id: &str, key: &str) -> Result<Placement, RowError> {
    let preset = placements::preset(key).ok_or_else(|| {
        let keys: Vec<&str> = placements::PRESETS.iter().map(|p| p.key).collect();
        RowError::new(
            row,
            Some("placement"),
            format!(
                "{key:?} is not a placement preset; use one of {}",
                keys.join(", ")
            ),
        )
    })?;
    let input = PlacementInput {
        campaign_id: campaign_id.to_string(),
        name: preset.key.to_string(),
        preset: preset.key.to_string(),
        platform: Some(preset.platform.to_string()),
        format: Some(preset.format.to_string()),
        text_limits: Some(preset.text_limits),
        image_sizes: Some(preset.image_sizes.iter().map(|s| s.to_string()).collect()),
    };
    input
        .validate()
        .map_err(|e| column_error(row, e, |_| "placement".into()))?;
    Ok(Placement {
        id: format!("row-{row}-placement"),
        input,
        created_at: String::new(),
        updated_at: String::new(),
    })
}

/// Turns a validation error into a row error on the CSV column the field came from.
fn column_error(row: u64, error: FieldError, column: fn(&str) -> String) -> RowError {
    let base = error.path.split('[').next().unwrap_or("");
    RowError::new(row, Some(&column(base)), error.message)
}

fn campaign_column(field: &str) -> String {
    match field {
        "name" => "campaign".into(),
        "languages" => "language".into(),
        other => other.into(),
    }
}

fn segment_column(field: &str) -> String {
    match field {
        "name" => "segment".into(),
        other => other.into(),
    }
}

fn brand_kit_column(field: &str) -> String {
    match field {
        "name" => "brand".into(),
        "colors" => "brand_colors".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[(Column, &str)]) -> RawRow {
        RawRow::new(7, cells.iter().map(|(c, v)| (*c, v.to_string())).collect())
    }

    fn inline(extra: &[(Column, &str)]) -> RawRow {
        let mut cells = vec![
            (Column::Campaign, "Spring"),
            (Column::Segment, "Runners"),
            (Column::Placement, "iab_medium_rectangle"),
            (Column::Brand, "Acme"),
            (Column::Product, "Trail shoes"),
            (Column::LandingUrl, "https://acme.example/shoes"),
        ];
        for (column, value) in extra {
            cells.retain(|(c, _)| c != column);
            cells.push((*column, value));
        }
        row(&cells)
    }

    #[test]
    fn an_inline_row_resolves_with_preset_sizes() {
        let spec = resolve(
            &inline(&[(Column::BrandColors, "#112233 | #445566")]),
            2,
            None,
        )
        .unwrap();
        assert_eq!(spec.variants, 2);
        assert_eq!(spec.placement.sizes(), vec![(300, 250)]);
        assert_eq!(
            spec.brand_kit.unwrap().input.colors,
            vec!["#112233", "#445566"]
        );
        assert_eq!(spec.segment.input.language, "en");
    }

    #[test]
    fn bad_values_name_their_column() {
        let cases = [
            (Column::LandingUrl, "ftp://acme.example", "landing_url"),
            (Column::BrandColors, "#12345", "brand_colors"),
            (Column::Language, "English", "language"),
            (Column::Placement, "billboard", "placement"),
            (Column::Variants, "0", "variants"),
            (Column::Segment, "", "segment"),
            (Column::AllowClaims, "maybe", "allow_claims"),
        ];
        for (column, value, expected) in cases {
            let error = resolve(&inline(&[(column, value)]), 1, None).unwrap_err();
            assert_eq!(
                (error.row, error.column.as_deref()),
                (7, Some(expected)),
                "{error}"
            );
        }
    }

    #[test]
    fn a_row_without_brand_needs_stored_campaigns() {
        let error = resolve(
            &row(&[
                (Column::Campaign, "Spring"),
                (Column::Segment, "R"),
                (Column::Placement, "meta_feed"),
            ]),
            1,
            None,
        )
        .unwrap_err();
        assert_eq!(error.column.as_deref(), Some("brand"));
    }
}
