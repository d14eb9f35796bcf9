//! The fused path against the composite reference path, in `f32` (tolerance 1e-5 relative to
//! `1 + |reference|`), value and every input's gradient: ranks 2, 3 and 4, non-contiguous
//! (transposed) input, and tensors above the 32k-element threshold that runs the kernels in
//! parallel. `noether_ops::X` and `noether_ops::reference::X` are called directly; the global
//! `set_fast` switch is not touched.

use crate::common;

use candle_core::{DType, Result, Tensor};
use common::{compare, mask, rand, uniform};
use noether_ops::reference;

const TOL: f64 = 1e-5;
const F: DType = DType::F32;

/// Shapes for the row ops: ranks 2, 3, 4 and one above the parallel threshold.
const ROW_SHAPES: [&[usize]; 4] = [&[7, 13], &[3, 5, 17], &[2, 3, 4, 9], &[4, 8, 33, 33]];

#[test]
fn activations_match_reference() -> Result<()> {
    for (i, shape) in ROW_SHAPES.iter().enumerate() {
        let x = uniform(shape, -4.0, 4.0, i as u64, F)?;
        let what = format!("{shape:?}");
        compare(
            &|t| noether_ops::relu(&t[0]),
            &|t| reference::relu(&t[0]),
            std::slice::from_ref(&x),
            TOL,
            &format!("relu {what}"),
        )?;
        compare(
            &|t| noether_ops::gelu(&t[0]),
            &|t| reference::gelu(&t[0]),
            &[x],
            TOL,
            &format!("gelu {what}"),
        )?;
    }
    // non-contiguous input
    let x = rand(&[6, 10], 9, F)?;
    compare(
        &|t| noether_ops::gelu(&t[0].t()?),
        &|t| reference::gelu(&t[0].t()?),
        &[x],
        TOL,
        "gelu transposed",
    )
}

#[test]
fn softmax_matches_reference() -> Result<()> {
    for (i, shape) in ROW_SHAPES.iter().enumerate() {
        let x = uniform(shape, -6.0, 6.0, 10 + i as u64, F)?;
        let what = format!("{shape:?}");
        compare(
            &|t| noether_ops::softmax_last_dim(&t[0]),
            &|t| reference::softmax_last_dim(&t[0]),
            std::slice::from_ref(&x),
            TOL,
            &format!("softmax {what}"),
        )?;
        compare(
            &|t| noether_ops::log_softmax_last_dim(&t[0]),
            &|t| reference::log_softmax_last_dim(&t[0]),
            &[x],
            TOL,
            &format!("log_softmax {what}"),
        )?;
    }
    // (B, T, D) transposed to (B, D, T): the normalised axis is strided in memory
    let x = rand(&[2, 7, 5], 20, F)?;
    compare(
        &|t| noether_ops::softmax_last_dim(&t[0].transpose(1, 2)?),
        &|t| reference::softmax_last_dim(&t[0].transpose(1, 2)?),
        std::slice::from_ref(&x),
        TOL,
        "softmax transposed",
    )?;
    compare(
        &|t| noether_ops::log_softmax_last_dim(&t[0].transpose(1, 2)?),
        &|t| reference::log_softmax_last_dim(&t[0].transpose(1, 2)?),
        &[x],
        TOL,
        "log_softmax transposed",
    )
}

#[test]
fn masked_softmax_matches_reference() -> Result<()> {
    // (mask shape, logits shape): broadcast over heads, a (T, T) mask, full masks, a large one
    let cases: [(&[usize], &[usize]); 4] = [
        (&[2, 1, 5, 5], &[2, 3, 5, 5]),
        (&[6, 6], &[2, 2, 6, 6]),
        (&[3, 8], &[3, 8]),
        (&[4, 1, 33, 33], &[4, 8, 33, 33]),
    ];
    for (i, (mshape, xshape)) in cases.iter().enumerate() {
        let x = uniform(xshape, -6.0, 6.0, 30 + i as u64, F)?;
        let m = mask(mshape, 0.6, 40 + i as u64)?;
        compare(
            &|t| noether_ops::masked_softmax_last_dim(&t[0], &m),
            &|t| reference::masked_softmax_last_dim(&t[0], &m),
            &[x],
            TOL,
            &format!("masked_softmax {xshape:?} / {mshape:?}"),
        )?;
    }
    // transposed logits with a causal mask
    let x = rand(&[2, 6, 6], 50, F)?;
    let causal = Tensor::tril2(6, DType::U8, x.device())?;
    compare(
        &|t| noether_ops::masked_softmax_last_dim(&t[0].transpose(1, 2)?, &causal),
        &|t| reference::masked_softmax_last_dim(&t[0].transpose(1, 2)?, &causal),
        &[x],
        TOL,
        "masked_softmax transposed causal",
    )
}

#[test]
fn layer_norm_matches_reference() -> Result<()> {
    let eps = 1e-5;
    for (i, shape) in [&[7, 13][..], &[3, 5, 17], &[2, 3, 4, 9], &[70, 520]]
        .iter()
        .enumerate()
    {
        let d = shape[shape.len() - 1];
        let x = rand(shape, 60 + i as u64, F)?.affine(3.0, 1.0)?;
        let w = uniform(&[d], 0.5, 1.5, 70 + i as u64, F)?;
        let b = rand(&[d], 80 + i as u64, F)?;
        compare(
            &|t| noether_ops::layer_norm(&t[0], Some(&t[1]), Some(&t[2]), eps),
            &|t| reference::layer_norm(&t[0], Some(&t[1]), Some(&t[2]), eps),
            &[x.clone(), w, b],
            TOL,
            &format!("layer_norm {shape:?}"),
        )?;
        compare(
            &|t| noether_ops::layer_norm(&t[0], None, None, eps),
            &|t| reference::layer_norm(&t[0], None, None, eps),
            &[x],
            TOL,
            &format!("layer_norm without affine {shape:?}"),
        )?;
    }
    let x = rand(&[2, 9, 6], 90, F)?;
    let w = uniform(&[9], 0.5, 1.5, 91, F)?;
    compare(
        &|t| noether_ops::layer_norm(&t[0].transpose(1, 2)?, Some(&t[1]), None, eps),
        &|t| reference::layer_norm(&t[0].transpose(1, 2)?, Some(&t[1]), None, eps),
        &[x, w],
        TOL,
        "layer_norm transposed",
    )
}

#[test]
fn batch_norm_matches_reference() -> Result<()> {
    let eps = 1e-5;
    for (i, shape) in [&[9, 4][..], &[5, 4, 7], &[3, 4, 5, 6], &[8, 16, 16, 18]]
        .iter()
        .enumerate()
    {
        let c = shape[1];
        let x = rand(shape, 100 + i as u64, F)?.affine(2.0, -0.5)?;
        let w = uniform(&[c], 0.5, 1.5, 110 + i as u64, F)?;
        let b = rand(&[c], 120 + i as u64, F)?;
        compare(
            &|t| Ok(noether_ops::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), eps)?.0),
            &|t| Ok(reference::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), eps)?.0),
            &[x.clone(), w.clone(), b.clone()],
            TOL,
            &format!("batch_norm_train {shape:?}"),
        )?;
        let rm = rand(&[c], 130 + i as u64, F)?;
        let rv = uniform(&[c], 0.5, 2.0, 140 + i as u64, F)?;
        compare(
            &|t| noether_ops::batch_norm_eval(&t[0], &rm, &rv, Some(&t[1]), Some(&t[2]), eps),
            &|t| reference::batch_norm_eval(&t[0], &rm, &rv, Some(&t[1]), Some(&t[2]), eps),
            &[x, w, b],
            TOL,
            &format!("batch_norm_eval {shape:?}"),
        )?;
    }
    // the fused ReLU, train and eval mode, against relu(batch norm); 1e-4, since a
    // pre-activation within rounding of 0 may take the other side of the kink in the
    // composite path (the f64 finite-difference check in gradcheck.rs holds to 1e-6)
    for (i, shape) in [&[9, 4][..], &[8, 16, 16, 18]].iter().enumerate() {
        let c = shape[1];
        let x = rand(shape, 170 + i as u64, F)?.affine(2.0, -0.5)?;
        let w = uniform(&[c], 0.5, 1.5, 175 + i as u64, F)?;
        let b = rand(&[c], 180 + i as u64, F)?;
        compare(
            &|t| Ok(noether_ops::batch_norm_relu_train(&t[0], Some(&t[1]), Some(&t[2]), eps)?.0),
            &|t| {
                let y = reference::batch_norm_train(&t[0], Some(&t[1]), Some(&t[2]), eps)?.0;
                reference::relu(&y)
            },
            &[x.clone(), w.clone(), b.clone()],
            1e-4,
            &format!("batch_norm_relu_train {shape:?}"),
        )?;
        let rm = rand(&[c], 185 + i as u64, F)?;
        let rv = uniform(&[c], 0.5, 2.0, 190 + i as u64, F)?;
        compare(
            &|t| noether_ops::batch_norm_relu_eval(&t[0], &rm, &rv, Some(&t[1]), Some(&t[2]), eps),
            &|t| {
                let y = reference::batch_norm_eval(&t[0], &rm, &rv, Some(&t[1]), Some(&t[2]), eps)?;
                reference::relu(&y)
            },
            &[x, w, b],
            1e-4,
            &format!("batch_norm_relu_eval {shape:?}"),
        )?;
    }
    // channels-last data permuted to (N, C, H, W): a non-contiguous input
    let x = rand(&[2, 3, 3, 4], 150, F)?;
    compare(
        &|t| Ok(noether_ops::batch_norm_train(&t[0].permute((0, 3, 1, 2))?, None, None, eps)?.0),
        &|t| Ok(reference::batch_norm_train(&t[0].permute((0, 3, 1, 2))?, None, None, eps)?.0),
        &[x],
        TOL,
        "batch_norm_train permuted",
    )
}

#[test]
fn batch_stats_match_reference() -> Result<()> {
    for shape in [&[9, 4][..], &[3, 4, 5, 6], &[8, 16, 16, 18]] {
        let x = rand(shape, 160, F)?.affine(3.0, 2.0)?;
        let (_, fast) = noether_ops::batch_norm_train(&x, None, None, 1e-5)?;
        let (_, slow) = reference::batch_norm_train(&x, None, None, 1e-5)?;
        common::assert_close(&fast.mean, &slow.mean, TOL, "mean")?;
        common::assert_close(&fast.var, &slow.var, TOL, "var")?;
        assert_eq!(fast.count, slow.count);
        assert_eq!(fast.mean.dtype(), F);
    }
    Ok(())
}

/// Convolutions of every kind the models use (3x3 / 1x1 / patch kernels, strides 1, 2 and 4,
/// padding 0 and 1, maps from 32x32 down to 4x4 so that tiles of several samples run) and
/// odd sizes (where the stride divides `H + 2p - KH`: otherwise candle's backward fails, see
/// `gradcheck.rs`); the value and both gradients against candle's `conv2d`. The weight gradient sums
/// up to `N OH OW` = 4,096 products, so `f32` is held to 1e-4 and `f64` to 1e-10.
#[test]
fn conv2d_matches_reference() -> Result<()> {
    for (dtype, tol) in [(DType::F64, 1e-10), (F, 1e-4)] {
        conv2d_cases(dtype, tol)?;
    }
    Ok(())
}

fn conv2d_cases(dtype: DType, tol: f64) -> Result<()> {
    let cases: [(&[usize], usize, usize, usize, usize); 10] = [
        (&[2, 3, 2, 2], 4, 7, 3, 1),
        (&[4, 3, 32, 32], 16, 3, 1, 1),
        (&[6, 8, 16, 16], 12, 3, 1, 2),
        (&[6, 8, 16, 16], 12, 1, 0, 2),
        (&[40, 16, 4, 4], 8, 3, 1, 1),
        (&[3, 5, 9, 7], 4, 1, 0, 1),
        (&[33, 5, 4, 4], 4, 1, 0, 1),
        (&[2, 3, 32, 32], 24, 4, 0, 4),
        (&[3, 2, 10, 13], 3, 5, 2, 3),
        (&[1, 1, 3, 3], 1, 3, 0, 1),
    ];
    for (i, &(shape, o, k, pad, stride)) in cases.iter().enumerate() {
        let x = rand(shape, 200 + i as u64, dtype)?;
        let w = rand(&[o, shape[1], k, k], 220 + i as u64, dtype)?.affine(0.3, 0.0)?;
        compare(
            &|t| noether_ops::conv2d(&t[0], &t[1], pad, stride),
            &|t| reference::conv2d(&t[0], &t[1], pad, stride),
            &[x, w],
            tol,
            &format!("conv2d {dtype:?} {shape:?} o{o} k{k} p{pad} s{stride}"),
        )?;
    }
    // a non-contiguous (channels-last, permuted) input
    let x = rand(&[2, 6, 6, 3], 240, dtype)?;
    let w = rand(&[5, 3, 3, 3], 241, dtype)?;
    compare(
        &|t| noether_ops::conv2d(&t[0].permute((0, 3, 1, 2))?, &t[1], 1, 1),
        &|t| reference::conv2d(&t[0].permute((0, 3, 1, 2))?, &t[1], 1, 1),
        &[x, w],
        tol,
        "conv2d permuted",
    )
}

/// Bad shapes are errors naming the mismatch, on both paths' entry point.
#[test]
fn conv2d_rejects_bad_shapes() -> Result<()> {
    let x = rand(&[2, 3, 8, 8], 250, F)?;
    let err =
        noether_ops::conv2d(&x, &rand(&[4, 2, 3, 3], 251, F)?, 1, 1).expect_err("channel mismatch");
    assert!(err.to_string().contains("3 channels"), "{err}");
    assert!(noether_ops::conv2d(&x, &rand(&[4, 3, 11, 11], 252, F)?, 1, 1).is_err());
    assert!(noether_ops::conv2d(&x, &rand(&[4, 3, 3, 3], 253, F)?, 1, 0).is_err());
    Ok(())
}

/// The linear layer, with and without bias, ranks 2 to 4, against candle's matmul and
/// broadcast add; the weight and bias gradients sum over up to 8 * 65 rows.
#[test]
fn linear_matches_reference() -> Result<()> {
    for (dtype, tol) in [(DType::F64, 1e-10), (F, 1e-4)] {
        for (i, shape) in [&[7, 5][..], &[8, 65, 24], &[2, 3, 4, 6]]
            .iter()
            .enumerate()
        {
            let k = shape[shape.len() - 1];
            let x = rand(shape, 300 + i as u64, dtype)?;
            let w = rand(&[11, k], 310 + i as u64, dtype)?;
            let b = rand(&[11], 320 + i as u64, dtype)?;
            compare(
                &|t| noether_ops::linear(&t[0], &t[1], Some(&t[2])),
                &|t| reference::linear(&t[0], &t[1], Some(&t[2])),
                &[x.clone(), w.clone(), b],
                tol,
                &format!("linear {dtype:?} {shape:?}"),
            )?;
            compare(
                &|t| noether_ops::linear(&t[0], &t[1], None),
                &|t| reference::linear(&t[0], &t[1], None),
                &[x, w],
                tol,
                &format!("linear no bias {dtype:?} {shape:?}"),
            )?;
        }
    }
    // a transposed (non-contiguous) input, and a width mismatch
    let x = rand(&[6, 4], 330, F)?;
    let w = rand(&[3, 6], 331, F)?;
    compare(
        &|t| noether_ops::linear(&t[0].t()?, &t[1], None),
        &|t| reference::linear(&t[0].t()?, &t[1], None),
        &[x.clone(), w.clone()],
        TOL,
        "linear transposed",
    )?;
    assert!(noether_ops::linear(&x, &w, None).is_err());
    Ok(())
}

/// Batched products: contiguous operands, a transposed right operand (`k.t()`), a transposed
/// left one, a single matrix, and the scale; against `(a * scale).matmul(b)`.
#[test]
fn batched_matmul_matches_reference() -> Result<()> {
    for (dtype, tol) in [(DType::F64, 1e-10), (F, 1e-4)] {
        let a = rand(&[4, 3, 9, 8], 400, dtype)?;
        let k = rand(&[4, 3, 7, 8], 401, dtype)?;
        let v = rand(&[4, 3, 7, 5], 402, dtype)?;
        let s = 1.0 / 8f64.sqrt();
        compare(
            &|t| noether_ops::batched_matmul(&t[0], &t[1].t()?, s),
            &|t| (&t[0] * s)?.matmul(&t[1].t()?),
            &[a.clone(), k.clone()],
            tol,
            &format!("batched_matmul q kᵀ {dtype:?}"),
        )?;
        compare(
            &|t| noether_ops::batched_matmul(&t[0].t()?, &t[1], 1.0),
            &|t| t[0].t()?.matmul(&t[1]),
            &[k.clone(), v],
            tol,
            &format!("batched_matmul transposed left {dtype:?}"),
        )?;
        compare(
            &|t| noether_ops::batched_matmul(&t[0], &t[1], 2.0),
            &|t| (&t[0] * 2.0)?.matmul(&t[1]),
            &[rand(&[1, 6, 4], 403, dtype)?, rand(&[1, 4, 3], 404, dtype)?],
            tol,
            &format!("batched_matmul one matrix {dtype:?}"),
        )?;
    }
    let a = rand(&[2, 3, 4], 405, F)?;
    assert!(noether_ops::batched_matmul(&a, &a, 1.0).is_err());
    Ok(())
}
