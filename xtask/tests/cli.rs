//! The CLI end to end: every listed subcommand runs, and bad input exits non-zero with a
//! message that names what was wrong.

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("xtask runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn groups_list_shows_every_family() {
    let o = xtask(&["groups", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for name in ["SO(3)", "so3.quat_xyzw", "D4", "S5 x O(3)", "Haar"] {
        assert!(out.contains(name), "missing {name} in\n{out}");
    }
}

#[test]
fn groups_sample_is_deterministic_and_has_the_layout_width() {
    let a = xtask(&[
        "groups", "sample", "SO(3)", "-n", "5", "--seed", "3", "--format", "csv",
    ]);
    let b = xtask(&[
        "groups", "sample", "SO(3)", "-n", "5", "--seed", "3", "--format", "csv",
    ]);
    assert!(a.status.success());
    assert_eq!(stdout(&a), stdout(&b));
    let out = stdout(&a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "qx,qy,qz,qw");
    assert_eq!(lines.len(), 6);
    for line in &lines[1..] {
        let q: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        let norm: f64 = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{line}");
    }
    let c = xtask(&[
        "groups", "sample", "SO(3)", "-n", "5", "--seed", "4", "--format", "csv",
    ]);
    assert_ne!(stdout(&a), stdout(&c));
}

#[test]
fn groups_check_passes_on_every_family() {
    for spec in [
        "C6",
        "D4",
        "SO(2)",
        "O(2)",
        "SO(3)",
        "O(3)",
        "SO(5)",
        "S6",
        "T(2)",
        "E(3)",
        "Scale",
        "S4 x O(3)",
    ] {
        let o = xtask(&["groups", "check", spec, "--samples", "50"]);
        assert!(
            o.status.success(),
            "{spec}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout(&o).contains("hold"), "{spec}");
    }
}

#[test]
fn unknown_group_is_a_clear_error() {
    let o = xtask(&["groups", "sample", "Q8"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Q8") && err.contains("known"), "{err}");
}

#[test]
fn info_reports_a_working_device() {
    let o = xtask(&["info"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("matmul ran and checked"));
}
