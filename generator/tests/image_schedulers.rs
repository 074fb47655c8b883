//! Scheduler set-up against values printed by diffusers 0.42 for the Stable Diffusion schedule
//! (`scaled_linear`, betas 0.00085..0.012, 1000 training steps), and scheduler name parsing.

use std::str::FromStr;

use adforge_generator::image::config::SchedulerConfig;
use adforge_generator::image::scheduler::{self, EulerScheduler, SchedulerKind};

fn sd_config(spacing: Option<&str>) -> SchedulerConfig {
    SchedulerConfig {
        class_name: Some("PNDMScheduler".into()),
        beta_start: Some(0.00085),
        beta_end: Some(0.012),
        beta_schedule: Some("scaled_linear".into()),
        steps_offset: Some(1),
        timestep_spacing: spacing.map(String::from),
        ..SchedulerConfig::default()
    }
}

fn assert_close(ours: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(ours.len(), expected.len(), "{ours:?} vs {expected:?}");
    for (a, b) in ours.iter().zip(expected) {
        assert!(
            (a - b).abs() <= tolerance * b.abs().max(1.0),
            "{ours:?} vs {expected:?}"
        );
    }
}

#[test]
fn euler_leading_schedule_matches_diffusers() {
    // EulerDiscreteScheduler.from_config(saved SD config).set_timesteps(4)
    let euler = EulerScheduler::new(&sd_config(Some("leading")), 4, false, None).unwrap();
    let built = scheduler::build(SchedulerKind::Euler, &sd_config(Some("leading")), 4).unwrap();
    assert_eq!(built.timesteps(), &[751.0, 501.0, 251.0, 1.0]);
    assert_close(euler.sigmas(), &[4.1167, 1.6237, 0.6984, 0.0413, 0.0], 1e-3);
    assert!((built.init_noise_sigma() - 4.2364).abs() < 1e-3);
}

#[test]
fn euler_linspace_schedule_matches_diffusers() {
    // Euler's own default spacing is linspace: timesteps 999, 666, 333, 0 and max sigma 14.6146
    // (which is then the initial noise sigma, without the +1).
    let euler = EulerScheduler::new(&sd_config(None), 4, false, None).unwrap();
    let built = scheduler::build(SchedulerKind::Euler, &sd_config(None), 4).unwrap();
    assert_eq!(built.timesteps(), &[999.0, 666.0, 333.0, 0.0]);
    assert_close(&euler.sigmas()[..1], &[14.6146], 1e-4);
    assert!((built.init_noise_sigma() - 14.6146).abs() < 1e-3);
}

#[test]
fn turbo_uses_trailing_spacing() {
    let built = scheduler::build(SchedulerKind::Turbo, &sd_config(Some("leading")), 1).unwrap();
    assert_eq!(built.timesteps(), &[999.0]);
    let built = scheduler::build(SchedulerKind::Turbo, &sd_config(Some("leading")), 4).unwrap();
    assert_eq!(built.timesteps(), &[999.0, 749.0, 499.0, 249.0]);
}

#[test]
fn scheduler_names_parse_and_default_follows_the_checkpoint() {
    for (name, kind) in [
        ("ddim", SchedulerKind::Ddim),
        ("Euler", SchedulerKind::Euler),
        ("euler_a", SchedulerKind::EulerAncestral),
        ("euler-ancestral", SchedulerKind::EulerAncestral),
        ("dpm++2m", SchedulerKind::DpmPlusPlus2M),
        ("DPMPP_2M_Karras", SchedulerKind::DpmPlusPlus2MKarras),
        ("turbo", SchedulerKind::Turbo),
        ("", SchedulerKind::Default),
    ] {
        assert_eq!(SchedulerKind::from_str(name).unwrap(), kind, "{name}");
    }
    assert!(SchedulerKind::from_str("pndm-ish").is_err());
    let mut config = sd_config(None);
    config.class_name = Some("EulerAncestralDiscreteScheduler".into());
    assert_eq!(
        SchedulerKind::Default.resolve(&config),
        SchedulerKind::EulerAncestral
    );
    config.class_name = Some("PNDMScheduler".into());
    assert_eq!(
        SchedulerKind::Default.resolve(&config),
        SchedulerKind::DpmPlusPlus2M
    );
    assert_eq!(SchedulerKind::Ddim.resolve(&config), SchedulerKind::Ddim);
}

#[test]
fn zero_steps_and_unknown_spacing_are_rejected() {
    assert!(scheduler::build(SchedulerKind::Euler, &sd_config(None), 0).is_err());
    assert!(scheduler::build(SchedulerKind::Ddim, &sd_config(Some("sideways")), 4).is_err());
}
