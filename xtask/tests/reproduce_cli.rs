//! `cargo xtask reproduce --profile smoke` and `cargo xtask eval --run` end to end: every
//! experiment trains and is evaluated, the results page, JSON and plots are written, a second
//! invocation reuses the finished runs, and bad arguments are clear errors.

use crate::common;

use common::{s, text, xtask};

#[test]
fn smoke_profile_trains_evaluates_and_writes_the_results_page() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("results");
    let runs = tmp.path().join("runs");
    let args = [
        "reproduce",
        "--profile",
        "smoke",
        "--out",
        s(&out),
        "--runs",
        s(&runs),
        "--no-progress",
    ];
    let o = xtask(&cache, &args);
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let stdout = text(&o.stdout);
    assert!(stdout.contains("[6/6] BYOL + EquiMod seed 0"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("json"))
            .expect("results.json parses");
    assert_eq!(json["profile"], "smoke");
    let runs_json = json["runs"].as_array().expect("runs");
    assert_eq!(runs_json.len(), 6);
    for r in runs_json {
        let m = &r["metrics"];
        for key in [
            "probe_top1",
            "knn_top1",
            "rotation_r2",
            "color_r2",
            "param_r2",
        ] {
            let v = m[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite(), "{key} of {}: {m}", r["experiment"]);
        }
        let top1 = m["probe_top1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&top1));
    }
    assert!(!json["claims"].as_array().expect("claims").is_empty());
    let page = std::fs::read_to_string(out.join("README.md")).expect("page");
    for needle in [
        "| random encoder |",
        "| SimCLR + EquiMod |",
        "probe top-1 %",
        "accuracy.svg",
    ] {
        assert!(page.contains(needle), "{needle} not in\n{page}");
    }
    for plot in ["accuracy.svg", "r2.svg", "loss.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).expect("plot");
        assert!(svg.starts_with("<svg") && svg.contains("SimCLR"), "{plot}");
    }
    // each trained run has its checkpoint and its eval.json
    let eval = runs.join("simclr/seed-0/eval.json");
    assert!(eval.is_file());

    // the GeSSL suite: its page, the sigma-measurement of base and GeSSL runs, its plot
    let gessl: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("gessl/results.json")).expect("gessl json"),
    )
    .expect("gessl/results.json parses");
    for e in [
        "gessl-base-simclr",
        "gessl-simclr",
        "gessl-vicreg",
        "gessl-abl-hvp-l5",
    ] {
        let r = gessl["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["experiment"] == e)
            .unwrap_or_else(|| panic!("no run of {e}"));
        let sigma = r["metrics"]["sigma"].as_f64().unwrap_or(f64::NAN);
        assert!(sigma.is_finite() && sigma >= 0.0, "{e}: sigma {sigma}");
    }
    let svg = std::fs::read_to_string(out.join("gessl/metrics.svg")).expect("sigma plot");
    assert!(svg.starts_with("<svg") && svg.contains("sigma"));

    // the ContextSSL suite: in-context metrics at every smoke length in both modes, the
    // predictors' MRR, the context curves
    let ctx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("contextssl/results.json")).expect("contextssl json"),
    )
    .expect("contextssl/results.json parses");
    let run = |e: &str| {
        ctx["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["experiment"] == e)
            .unwrap_or_else(|| panic!("no run of {e}"))["metrics"]
            .clone()
    };
    let finite = |m: &serde_json::Value, key: &str| {
        let v = m[key].as_f64().unwrap_or(f64::NAN);
        assert!(v.is_finite(), "{key}: {m}");
        v
    };
    let m = run("contextssl");
    for mode in ["rot", "color"] {
        for c in [0, 2, 6] {
            for what in ["rotation_r2", "color_r2", "mrr", "h1", "h5"] {
                finite(&m, &format!("ctx_{mode}_c{c}_{what}"));
            }
        }
    }
    // without a context the two modes are the same model on the same [h; 0] tokens
    assert_eq!(
        finite(&m, "ctx_rot_c0_rotation_r2"),
        finite(&m, "ctx_color_c0_rotation_r2")
    );
    assert!(
        m.get("param_r2").is_none(),
        "no augmentation parameters: {m}"
    );
    for e in [
        "ctx-sie",
        "ctx-sie-color",
        "ctx-sen",
        "ctx-equimod",
        "ctx-equimod-color",
    ] {
        let mrr = finite(&run(e), "mrr");
        assert!(mrr > 0.0 && mrr <= 1.0, "{e}: {mrr}");
    }
    finite(&run("ctx-augself"), "probe_top1");
    for plot in ["context.svg", "mrr.svg", "context_long.svg", "mrr_long.svg"] {
        let svg = std::fs::read_to_string(out.join("contextssl").join(plot)).expect("plot");
        assert!(svg.starts_with("<svg") && svg.contains("context"), "{plot}");
    }

    // a second invocation reuses the finished runs and their evaluations
    let o = xtask(&cache, &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(stdout.contains("not retrained"), "{stdout}");
    // the random floors too: same resolved run file, same protocol
    assert!(stdout.contains("not re-evaluated"), "{stdout}");

    // eval --run on one of them
    let o = xtask(
        &cache,
        &[
            "eval",
            "--run",
            s(&runs.join("vicreg/seed-0")),
            "--profile",
            "smoke",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout = text(&o.stdout);
    assert!(
        stdout.contains("vicreg at step 2") && stdout.contains("probe_top1"),
        "{stdout}"
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("results");
    let cases: [(&[&str], &str); 4] = [
        (&["reproduce", "--profile", "fast"], "unknown profile"),
        (
            &["reproduce", "--only", "simclr,mae"],
            "unknown experiment \"mae\"",
        ),
        (&["reproduce", "--seeds", "0", "--out", s(&out)], "--seeds"),
        (&["eval", "--run", s(tmp.path())], "config.json"),
    ];
    for (args, needle) in cases {
        let o = xtask(&cache, args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let stderr = text(&o.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!out.exists(), "nothing written on bad input");
}

#[test]
fn lps_suite_trains_measures_and_reads_graph6_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("results");
    let runs = tmp.path().join("runs");
    let graphs = tmp.path().join("graphs");
    std::fs::create_dir_all(&graphs).expect("graphs dir");
    // the triangle, the path on 3 nodes and the 4-cycle, as nauty's geng writes them
    std::fs::write(graphs.join("small.g6"), ">>graph6<<Bw\nBg\nCl\n").expect("graph6 file");
    let args = [
        "reproduce",
        "--suite",
        "lps",
        "--profile",
        "smoke",
        "--data-dir",
        s(&graphs),
        "--out",
        s(&out),
        "--runs",
        s(&runs),
        "--no-progress",
    ];
    let o = xtask(&cache, &args);
    assert!(
        o.status.success(),
        "{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("lps/results.json")).expect("lps json"),
    )
    .expect("lps/results.json parses");
    let runs_json = json["runs"].as_array().expect("runs");
    // CSL and n-body: 4 variants each; images: 5
    assert_eq!(runs_json.len(), 13, "{json}");
    for r in runs_json {
        let eq = r["equivariance"].as_f64().expect("equivariance error");
        let symmetrized = !matches!(r["variant"].as_str(), Some("none" | "aug"));
        assert!(
            !symmetrized || eq <= 1e-5,
            "{} {}: error {eq}",
            r["experiment"],
            r["variant"]
        );
    }
    let separation = json["separation"].as_array().expect("separation");
    assert_eq!(separation.len(), 2, "CSL and the graph6 file");
    assert_eq!(
        separation[1]["graphs"], 6,
        "3 graphs and their relabellings"
    );
    let page = std::fs::read_to_string(out.join("lps/README.md")).expect("page");
    assert!(
        page.contains("| MLP-PS |") && page.contains("small.g6"),
        "{page}"
    );
    for plot in ["csl.svg", "nbody.svg", "images.svg", "k_error.svg"] {
        let svg = std::fs::read_to_string(out.join("lps").join(plot)).expect("plot");
        assert!(svg.starts_with("<svg"), "{plot}");
    }
    // a second invocation reuses every finished run
    let o = xtask(&cache, &args);
    assert!(o.status.success());
    assert_eq!(text(&o.stdout).matches("reused").count(), 13);
    // a malformed graph6 line names the file and the line
    std::fs::write(graphs.join("bad.g6"), "Bw\nB!\n").expect("bad file");
    let o = xtask(&cache, &args);
    assert!(!o.status.success());
    let stderr = text(&o.stderr);
    assert!(
        stderr.contains("bad.g6") && stderr.contains("line 2"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
