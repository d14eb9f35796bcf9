//! Bad input is an `Err` (never a panic) whose message names the function and the argument.

use candle_core::{DType, Device, Result, Tensor};
use noether_objectives::similarity::{cross_entropy_from_logits, l2_normalize};
use noether_objectives::{
    ContextEnv, InfoNceConfig, NtXentConfig, SieWeights, VicRegWeights, augself_loss, byol_loss,
    contextssl_aux_loss, contextssl_nt_xent, equimod_nt_xent, grouped_mse, info_nce, masked_mse,
    nt_xent, permutation_entropy, sie_loss, simclr_nt_xent, task_kl_divergence, task_log_probs,
    vicreg_loss,
};

/// Asserts `r` is an error whose message contains every one of `needles`.
#[track_caller]
fn fails_naming<T: std::fmt::Debug>(r: Result<T>, needles: &[&str]) {
    match r {
        Ok(v) => panic!("expected an error naming {needles:?}, got Ok({v:?})"),
        Err(e) => {
            let msg = e.to_string();
            for n in needles {
                assert!(msg.contains(n), "error {msg:?} does not name {n:?}");
            }
        }
    }
}

fn zeros(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape, DType::F32, &Device::Cpu).expect("zeros")
}

fn ones(shape: &[usize]) -> Tensor {
    Tensor::ones(shape, DType::F32, &Device::Cpu).expect("ones")
}

#[test]
fn nt_xent_rejects_bad_shapes_positives_and_temperatures() {
    let z = ones(&[4, 3]);
    let cfg = NtXentConfig::new(0.5);
    fails_naming(
        nt_xent(&ones(&[4]), &[1, 0, 3, 2], &cfg),
        &["nt_xent", "`z`"],
    );
    fails_naming(nt_xent(&ones(&[1, 3]), &[0], &cfg), &["`z`", "at least 2"]);
    fails_naming(nt_xent(&z, &[1, 0, 3], &cfg), &["`positives`"]);
    fails_naming(nt_xent(&z, &[0, 0, 3, 2], &cfg), &["`positives[0]`"]);
    fails_naming(nt_xent(&z, &[1, 0, 3, 9], &cfg), &["`positives[3]`"]);
    for t in [0.0, -0.5, f64::NAN, f64::INFINITY] {
        fails_naming(
            nt_xent(&z, &[1, 0, 3, 2], &NtXentConfig::new(t)),
            &["`temperature`"],
        );
    }
    let bad_clamp = NtXentConfig {
        temperature: 0.1,
        clamp_min: Some(f64::NAN),
    };
    fails_naming(nt_xent(&z, &[1, 0, 3, 2], &bad_clamp), &["`clamp_min`"]);
    fails_naming(
        nt_xent(
            &Tensor::ones((4, 3), DType::U32, &Device::Cpu).expect("u32"),
            &[1, 0, 3, 2],
            &cfg,
        ),
        &["`z`", "floats"],
    );
}

#[test]
fn nt_xent_layouts_name_the_mismatched_argument() {
    let cfg = NtXentConfig::new(0.5);
    fails_naming(
        simclr_nt_xent(&ones(&[4, 3]), &ones(&[3, 3]), &cfg),
        &["simclr_nt_xent", "`z2`"],
    );
    fails_naming(
        simclr_nt_xent(&ones(&[4, 3]), &ones(&[4, 2]), &cfg),
        &["`z2`"],
    );
    let y = ones(&[4, 3]);
    fails_naming(
        equimod_nt_xent(&y, &y, &y, &ones(&[4, 5]), &cfg),
        &["equimod_nt_xent", "`yhat2`"],
    );
    fails_naming(
        contextssl_nt_xent(&ones(&[5, 3]), &NtXentConfig::contextssl()),
        &["contextssl_nt_xent", "`tokens`", "even"],
    );
    // dtype mismatch
    let z64 = Tensor::ones((4, 3), DType::F64, &Device::Cpu).expect("f64");
    fails_naming(
        simclr_nt_xent(&ones(&[4, 3]), &z64, &cfg),
        &["`z2`", "dtype"],
    );
}

#[test]
fn info_nce_and_byol_name_the_mismatched_argument() {
    let cfg = InfoNceConfig::new(0.1);
    let q = ones(&[4, 3]);
    fails_naming(
        info_nce(&q, &ones(&[3, 3]), &cfg),
        &["info_nce", "`keys`", "at least"],
    );
    fails_naming(info_nce(&q, &ones(&[4, 2]), &cfg), &["`keys`", "columns"]);
    let sym = InfoNceConfig {
        temperature: 0.1,
        symmetric: true,
    };
    fails_naming(info_nce(&q, &ones(&[6, 3]), &sym), &["`keys`", "exactly"]);
    fails_naming(
        info_nce(&q, &q, &InfoNceConfig::new(0.0)),
        &["`temperature`"],
    );
    fails_naming(info_nce(&ones(&[0, 3]), &q, &cfg), &["`queries`"]);

    fails_naming(
        byol_loss(&q, &ones(&[4, 2])),
        &["byol_loss", "`target_projection`"],
    );
    fails_naming(
        byol_loss(&ones(&[4]), &ones(&[4])),
        &["`online_prediction`"],
    );
}

#[test]
fn vicreg_and_sie_need_two_rows_and_matching_parts() {
    let w = VicRegWeights::default();
    fails_naming(
        vicreg_loss(&ones(&[1, 3]), &ones(&[1, 3]), &w),
        &["vicreg_loss", "`z1`"],
    );
    fails_naming(vicreg_loss(&ones(&[4, 3]), &ones(&[4, 2]), &w), &["`z2`"]);
    let bad = VicRegWeights {
        covariance: f64::NAN,
        ..w
    };
    fails_naming(
        vicreg_loss(&ones(&[4, 3]), &ones(&[4, 3]), &bad),
        &["`covariance`"],
    );

    let s = SieWeights::default();
    let (u, v) = (ones(&[4, 2]), ones(&[4, 3]));
    fails_naming(
        sie_loss(&u, &u, &ones(&[5, 3]), &v, &v, &s),
        &["sie_loss", "`equi1`"],
    );
    fails_naming(sie_loss(&u, &ones(&[4, 3]), &v, &v, &v, &s), &["`inv2`"]);
    fails_naming(
        sie_loss(&u, &u, &v, &v, &ones(&[4, 2]), &s),
        &["`equi2_pred`"],
    );
}

#[test]
fn regression_losses_name_the_mismatched_argument() {
    let p = ones(&[4, 6]);
    fails_naming(
        augself_loss(&p, &ones(&[4, 5])),
        &["augself_loss", "`target`"],
    );
    fails_naming(masked_mse(&p, &p, &ones(&[5])), &["masked_mse", "`mask`"]);
    fails_naming(masked_mse(&p, &p, &ones(&[4, 6, 1])), &["`mask`"]);
    fails_naming(
        grouped_mse(&p, &p, &[0..2, 4..7]),
        &["grouped_mse", "`groups[1]`"],
    );
    fails_naming(grouped_mse(&p, &p, &[3..3, 0..1]), &["`groups[0]`"]);
    fails_naming(
        contextssl_aux_loss(&ones(&[4, 5]), &ones(&[4, 5]), ContextEnv::Rotation),
        &["contextssl_aux_loss", "`pred`", "6 columns"],
    );
    fails_naming(
        contextssl_aux_loss(&p, &ones(&[3, 6]), ContextEnv::Color),
        &["`target`"],
    );
}

#[test]
fn gessl_and_lps_name_the_mismatched_argument() {
    let z = ones(&[4, 3]);
    fails_naming(
        task_log_probs(&z, &z, -1.0),
        &["task_log_probs", "`temperature`"],
    );
    fails_naming(task_log_probs(&z, &ones(&[3, 3]), 0.5), &["`z_prime`"]);
    fails_naming(
        task_kl_divergence(&ones(&[5, 3]), &ones(&[5, 3]), &z, &z, 0.5),
        &["task_kl_divergence", "`target_z`"],
    );
    fails_naming(
        task_kl_divergence(&z, &ones(&[4, 2]), &z, &z, 0.5),
        &["`target_z_prime`"],
    );

    fails_naming(
        permutation_entropy(&ones(&[2, 3, 4]), None),
        &["permutation_entropy", "`p_soft`"],
    );
    fails_naming(permutation_entropy(&ones(&[3, 3]), None), &["`p_soft`"]);
    fails_naming(
        permutation_entropy(&ones(&[2, 3, 3]), Some(&ones(&[2, 4]))),
        &["`node_mask`"],
    );
}

#[test]
fn helpers_reject_bad_input() {
    let logits = zeros(&[2, 3]);
    let bad = Tensor::new(&[0u32, 7], &Device::Cpu).expect("targets");
    assert!(cross_entropy_from_logits(&logits, &bad).is_err());
    let short = Tensor::new(&[0u32], &Device::Cpu).expect("targets");
    fails_naming(cross_entropy_from_logits(&logits, &short), &["`targets`"]);
    fails_naming(l2_normalize(&logits, 0.0), &["`eps`"]);
}

#[test]
fn degenerate_but_valid_input_gives_finite_values() -> Result<()> {
    // zero embeddings: cosines are 0, not NaN (the norm is clamped at 1e-12), so each of the
    // 8 rows picks its positive among 7 equal logits
    let z = zeros(&[4, 3]);
    let loss = simclr_nt_xent(&z, &z, &NtXentConfig::new(0.5))?.to_scalar::<f32>()?;
    assert!((loss - 7f32.ln()).abs() < 1e-6, "{loss}");
    // a mask selecting nothing is a zero loss, and a fully padded sample contributes 0
    let p = ones(&[4, 6]);
    assert_eq!(
        masked_mse(&p, &zeros(&[4, 6]), &zeros(&[6]))?.to_scalar::<f32>()?,
        0.0
    );
    let h = permutation_entropy(&ones(&[1, 3, 3]), Some(&zeros(&[1, 3])))?.to_scalar::<f32>()?;
    assert_eq!(h, 0.0);
    Ok(())
}
