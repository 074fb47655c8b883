//! Policy checks on English and French copy: every violation kind, with its rule and span.

use adforge_targeting::brief::{AdCopy, BrandKit, CopyField, Language, PlacementSpec};
use adforge_targeting::policy::{PolicyChecker, RulePack, Violation, ViolationKind};

fn placement() -> PlacementSpec {
    PlacementSpec {
        name: "feed".into(),
        width: 1080,
        height: 1080,
        headline_max: 40,
        body_max: 125,
        cta_max: 20,
    }
}

fn copy(headline: &str, body: &str, cta: &str) -> AdCopy {
    AdCopy {
        headline: headline.into(),
        body: body.into(),
        call_to_action: cta.into(),
    }
}

fn check(
    language: Language,
    brand: &BrandKit,
    copy: &AdCopy,
    allow_claims: bool,
) -> Vec<Violation> {
    let placement = placement();
    PolicyChecker::new(RulePack::builtin(language), brand, &placement, allow_claims).check(copy)
}

/// The text a violation's span points at.
fn spanned<'a>(copy: &'a AdCopy, v: &Violation) -> &'a str {
    let span = v.span.as_ref().expect("violation has a span");
    let text = match span.field {
        CopyField::Headline => &copy.headline,
        CopyField::Body => &copy.body,
        CopyField::CallToAction => &copy.call_to_action,
    };
    &text[span.range.clone()]
}

fn kinds(violations: &[Violation]) -> Vec<ViolationKind> {
    violations.iter().map(|v| v.kind).collect()
}

#[test]
fn clean_english_copy_passes() {
    let brand = BrandKit {
        name: "Velo".into(),
        required_phrases: vec!["Velo".into()],
        disclaimer: Some("Terms apply.".into()),
        ..BrandKit::default()
    };
    let c = copy(
        "Ride to work with Velo",
        "Light e-bikes for city commutes. Test one this weekend. Terms apply.",
        "Book a ride",
    );
    assert_eq!(check(Language::En, &brand, &c, false), vec![]);
}

#[test]
fn english_policy_example() {
    let brand = BrandKit {
        name: "Velo".into(),
        banned_phrases: vec!["cheap".into()],
        required_phrases: vec!["Velo".into()],
        disclaimer: Some("Terms apply.".into()),
        ..BrandKit::default()
    };
    let c = copy(
        "The BEST e-bike, GUARANTEED!!",
        "Are you overweight? Our Cheap bikes are clinically proven to help. Click here",
        "BUY NOW",
    );
    let v = check(Language::En, &brand, &c, false);
    let found: Vec<(ViolationKind, &str, &str)> = v
        .iter()
        .filter(|v| v.span.is_some())
        .map(|v| (v.kind, v.rule.as_str(), spanned(&c, v)))
        .collect();
    let expect = [
        (
            ViolationKind::UnsubstantiatedSuperlative,
            "policy.en.superlatives[0]",
            "BEST",
        ),
        (
            ViolationKind::UnsubstantiatedSuperlative,
            "policy.en.superlatives[1]",
            "The BEST",
        ),
        (
            ViolationKind::UnsubstantiatedGuarantee,
            "policy.en.guarantees[0]",
            "GUARANTEED",
        ),
        (
            ViolationKind::ExcessPunctuation,
            "policy.en.punctuation.max_repeated",
            "!!",
        ),
        (
            ViolationKind::ExcessPunctuation,
            "policy.en.punctuation.max_exclamations",
            "!",
        ),
        (
            ViolationKind::PersonalAttribute,
            "policy.en.personal_attribute_patterns[0]",
            "Are you overweight",
        ),
        (
            ViolationKind::BannedPhrase,
            "brand.banned_phrases[0]",
            "Cheap",
        ),
        (
            ViolationKind::UnsubstantiatedGuarantee,
            "policy.en.guarantees[10]",
            "clinically proven",
        ),
        (
            ViolationKind::UnsubstantiatedGuarantee,
            "policy.en.guarantees[9]",
            "proven",
        ),
        (
            ViolationKind::BannedPhrase,
            "policy.en.banned_phrases[3]",
            "Click here",
        ),
    ];
    for e in expect {
        assert!(found.contains(&e), "missing {e:?} in {found:#?}");
    }
    // The headline is mostly capitals too.
    assert!(v.iter().any(|v| v.kind == ViolationKind::ExcessCapitals
        && v.span.as_ref().unwrap().field == CopyField::Headline));
    // Missing pieces have no span.
    let missing: Vec<&str> = v
        .iter()
        .filter(|v| v.span.is_none())
        .map(|v| v.rule.as_str())
        .collect();
    assert_eq!(
        missing,
        vec!["brand.required_phrases[0]", "brand.disclaimer"]
    );
    // A short all-caps call to action is below `min_letters` and passes.
    assert!(!v.iter().any(|v| v
        .span
        .as_ref()
        .is_some_and(|s| s.field == CopyField::CallToAction)));
}

#[test]
fn claims_pass_when_the_campaign_allows_them() {
    let brand = BrandKit::default();
    let c = copy("The best e-bike of 2026", "Guaranteed for 5 years.", "Shop");
    let strict = check(Language::En, &brand, &c, false);
    assert!(kinds(&strict).contains(&ViolationKind::UnsubstantiatedSuperlative));
    assert!(kinds(&strict).contains(&ViolationKind::UnsubstantiatedGuarantee));
    assert_eq!(check(Language::En, &brand, &c, true), vec![]);
}

#[test]
fn french_policy_example() {
    let brand = BrandKit {
        name: "Vélo".into(),
        banned_phrases: vec!["pas cher".into()],
        required_phrases: vec!["vélo électrique".into()],
        disclaimer: Some("Offre soumise à conditions.".into()),
        ..BrandKit::default()
    };
    let c = copy(
        "Le MEILLEUR vélo électrique",
        "Êtes-vous en surpoids ? Nos vélos PAS CHERS... non : nos vélos Pas Cher, satisfait ou remboursé, résultats garantis !",
        "Essayez-le",
    );
    let v = check(Language::Fr, &brand, &c, false);
    let found: Vec<(ViolationKind, &str)> = v
        .iter()
        .filter(|v| v.span.is_some())
        .map(|v| (v.kind, spanned(&c, v)))
        .collect();
    for e in [
        (ViolationKind::UnsubstantiatedSuperlative, "MEILLEUR"),
        (ViolationKind::PersonalAttribute, "Êtes-vous en surpoids"),
        (ViolationKind::BannedPhrase, "Pas Cher"),
        (
            ViolationKind::UnsubstantiatedGuarantee,
            "satisfait ou remboursé",
        ),
        (
            ViolationKind::UnsubstantiatedGuarantee,
            "résultats garantis",
        ),
        (ViolationKind::UnsubstantiatedGuarantee, "garantis"),
    ] {
        assert!(found.contains(&e), "missing {e:?} in {found:#?}");
    }
    // "PAS CHERS" is a different word (whole-word matching), so only one banned hit.
    assert_eq!(
        found
            .iter()
            .filter(|f| f.0 == ViolationKind::BannedPhrase)
            .count(),
        1
    );
    // The required phrase matches across case and accents ("vélo électrique" in the headline).
    assert!(!v
        .iter()
        .any(|v| v.kind == ViolationKind::MissingRequiredPhrase));
    let missing: Vec<ViolationKind> = v
        .iter()
        .filter(|v| v.span.is_none())
        .map(|v| v.kind)
        .collect();
    assert_eq!(missing, vec![ViolationKind::MissingDisclaimer]);
}

#[test]
fn french_accents_and_case_are_ignored_for_banned_phrases() {
    let brand = BrandKit {
        banned_phrases: vec!["remede".into()],
        ..BrandKit::default()
    };
    let c = copy("Un REMÈDE naturel", "Le remède de grand-mère.", "Découvrir");
    let v = check(Language::Fr, &brand, &c, false);
    let hits: Vec<&str> = v
        .iter()
        .filter(|v| v.kind == ViolationKind::BannedPhrase)
        .map(|v| spanned(&c, v))
        .collect();
    assert_eq!(hits, vec!["REMÈDE", "remède"]);
}

#[test]
fn length_limits_count_grapheme_clusters() {
    let brand = BrandKit::default();
    // 20 family emoji are 20 grapheme clusters but 140 chars and 500 bytes: fits cta_max = 20.
    let family = "👨‍👩‍👧‍👦".repeat(20);
    let ok = copy("Short", "Fine.", &family);
    assert_eq!(check(Language::En, &brand, &ok, false), vec![]);
    // 41 accented letters in a 40-grapheme headline: the span starts at the 41st.
    let long = format!("{}é", "e\u{301}".repeat(40));
    let c = copy(&long, "Fine.", "Go");
    let v = check(Language::En, &brand, &c, false);
    assert_eq!(kinds(&v), vec![ViolationKind::TooLong]);
    assert_eq!(v[0].rule, "placement.feed.headline_max");
    assert_eq!(spanned(&c, &v[0]), "é");
}

#[test]
fn personal_attribute_assertions_in_each_language() {
    let brand = BrandKit::default();
    let cases = [
        (Language::En, "Are you overweight?"),
        (Language::En, "You're single and lonely this winter"),
        (Language::En, "Manage your diabetes with us"),
        (Language::Fr, "Vous êtes célibataire ?"),
        (Language::Fr, "Gérez votre diabète"),
        (Language::Es, "¿Estás deprimido?"),
        (Language::De, "Sind Sie übergewichtig?"),
    ];
    for (language, body) in cases {
        let c = copy("Hello", body, "Go");
        let v = check(language, &brand, &c, false);
        assert!(
            kinds(&v).contains(&ViolationKind::PersonalAttribute),
            "{language:?} `{body}` should be flagged: {v:?}"
        );
    }
    // Talking about a product, not the viewer, is fine.
    let c = copy("Hello", "Recipes for people who love cooking", "Go");
    assert_eq!(check(Language::En, &brand, &c, false), vec![]);
}

#[test]
fn claims_are_found_in_every_language_pack() {
    let brand = BrandKit::default();
    let cases = [
        (
            Language::En,
            "The cheapest bikes, risk-free",
            "cheapest",
            "risk-free",
        ),
        (
            Language::Fr,
            "Le vélo le moins cher, sans risque",
            "le moins cher",
            "sans risque",
        ),
        (
            Language::Es,
            "La mejor bici, garantizada",
            "La mejor",
            "garantizada",
        ),
        (
            Language::De,
            "Das beste Rad, garantiert",
            "Das beste",
            "garantiert",
        ),
    ];
    for (language, body, superlative, guarantee) in cases {
        let c = copy("Hello", body, "Go");
        let v = check(language, &brand, &c, false);
        let found = |kind| {
            v.iter()
                .filter(|x| x.kind == kind)
                .map(|x| spanned(&c, x))
                .collect::<Vec<_>>()
        };
        assert!(
            found(ViolationKind::UnsubstantiatedSuperlative).contains(&superlative),
            "{language:?}: {v:?}"
        );
        assert!(
            found(ViolationKind::UnsubstantiatedGuarantee).contains(&guarantee),
            "{language:?}: {v:?}"
        );
        assert!(v
            .iter()
            .all(|x| x.rule.starts_with(&format!("policy.{}.", language.code()))));
    }
}
