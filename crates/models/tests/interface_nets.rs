//! The interface networks of probabilistic symmetrization (LPS): the GIN with a virtual node is
//! permutation-equivariant on padded graph batches, ignores its padding, carries global
//! information through the virtual node and trains; the Vector-Neurons network is
//! `O(3)`-equivariant (rotations and reflections) and `S_n`-equivariant (scores) / invariant
//! (pooled vectors), ignores its padding, is local through its kNN graph and trains. Shape and
//! config errors are errors, not panics.

use crate::support;

use candle_core::{DType, Device, IndexOp, Tensor};
use noether_models::{Gin, GinConfig, ParamStore, VnConfig, VnNet, VnOutput};
use support::{
    TestResult, assert_config_error, assert_err_contains, build_in, max_abs, max_abs_diff, train,
    unit,
};

// ---------------------------------------------------------------------------------------------
// Seeded data

/// A standard normal draw from the seeded uniforms (Box-Muller).
fn gauss(k: u64, i: u64) -> f64 {
    let (u1, u2) = (unit(k, 2 * i), unit(k, 2 * i + 1));
    (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A tensor of standard normal draws.
fn gaussian(k: u64, shape: &[usize], dtype: DType) -> candle_core::Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n as u64).map(|i| gauss(k, i)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// A uniformly drawn permutation of `0..n` (Fisher-Yates).
fn permutation(n: usize, k: u64) -> Vec<u32> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = ((unit(k, i as u64) * (i + 1) as f64) as usize).min(i);
        p.swap(i, j);
    }
    p
}

/// `(adj (B, N, N), mask (B, N))`: graph `b` has `sizes[b]` real nodes (the first ones), each
/// undirected edge among them present with probability `p`; no self loops, padding unlinked.
fn random_graphs(
    sizes: &[usize],
    n: usize,
    p: f64,
    k: u64,
    dtype: DType,
) -> candle_core::Result<(Tensor, Tensor)> {
    let b = sizes.len();
    let mut adj = vec![0f64; b * n * n];
    let mut mask = vec![0f64; b * n];
    for (g, &size) in sizes.iter().enumerate() {
        for i in 0..size {
            mask[g * n + i] = 1.0;
            for j in 0..i {
                if unit(k, (g * n * n + i * n + j) as u64) < p {
                    adj[g * n * n + i * n + j] = 1.0;
                    adj[g * n * n + j * n + i] = 1.0;
                }
            }
        }
    }
    let dev = &Device::Cpu;
    Ok((
        Tensor::from_vec(adj, (b, n, n), dev)?.to_dtype(dtype)?,
        Tensor::from_vec(mask, (b, n), dev)?.to_dtype(dtype)?,
    ))
}

/// Reorders the node axis `dim` by `perm`: `out[.., i, ..] = t[.., perm[i], ..]`.
fn permute_nodes(t: &Tensor, perm: &[u32], dim: usize) -> candle_core::Result<Tensor> {
    let idx = Tensor::new(perm, t.device())?;
    t.index_select(&idx, dim)
}

/// A 3 x 3 orthogonal matrix: Gram-Schmidt of the rows of a Gaussian matrix, the first row's
/// sign set so that the determinant is `det` (+1 a rotation, -1 a rotation times a reflection).
fn orthogonal(k: u64, det: f64) -> [[f64; 3]; 3] {
    let g: Vec<f64> = (0..9).map(|i| gauss(k, i)).collect();
    let mut r = [[0f64; 3]; 3];
    for i in 0..3 {
        let mut v = [g[3 * i], g[3 * i + 1], g[3 * i + 2]];
        for row in r.iter().take(i) {
            let d: f64 = (0..3).map(|c| v[c] * row[c]).sum();
            (0..3).for_each(|c| v[c] -= d * row[c]);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        r[i] = [v[0] / norm, v[1] / norm, v[2] / norm];
    }
    let d = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    if d * det < 0.0 {
        r[0] = [-r[0][0], -r[0][1], -r[0][2]];
    }
    r
}

/// `x Rᵀ` over the last axis (length 3) of `x`: every row vector `v -> R v`.
fn rotate(x: &Tensor, r: &[[f64; 3]; 3]) -> candle_core::Result<Tensor> {
    let flat: Vec<f64> = r.iter().flatten().copied().collect();
    let rt = Tensor::from_vec(flat, (3, 3), x.device())?
        .to_dtype(x.dtype())?
        .t()?;
    x.broadcast_matmul(&rt)
}

/// `max |a - b| / (1 + max |b|)`.
fn rel_err(a: &Tensor, b: &Tensor) -> candle_core::Result<f64> {
    Ok(max_abs_diff(a, b)? / (1.0 + max_abs(b)?))
}

// ---------------------------------------------------------------------------------------------
// GIN

fn gin_config(virtual_node: bool) -> GinConfig {
    GinConfig {
        in_dim: 3,
        hidden: 16,
        layers: 3,
        out_dim: 2,
        virtual_node,
    }
}

fn gin(cfg: &GinConfig, dtype: DType, seed: u64) -> candle_core::Result<(Gin, ParamStore)> {
    build_in(dtype, seed, |vb| Gin::new(cfg, vb))
}

#[test]
fn gin_is_permutation_equivariant_on_padded_batches() -> TestResult {
    let (n, sizes) = (8, [8usize, 6, 3, 5]);
    for dtype in [DType::F64, DType::F32] {
        for virtual_node in [true, false] {
            let (net, _) = gin(&gin_config(virtual_node), dtype, 11)?;
            let (adj, mask) = random_graphs(&sizes, n, 0.4, 21, dtype)?;
            let x = gaussian(22, &[sizes.len(), n, 3], dtype)?;
            let y = net.forward(&x, &adj, &mask)?;
            assert_eq!(y.dims(), &[sizes.len(), n, 2]);
            let mut worst = 0f64;
            for k in 0..5 {
                let p = permutation(n, 100 + k);
                let xp = permute_nodes(&x, &p, 1)?;
                let ap = permute_nodes(&permute_nodes(&adj, &p, 1)?, &p, 2)?;
                let mp = permute_nodes(&mask, &p, 1)?;
                let yp = net.forward(&xp, &ap, &mp)?;
                worst = worst.max(max_abs_diff(&yp, &permute_nodes(&y, &p, 1)?)?);
            }
            let tol = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
            eprintln!("GIN {dtype:?} vn={virtual_node}: max |G(Px) - P G(x)| = {worst:e}");
            assert!(
                worst < tol,
                "{dtype:?} vn={virtual_node}: equivariance error {worst}"
            );
        }
    }
    Ok(())
}

#[test]
fn gin_padding_nodes_are_zero_and_inert() -> TestResult {
    let (n, sizes) = (7, [7usize, 4, 2]);
    let (net, _) = gin(&gin_config(true), DType::F64, 5)?;
    let (adj, mask) = random_graphs(&sizes, n, 0.5, 8, DType::F64)?;
    let x = gaussian(9, &[3, n, 3], DType::F64)?;
    let y = net.forward(&x, &adj, &mask)?;
    // padding outputs are exactly zero
    let pad = mask.affine(-1.0, 1.0)?.unsqueeze(2)?;
    assert_eq!(max_abs(&y.broadcast_mul(&pad)?)?, 0.0);
    assert!(
        max_abs(&y.i((2, 0..2))?)? > 0.0,
        "real nodes are not all zero"
    );
    // garbage in the padding: features, and edges to / from / among padding nodes
    let noise = gaussian(10, &[3, n, 3], DType::F64)?.affine(100.0, 0.0)?;
    let x2 = (&x + noise.broadcast_mul(&pad)?)?;
    let ones = Tensor::ones((3, n, n), DType::F64, &Device::Cpu)?;
    let real_pair = mask.unsqueeze(2)?.broadcast_mul(&mask.unsqueeze(1)?)?;
    let adj2 = (&adj + (ones - &real_pair)?)?; // every pair that touches padding linked
    let y2 = net.forward(&x2, &adj2, &mask)?;
    let diff = max_abs_diff(&y, &y2)?;
    assert!(diff < 1e-12, "padding inputs changed the output by {diff}");
    // a padded graph is the same graph alone
    let alone = net.forward(
        &x.i((2..3, 0..2))?,
        &adj.i((2..3, 0..2, 0..2))?,
        &mask.i((2..3, 0..2))?,
    )?;
    let diff = max_abs_diff(&alone, &y.i((2..3, 0..2))?)?;
    assert!(diff < 1e-12, "padded vs unpadded graph: {diff}");
    Ok(())
}

#[test]
fn gin_virtual_node_carries_global_information() -> TestResult {
    // graph 0: one triangle (nodes 0-2) and padding; graph 1: two disjoint triangles. Node 0
    // has the same neighbourhood at every depth in both, so only the virtual node tells them
    // apart.
    let n = 6;
    let mut adj = vec![0f64; 2 * n * n];
    let mut link = |g: usize, i: usize, j: usize| {
        adj[g * n * n + i * n + j] = 1.0;
        adj[g * n * n + j * n + i] = 1.0;
    };
    for (g, offsets) in [(0usize, &[0usize][..]), (1, &[0, 3][..])] {
        for &o in offsets {
            link(g, o, o + 1);
            link(g, o + 1, o + 2);
            link(g, o, o + 2);
        }
    }
    let dev = &Device::Cpu;
    let adj = Tensor::from_vec(adj, (2, n, n), dev)?;
    let mask = Tensor::from_vec(
        vec![1f64, 1., 1., 0., 0., 0., 1., 1., 1., 1., 1., 1.],
        (2, n),
        dev,
    )?;
    let x = Tensor::ones((2, n, 3), DType::F64, dev)?;
    let node0 =
        |y: &Tensor| -> candle_core::Result<f64> { max_abs_diff(&y.i((0, 0))?, &y.i((1, 0))?) };
    let (local, _) = gin(&gin_config(false), DType::F64, 3)?;
    let without = node0(&local.forward(&x, &adj, &mask)?)?;
    assert!(without < 1e-12, "without virtual node: {without}");
    let (global, _) = gin(&gin_config(true), DType::F64, 3)?;
    let with = node0(&global.forward(&x, &adj, &mask)?)?;
    assert!(with > 1e-3, "with virtual node: {with}");
    eprintln!("GIN node 0, one vs two triangles: without vn {without:e}, with vn {with:e}");
    Ok(())
}

#[test]
fn gin_trains_every_parameter() -> TestResult {
    let (n, sizes) = (6, [6usize, 4, 5, 3]);
    let (net, store) = gin(&gin_config(true), DType::F32, 7)?;
    assert!(store.get("virtual_node.embedding")?.is_some());
    assert!(store.get("layers.2.eps")?.is_some());
    assert!(store.get("virtual_node.mlps.1.2.weight")?.is_some());
    assert!(store.get("virtual_node.mlps.2.0.weight")?.is_none()); // no update after the last
    let (adj, mask) = random_graphs(&sizes, n, 0.5, 30, DType::F32)?;
    let x = gaussian(31, &[4, n, 3], DType::F32)?;
    // a learnable per-node target: half the first two input features plus a fifth of the degree
    let degree = adj.sum_keepdim(2)?.affine(0.2, 0.0)?;
    let target = x
        .narrow(2, 0, 2)?
        .affine(0.5, 0.0)?
        .broadcast_add(&degree)?
        .broadcast_mul(&mask.unsqueeze(2)?)?;
    let count = mask.sum_all()?.to_scalar::<f32>()? as f64 * 2.0;
    let log = train(&store, 30, 1e-2, &[], || {
        let y = net.forward(&x, &adj, &mask)?;
        (y - &target)?.sqr()?.sum_all()?.affine(1.0 / count, 0.0)
    })?;
    eprintln!("GIN loss {:?}", log.losses);
    log.assert_fell(0.5, "GIN regression");
    Ok(())
}

#[test]
fn gin_rejects_bad_shapes_and_configs() -> TestResult {
    let (net, _) = gin(&gin_config(true), DType::F32, 1)?;
    let dev = &Device::Cpu;
    let x = Tensor::zeros((2, 4, 3), DType::F32, dev)?;
    let adj = Tensor::zeros((2, 4, 4), DType::F32, dev)?;
    let mask = Tensor::ones((2, 4), DType::F32, dev)?;
    assert!(net.forward(&x, &adj, &mask).is_ok());
    let bad_x = Tensor::zeros((2, 4, 5), DType::F32, dev)?;
    assert_err_contains(net.forward(&bad_x, &adj, &mask), "Gin: x");
    let flat_x = Tensor::zeros((8, 3), DType::F32, dev)?;
    assert_err_contains(net.forward(&flat_x, &adj, &mask), "Gin: x");
    let bad_adj = Tensor::zeros((2, 4, 3), DType::F32, dev)?;
    assert_err_contains(net.forward(&x, &bad_adj, &mask), "Gin: adj");
    let bad_mask = Tensor::ones((2, 5), DType::F32, dev)?;
    assert_err_contains(net.forward(&x, &adj, &bad_mask), "Gin: mask");
    let vb = || ParamStore::seeded(0).var_builder(DType::F32, dev);
    for (field, cfg) in [
        (
            "in_dim",
            GinConfig {
                in_dim: 0,
                ..gin_config(true)
            },
        ),
        (
            "hidden",
            GinConfig {
                hidden: 0,
                ..gin_config(true)
            },
        ),
        (
            "layers",
            GinConfig {
                layers: 0,
                ..gin_config(true)
            },
        ),
        (
            "out_dim",
            GinConfig {
                out_dim: 0,
                ..gin_config(true)
            },
        ),
    ] {
        assert_config_error(Gin::new(&cfg, vb()), field);
    }
    assert_eq!(GinConfig::new(5, 1).hidden, 64);
    assert_eq!(GinConfig::new(5, 1).layers, 3);
    assert!(GinConfig::new(5, 1).virtual_node);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Vector Neurons

fn vn_config() -> VnConfig {
    VnConfig {
        in_vectors: 2,
        in_scalars: 1,
        width: 8,
        layers: 2,
        knn: 3,
        out_scalars: 2,
        out_vectors: 3,
    }
}

fn vn(cfg: &VnConfig, dtype: DType, seed: u64) -> candle_core::Result<(VnNet, ParamStore)> {
    build_in(dtype, seed, |vb| VnNet::new(cfg, vb))
}

/// Point sets `(B, N, 2, 3)`, charges `(B, N, 1)` and a mask with `sizes[b]` real nodes.
fn point_sets(
    sizes: &[usize],
    n: usize,
    k: u64,
    dtype: DType,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let b = sizes.len();
    let x = gaussian(k, &[b, n, 2, 3], dtype)?;
    let q = gaussian(k + 1, &[b, n, 1], dtype)?;
    let mask: Vec<f64> = sizes
        .iter()
        .flat_map(|&s| (0..n).map(move |i| if i < s { 1.0 } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, (b, n), &Device::Cpu)?.to_dtype(dtype)?;
    Ok((x, q, mask))
}

fn run(net: &VnNet, x: &Tensor, q: &Tensor, mask: &Tensor) -> candle_core::Result<VnOutput> {
    net.forward(x, Some(q), Some(mask))
}

#[test]
fn vn_is_o3_equivariant_with_rotations_and_reflections() -> TestResult {
    let (n, sizes) = (9, [9usize, 7, 5]);
    for dtype in [DType::F64, DType::F32] {
        let (net, _) = vn(&vn_config(), dtype, 4)?;
        let (x, q, mask) = point_sets(&sizes, n, 40, dtype)?;
        let out = run(&net, &x, &q, &mask)?;
        assert_eq!(out.scalars.dims(), &[3, n, 2]);
        assert_eq!(out.vectors.dims(), &[3, 3, 3]);
        let (mut worst_s, mut worst_v) = (0f64, 0f64);
        let mut elements: Vec<[[f64; 3]; 3]> = (0..4u64)
            .flat_map(|k| [orthogonal(50 + k, 1.0), orthogonal(60 + k, -1.0)])
            .collect();
        elements.push([[-1., 0., 0.], [0., 1., 0.], [0., 0., 1.]]); // a mirror
        elements.push([[-1., 0., 0.], [0., -1., 0.], [0., 0., -1.]]); // the point reflection
        for r in &elements {
            let moved = run(&net, &rotate(&x, r)?, &q, &mask)?;
            worst_s = worst_s.max(rel_err(&moved.scalars, &out.scalars)?);
            worst_v = worst_v.max(rel_err(&moved.vectors, &rotate(&out.vectors, r)?)?);
        }
        let tol = if dtype == DType::F64 { 1e-11 } else { 1e-4 };
        eprintln!(
            "VN {dtype:?} O(3): scalars rel err {worst_s:e}, vectors rel err {worst_v:e} \
             over {} elements",
            elements.len()
        );
        assert!(worst_s < tol && worst_v < tol, "{worst_s} {worst_v}");
        assert!(max_abs(&out.vectors)? > 1e-3, "the vector output is ~0");
    }
    Ok(())
}

#[test]
fn vn_is_permutation_equivariant_and_pools_invariantly() -> TestResult {
    let (n, sizes) = (9, [9usize, 6, 4]);
    let (net, _) = vn(&vn_config(), DType::F64, 6)?;
    let (x, q, mask) = point_sets(&sizes, n, 70, DType::F64)?;
    let out = run(&net, &x, &q, &mask)?;
    let (mut worst_s, mut worst_v) = (0f64, 0f64);
    for k in 0..5 {
        let p = permutation(n, 200 + k);
        let r = orthogonal(300 + k, if k % 2 == 0 { 1.0 } else { -1.0 });
        // g = (P, R): input P X Rᵀ, expected scalars P s, vectors V Rᵀ
        let xg = rotate(&permute_nodes(&x, &p, 1)?, &r)?;
        let moved = run(
            &net,
            &xg,
            &permute_nodes(&q, &p, 1)?,
            &permute_nodes(&mask, &p, 1)?,
        )?;
        worst_s = worst_s.max(rel_err(
            &moved.scalars,
            &permute_nodes(&out.scalars, &p, 1)?,
        )?);
        worst_v = worst_v.max(rel_err(&moved.vectors, &rotate(&out.vectors, &r)?)?);
    }
    eprintln!("VN f64 S_n x O(3): scalars rel err {worst_s:e}, vectors rel err {worst_v:e}");
    assert!(worst_s < 1e-11 && worst_v < 1e-11, "{worst_s} {worst_v}");
    Ok(())
}

#[test]
fn vn_padding_is_inert() -> TestResult {
    let (n, sizes) = (8, [8usize, 5, 1]);
    let (net, _) = vn(&vn_config(), DType::F64, 8)?;
    let (x, q, mask) = point_sets(&sizes, n, 80, DType::F64)?;
    let out = run(&net, &x, &q, &mask)?;
    let pad = mask.affine(-1.0, 1.0)?;
    assert_eq!(
        max_abs(&out.scalars.broadcast_mul(&pad.unsqueeze(2)?)?)?,
        0.0
    );
    // garbage at the padding nodes, some of it right next to real nodes
    let near = x.affine(1.0, 1e-3)?;
    let x2 = (x.broadcast_mul(&mask.unsqueeze(2)?.unsqueeze(3)?)?
        + near
            .roll(1, 1)?
            .broadcast_mul(&pad.unsqueeze(2)?.unsqueeze(3)?)?)?;
    let q2 = (&q + gaussian(81, &[3, n, 1], DType::F64)?.broadcast_mul(&pad.unsqueeze(2)?)?)?;
    let out2 = run(&net, &x2, &q2, &mask)?;
    assert!(max_abs_diff(&out.scalars, &out2.scalars)? < 1e-12);
    assert!(max_abs_diff(&out.vectors, &out2.vectors)? < 1e-12);
    // a padded set is the same set alone; the one-point set has features (its self edge)
    let alone = run(
        &net,
        &x.i((1..2, 0..5))?,
        &q.i((1..2, 0..5))?,
        &mask.i((1..2, 0..5))?,
    )?;
    assert!(max_abs_diff(&alone.scalars, &out.scalars.i((1..2, 0..5))?)? < 1e-12);
    assert!(max_abs_diff(&alone.vectors, &out.vectors.i(1..2)?)? < 1e-12);
    let single = net.forward(&x.i((2..3, 0..1))?, Some(&q.i((2..3, 0..1))?), None)?;
    assert!(max_abs_diff(&single.vectors, &out.vectors.i(2..3)?)? < 1e-12);
    assert!(max_abs(&single.vectors)? > 0.0, "one point: zero vectors");
    // no mask means all real
    let full = net.forward(&x.i(0..1)?, Some(&q.i(0..1)?), None)?;
    assert!(max_abs_diff(&full.scalars, &out.scalars.i(0..1)?)? < 1e-12);
    Ok(())
}

#[test]
fn vn_messages_follow_the_knn_graph() -> TestResult {
    // two pairs of points far apart, knn = 1: each point's only neighbour is its partner, so
    // moving the far pair (rigidly, keeping it far) leaves the near pair's scores unchanged,
    // while with knn = 3 everything is linked.
    let cfg = |knn| VnConfig {
        in_scalars: 0,
        knn,
        ..vn_config()
    };
    let pts = |shift: f64| -> candle_core::Result<Tensor> {
        let v = vec![
            0.0,
            0.0,
            0.0,
            0.3,
            -0.2,
            0.1, //
            0.5,
            0.1,
            0.0,
            -0.1,
            0.2,
            0.4, //
            10.0 + shift,
            0.0,
            0.0,
            0.0,
            1.0,
            0.0, //
            10.5 + shift,
            0.2,
            -0.1,
            0.2,
            0.0,
            0.3,
        ];
        Tensor::from_vec(v, (1, 4, 2, 3), &Device::Cpu)
    };
    let near_scores = |net: &VnNet, shift: f64| -> candle_core::Result<Tensor> {
        net.forward(&pts(shift)?, None, None)?.scalars.i((0, 0..2))
    };
    let (local, _) = vn(&cfg(1), DType::F64, 9)?;
    let d = max_abs_diff(&near_scores(&local, 0.0)?, &near_scores(&local, 2.0)?)?;
    assert!(d < 1e-12, "knn 1: the far pair leaked in: {d}");
    let (dense, _) = vn(&cfg(3), DType::F64, 9)?;
    let d = max_abs_diff(&near_scores(&dense, 0.0)?, &near_scores(&dense, 2.0)?)?;
    assert!(d > 1e-6, "knn 3: the far pair had no effect");
    Ok(())
}

#[test]
fn vn_trains_every_parameter() -> TestResult {
    let (n, sizes) = (6, [6usize, 5, 4, 6]);
    let (net, store) = vn(&vn_config(), DType::F32, 12)?;
    let (x, q, mask) = point_sets(&sizes, n, 90, DType::F32)?;
    let ts = gaussian(91, &[4, n, 2], DType::F32)?.broadcast_mul(&mask.unsqueeze(2)?)?;
    let tv = gaussian(92, &[4, 3, 3], DType::F32)?;
    let count = mask.sum_all()?.to_scalar::<f32>()? as f64 * 2.0;
    let log = train(&store, 40, 2e-2, &[], || {
        let out = run(&net, &x, &q, &mask)?;
        let ls = (out.scalars - &ts)?
            .sqr()?
            .sum_all()?
            .affine(1.0 / count, 0.0)?;
        let lv = (out.vectors - &tv)?.sqr()?.mean_all()?;
        ls + lv
    })?;
    eprintln!("VN loss {:?}", log.losses);
    log.assert_fell(0.5, "VN regression");
    Ok(())
}

#[test]
fn vn_rejects_bad_shapes_and_configs() -> TestResult {
    let (net, _) = vn(&vn_config(), DType::F32, 1)?;
    let dev = &Device::Cpu;
    let x = Tensor::zeros((2, 4, 2, 3), DType::F32, dev)?;
    let q = Tensor::zeros((2, 4, 1), DType::F32, dev)?;
    let mask = Tensor::ones((2, 4), DType::F32, dev)?;
    assert!(net.forward(&x, Some(&q), Some(&mask)).is_ok());
    for bad in [(2, 4, 2, 2), (2, 4, 3, 3)] {
        let bad_x = Tensor::zeros(bad, DType::F32, dev)?;
        assert_err_contains(net.forward(&bad_x, Some(&q), Some(&mask)), "VnNet: vectors");
    }
    let flat = Tensor::zeros((8, 2, 3), DType::F32, dev)?;
    assert_err_contains(net.forward(&flat, Some(&q), Some(&mask)), "VnNet: vectors");
    assert_err_contains(net.forward(&x, None, Some(&mask)), "VnNet: scalars");
    let bad_q = Tensor::zeros((2, 4, 2), DType::F32, dev)?;
    assert_err_contains(net.forward(&x, Some(&bad_q), Some(&mask)), "VnNet: scalars");
    let bad_mask = Tensor::ones((2, 3), DType::F32, dev)?;
    assert_err_contains(net.forward(&x, Some(&q), Some(&bad_mask)), "VnNet: mask");
    let vb = || ParamStore::seeded(0).var_builder(DType::F32, dev);
    for (field, cfg) in [
        (
            "in_vectors",
            VnConfig {
                in_vectors: 0,
                ..vn_config()
            },
        ),
        (
            "width",
            VnConfig {
                width: 0,
                ..vn_config()
            },
        ),
        (
            "layers",
            VnConfig {
                layers: 0,
                ..vn_config()
            },
        ),
        (
            "knn",
            VnConfig {
                knn: 0,
                ..vn_config()
            },
        ),
        (
            "out_scalars",
            VnConfig {
                out_scalars: 0,
                ..vn_config()
            },
        ),
        (
            "out_vectors",
            VnConfig {
                out_vectors: 0,
                ..vn_config()
            },
        ),
    ] {
        assert_config_error(VnNet::new(&cfg, vb()), field);
    }
    let default = VnConfig::new(2, 1, 1, 3);
    assert_eq!((default.width, default.knn), (64, 4));
    // no input scalars: `None` is fine
    let (plain, _) = vn(
        &VnConfig {
            in_scalars: 0,
            ..vn_config()
        },
        DType::F32,
        2,
    )?;
    let out = plain.forward(&x, None, None)?;
    assert_eq!(out.scalars.dims(), &[2, 4, 2]);
    Ok(())
}
