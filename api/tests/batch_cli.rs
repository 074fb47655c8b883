//! `adforge batch` end to end: malformed files give file- or row-level errors and never a
//! panic, limits are enforced before any work, and an interrupted run resumes without redoing
//! finished rows. The tests that generate use the real default models in `.deps/models`
//! (`ADFORGE_MODELS_DIR`); they skip when those are missing, except under `CI=true`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const HEADER: &str = "campaign,segment,placement,brand,product,landing_url,persona,language";

fn models_dir() -> PathBuf {
    std::env::var_os("ADFORGE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/models"))
}

/// Whether the default models are present; panics under `CI=true` when they are not.
fn models_present() -> bool {
    let dir = models_dir();
    let present =
        dir.join("smollm2-135m-instruct").is_dir() && dir.join("all-minilm-l6-v2").is_dir();
    if !present {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but the models are missing from {}",
            dir.display()
        );
        eprintln!(
            "skipped: the default models are not in {} (run scripts/setup.sh)",
            dir.display()
        );
    }
    present
}

/// Runs `adforge batch` in `dir` with `args`.
fn batch(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_adforge"))
        .arg("batch")
        .args(args)
        .current_dir(dir)
        .env("ADFORGE_MODELS_DIR", models_dir())
        // Every row needs its creative: more candidates make a group where none passes the
        // copy checks rare (copy quality itself is gated by the eval_copy test).
        .env("ADFORGE_COPY_CANDIDATES_PER_VARIANT", "12")
        .env("ADFORGE_DATA_DIR", dir.join("data"))
        .env("ADFORGE_LOG", "warn")
        .env_remove("ADFORGE_CONFIG")
        .output()
        .expect("run adforge batch");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "adforge batch panicked:\n{stderr}"
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The records of a results file, header first.
fn results(out: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(out.join("results.csv"))
        .expect("results.csv");
    reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn missing_columns_are_named_in_one_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.csv"),
        "campaign,placement,brand\nSpring,meta_feed,Acme\n",
    )
    .unwrap();
    let output = batch(dir.path(), &["in.csv", "--out", "out"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("missing required columns: segment"),
        "{}",
        stderr(&output)
    );
    assert!(
        !dir.path().join("out/results.csv").exists(),
        "nothing is written for a bad header"
    );
}

#[test]
fn bad_rows_are_reported_by_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = Vec::new();
    file.extend_from_slice(HEADER.as_bytes());
    file.extend_from_slice(b"\n");
    // Row 2: a landing URL that is not http(s).
    file.extend_from_slice(
        b"Spring,Runners,iab_medium_rectangle,Acme,Shoes,ftp://acme.example,,en\n",
    );
    // Row 3: Latin-1 bytes, not UTF-8, in the segment name.
    file.extend_from_slice(
        b"Spring,Coureurs \xe0 pied,iab_medium_rectangle,Acme,Shoes,https://acme.example,,fr\n",
    );
    // Row 4: an unknown placement preset.
    file.extend_from_slice(b"Spring,Runners,billboard,Acme,Shoes,https://acme.example,,en\n");
    // Row 5: a quote that is never closed takes in the rest of the file.
    file.extend_from_slice(
        b"Spring,\"Runners,iab_medium_rectangle,Acme,Shoes,https://acme.example,,en\n",
    );
    file.extend_from_slice(
        b"Spring,Hikers,iab_medium_rectangle,Acme,Shoes,https://acme.example,,en\n",
    );
    std::fs::write(dir.path().join("in.csv"), file).unwrap();

    let output = batch(dir.path(), &["in.csv", "--out", "out"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "some rows failed: {text}");
    for expected in [
        "row 2, column landing_url:",
        "row 3, column segment: not valid UTF-8",
        "row 4, column placement: \"billboard\" is not a placement preset",
        "row 5: has 2 fields; the header has 8 (a quoted field is never closed",
    ] {
        assert!(
            text.contains(expected),
            "stderr lacks {expected:?}:\n{text}"
        );
    }
    let records = results(&dir.path().join("out"));
    assert_eq!(
        records[0][..6],
        [
            "row",
            "campaign",
            "segment",
            "placement",
            "variant",
            "status"
        ]
    );
    let rows: Vec<(&str, &str)> = records[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[5].as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("2", "error"),
            ("3", "error"),
            ("4", "error"),
            ("5", "error")
        ]
    );
    assert!(
        records[1][12].starts_with("column landing_url:"),
        "{:?}",
        records[1]
    );
    assert!(dir.path().join("out/images.zip").is_file());
}

#[test]
fn a_100_mb_file_is_refused_by_the_size_limit_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(file, "{HEADER}").unwrap();
    let row = "Spring,Runners,iab_medium_rectangle,Acme,Shoes,https://acme.example/shoes,People who run,en\n";
    let mut written = 0usize;
    while written < 100 * 1024 * 1024 {
        file.write_all(row.as_bytes()).unwrap();
        written += row.len();
    }
    file.flush().unwrap();
    drop(file);

    let started = Instant::now();
    let output = batch(dir.path(), &["big.csv", "--out", "out"]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the limit is 50000000 bytes"),
        "{}",
        stderr(&output)
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "refusing took {elapsed:?}; the file must not be parsed"
    );
    assert!(!dir.path().join("out/results.csv").exists());
}

#[test]
fn the_row_limit_is_checked_before_generating() {
    let dir = tempfile::tempdir().unwrap();
    let row = "Spring,Runners,iab_medium_rectangle,Acme,Shoes,https://acme.example/shoes,,en\n";
    std::fs::write(
        dir.path().join("in.csv"),
        format!("{HEADER}\n{row}{row}{row}"),
    )
    .unwrap();
    let output = batch(dir.path(), &["in.csv", "--out", "out", "--max-rows", "2"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("more than 2 rows"),
        "{}",
        stderr(&output)
    );
    assert!(
        !dir.path().join("out/results.csv").exists(),
        "nothing is generated"
    );
}

/// Semicolons, a byte-order mark and a quoted newline; a first run stops after one row, the
/// second finishes the file without generating row 2 again.
#[test]
fn an_interrupted_run_resumes_without_redoing_rows() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let csv = "\u{feff}campaign;segment;placement;variants;brand;product;landing_url;persona;language\n\
        Spring trail;Young trail runners;iab_medium_rectangle;1;Acme Outdoor;Ridge trail shoes;https://acme.example/ridge;\"Runners aged 18-30;\nthey race on mountain trails\";en\n\
        Spring trail;Weekend hikers;iab_medium_rectangle;1;Acme Outdoor;Ridge trail shoes;notaurl;Families who hike;en\n\
        Spring trail;Weekend hikers;iab_medium_rectangle;1;Acme Outdoor;Ridge trail shoes;https://acme.example/ridge;Families who hike on Sundays;en\n";
    std::fs::write(dir.path().join("in.csv"), csv).unwrap();
    let out = dir.path().join("out");

    let first = batch(dir.path(), &["in.csv", "--out", "out", "--limit-rows", "1"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let after_first = results(&out);
    assert_eq!(
        after_first.len(),
        2,
        "header and one creative: {after_first:?}"
    );
    let creative = after_first[1].clone();
    assert_eq!(
        (creative[0].as_str(), creative[5].as_str()),
        ("2", "ok"),
        "{creative:?}"
    );
    assert!(
        !creative[6].is_empty(),
        "a headline was written: {creative:?}"
    );
    let image = out.join(&creative[9]);
    assert!(
        creative[9].starts_with("images/2-young-trail-runners-iab-medium-rectangle-0-300x250"),
        "{creative:?}"
    );
    let first_image_time = std::fs::metadata(&image)
        .expect("row 2's image")
        .modified()
        .unwrap();

    let second = batch(dir.path(), &["in.csv", "--out", "out"]);
    let text = stderr(&second);
    assert_eq!(second.status.code(), Some(2), "row 3 fails: {text}");
    assert!(
        text.contains("resuming: 1 rows were finished by an earlier run"),
        "{text}"
    );
    assert!(text.contains("row 3, column landing_url:"), "{text}");
    let records = results(&out);
    assert_eq!(records[1], creative, "row 2's record is kept as it was");
    let rows: Vec<&str> = records[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(rows, ["2", "3", "4"], "row 2 is not generated again");
    assert_eq!(records[3][5], "ok");
    assert_eq!(
        std::fs::metadata(&image).unwrap().modified().unwrap(),
        first_image_time,
        "row 2's image was not rewritten"
    );

    let zip = zip::ZipArchive::new(std::fs::File::open(out.join("images.zip")).unwrap()).unwrap();
    let mut names: Vec<&str> = zip.file_names().collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with("images/2-") && names[1].starts_with("images/4-"),
        "{names:?}"
    );

    // A third run finds everything done.
    let third = batch(dir.path(), &["in.csv", "--out", "out"]);
    assert!(
        stderr(&third).contains("resuming: 3 rows"),
        "{}",
        stderr(&third)
    );
    assert_eq!(results(&out).len(), 4);
}

/// A run killed (SIGKILL) after its first row is finished resumes from the second row.
#[test]
fn a_killed_run_resumes_after_its_finished_rows() {
    if !models_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let row = |segment: &str| {
        format!("Spring,{segment},iab_medium_rectangle,Acme,Ridge trail shoes,https://acme.example/ridge,People who run,en\n")
    };
    let csv = format!(
        "{HEADER}\n{}{}{}",
        row("Runners"),
        row("Hikers"),
        row("Walkers")
    );
    std::fs::write(dir.path().join("in.csv"), csv).unwrap();
    let out = dir.path().join("out");

    let mut child = Command::new(env!("CARGO_BIN_EXE_adforge"))
        .args(["batch", "in.csv", "--out", "out"])
        .current_dir(dir.path())
        .env("ADFORGE_MODELS_DIR", models_dir())
        .env("ADFORGE_COPY_CANDIDATES_PER_VARIANT", "12")
        .env("ADFORGE_DATA_DIR", dir.path().join("data"))
        .env("ADFORGE_LOG", "warn")
        .env_remove("ADFORGE_CONFIG")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start adforge batch");
    let started = Instant::now();
    loop {
        let lines = std::fs::read_to_string(out.join("results.csv"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines >= 2 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "adforge batch ended before its first row was recorded"
        );
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no row finished in 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill");
    child.wait().unwrap();
    let before = results(&out);
    assert!(
        before.len() >= 2 && before.len() < 4,
        "killed after one row (maybe two): {before:?}"
    );

    let rerun = batch(dir.path(), &["in.csv", "--out", "out"]);
    let text = stderr(&rerun);
    assert_eq!(rerun.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("resuming: {} rows", before.len() - 1)),
        "{text}"
    );
    let after = results(&out);
    assert_eq!(
        after[..before.len()],
        before[..],
        "finished rows are kept as they were"
    );
    let rows: Vec<&str> = after[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(rows, ["2", "3", "4"], "each row once");
}
