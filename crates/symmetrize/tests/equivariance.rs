//! Every mode of every group is equivariant to float tolerance with transported noise; the
//! unsymmetrized base is not; with fresh noise the error falls with `k`.

use candle_core::{DType, Device, Tensor};
use noether_symmetrize::*;

use crate::support;
use support::{R, dense, gauss, rng};

/// A random symmetric 0/1 adjacency `(b, n, n)`.
fn graphs(b: usize, n: usize, seed: u64) -> R<Tensor> {
    use rand::Rng;
    let mut r = rng(seed);
    let mut a = vec![0f64; b * n * n];
    for g in 0..b {
        for i in 0..n {
            for j in i + 1..n {
                if r.random::<f64>() < 0.4 {
                    a[g * n * n + i * n + j] = 1.0;
                    a[g * n * n + j * n + i] = 1.0;
                }
            }
        }
    }
    Ok(Tensor::from_vec(a, (b, n, n), &Device::Cpu)?)
}

/// `S_n` interface: per-node scores from two rounds of neighbour sums of (features + noise).
#[derive(Clone)]
struct SnScores {
    channels: usize,
}

impl Interface for SnScores {
    fn noise(&self) -> Option<NoiseSpec> {
        Some(NoiseSpec {
            rep: Rep::Nodes,
            channels: self.channels,
            dist: NoiseDist::Uniform,
        })
    }

    fn forward(
        &self,
        inputs: &[Tensor],
        noise: Option<&Tensor>,
        _mask: Option<&Tensor>,
        _train: bool,
    ) -> candle_core::Result<InterfaceOutput> {
        let adj = &inputs[0];
        let (m, n, _) = adj.dims3()?;
        let deg = adj.sum_keepdim(2)?; // (m, n, 1)
        let h = match noise {
            Some(e) => deg.broadcast_add(e)?,
            None => deg.broadcast_as((m, n, self.channels))?.contiguous()?,
        };
        let h = (adj.matmul(&h)?.tanh()? + &h)?;
        let h = (adj.matmul(&h)?.sin()? + &h)?;
        Ok(InterfaceOutput {
            scores: Some(h.sum(2)?),
            ..InterfaceOutput::default()
        })
    }
}

/// `O(3)` (and `S_n x O(3)`) interface on points `(m, n, 3)`: three weighted means of the
/// (noisy) points, and node scores from invariant norms.
#[derive(Clone)]
struct PointVectors;

impl Interface for PointVectors {
    fn noise(&self) -> Option<NoiseSpec> {
        Some(NoiseSpec {
            rep: Rep::Points,
            channels: 1,
            dist: NoiseDist::Gaussian,
        })
    }

    fn forward(
        &self,
        inputs: &[Tensor],
        noise: Option<&Tensor>,
        _mask: Option<&Tensor>,
        _train: bool,
    ) -> candle_core::Result<InterfaceOutput> {
        let x = &inputs[0];
        let x = match noise {
            Some(e) => (x + e.squeeze(2)?)?,
            None => x.clone(),
        };
        let r2 = x.sqr()?.sum_keepdim(2)?; // (m, n, 1) invariant
        let v0 = x.mean(1)?;
        let v1 = x.broadcast_mul(&r2)?.mean(1)?;
        let v2 = x.broadcast_mul(&r2.sqrt()?.cos()?)?.mean(1)?;
        Ok(InterfaceOutput {
            scores: Some((r2.squeeze(2)? + x.broadcast_mul(&v1.unsqueeze(1)?)?.sum(2)?.sqr()?)?),
            vectors: Some(Tensor::stack(&[v0, v1, v2], 1)?),
            logits: None,
        })
    }
}

/// C4 interface: logit `r` = `<rot90(x, -r), W>`.
#[derive(Clone)]
struct Template(Tensor);

impl Interface for Template {
    fn noise(&self) -> Option<NoiseSpec> {
        None
    }

    fn forward(
        &self,
        inputs: &[Tensor],
        _: Option<&Tensor>,
        _: Option<&Tensor>,
        _: bool,
    ) -> candle_core::Result<InterfaceOutput> {
        let x = &inputs[0];
        let mut logits = Vec::new();
        for r in 0..4 {
            let xr = noether_models::gconv::rot90(x, -r)?;
            logits.push(xr.broadcast_mul(&self.0)?.flatten_from(1)?.sum_keepdim(1)?);
        }
        Ok(InterfaceOutput {
            logits: Some(Tensor::cat(&logits, 1)?),
            ..InterfaceOutput::default()
        })
    }
}

fn err<B: Base, I: Interface>(
    model: &Symmetrized<B, I>,
    xs: &[Tensor],
    mask: Option<&Tensor>,
    noise: NoiseMode,
    seed: u64,
) -> R<EquivarianceError> {
    equivariance_error(model, xs, mask, 6, noise, &mut rng(seed))
}

const TOL: f64 = 1e-9; // f64 inputs: exact up to rounding

#[test]
fn permutations_nodes_and_pairs_every_mode() -> R<()> {
    let (b, n, c) = (3, 6, 2);
    let adj = graphs(b, n, 1)?;
    let feats = gauss(&[b, n, c], 2)?;
    let w = gauss(&[n * n + n * c, n * c], 3)?;
    let base = Symmetrized::new(
        dense(w, vec![n, c]),
        Group::Permutations,
        &[Rep::Pairs, Rep::Nodes],
        Rep::Nodes,
    )?
    .interface(SnScores { channels: 4 });
    let xs = [adj, feats];
    let none = base.clone().mode(Mode::Unsymmetrized);
    let e = err(&none, &xs, None, NoiseMode::Transported, 0)?;
    assert!(e.mean > 0.05, "the base should not be equivariant: {e:?}");
    for mode in [
        Mode::GroupAveraging { k: 3 },
        Mode::FrameAveraging {
            k: 3,
            frame: Frame::Laplacian,
        },
        Mode::Canonicalization,
        Mode::Probabilistic { k: 3 },
    ] {
        let m = base.clone().mode(mode);
        let e = err(&m, &xs, None, NoiseMode::Transported, 0)?;
        assert!(e.max < TOL, "{mode:?}: {e:?}");
    }
    Ok(())
}

#[test]
fn permutations_with_padding_and_pair_outputs() -> R<()> {
    let (b, n) = (2, 7);
    let adj = graphs(b, n, 4)?;
    // graph 0 has 5 real nodes, graph 1 all 7
    let mut m = vec![1f64; b * n];
    m[5] = 0.0;
    m[6] = 0.0;
    let mask = Tensor::from_vec(m, (b, n), &Device::Cpu)?;
    let keep = mask.unsqueeze(2)?.broadcast_mul(&mask.unsqueeze(1)?)?;
    let adj = (adj * keep)?;
    let w = gauss(&[n * n, n * n], 5)?;
    let base = Symmetrized::new(
        dense(w, vec![n, n]),
        Group::Permutations,
        &[Rep::Pairs],
        Rep::Pairs,
    )?
    .interface(SnScores { channels: 3 });
    for mode in [
        Mode::GroupAveraging { k: 2 },
        Mode::Canonicalization,
        Mode::Probabilistic { k: 2 },
    ] {
        let m = base.clone().mode(mode);
        let e = err(
            &m,
            std::slice::from_ref(&adj),
            Some(&mask),
            NoiseMode::Transported,
            1,
        )?;
        assert!(e.max < TOL, "{mode:?}: {e:?}");
        // the padding of the inputs never moves
        let out = m.forward(std::slice::from_ref(&adj), Some(&mask), &mut rng(2), false)?;
        let p = out
            .elements
            .and_then(|e| e.perm)
            .ok_or_else(|| SymError::invalid("test", "no permutation"))?;
        let p = p.to_vec3::<f64>()?;
        assert_eq!(p[0][5][5], 1.0);
        assert_eq!(p[0][6][6], 1.0);
    }
    Ok(())
}

#[test]
fn orthogonal_points_and_vectors_every_mode() -> R<()> {
    let (b, n) = (3, 5);
    let x = gauss(&[b, n, 3], 7)?;
    for special in [false, true] {
        let g = Group::Orthogonal { dim: 3, special };
        let w = gauss(&[n * 3, n * 3], 8)?;
        let pts = Symmetrized::new(dense(w, vec![n, 3]), g, &[Rep::Points], Rep::Points)?
            .interface(PointVectors);
        let w = gauss(&[n * 3, 2 * 3], 9)?;
        let vecs = Symmetrized::new(dense(w, vec![2, 3]), g, &[Rep::Points], Rep::Vectors)?
            .interface(PointVectors);
        let e = err(
            &pts.clone().mode(Mode::Unsymmetrized),
            std::slice::from_ref(&x),
            None,
            NoiseMode::Transported,
            0,
        )?;
        assert!(e.mean > 0.05, "base: {e:?}");
        for mode in [
            Mode::GroupAveraging { k: 3 },
            Mode::FrameAveraging {
                k: 0,
                frame: Frame::Pca,
            },
            Mode::Canonicalization,
            Mode::Probabilistic { k: 3 },
        ] {
            let e = err(
                &pts.clone().mode(mode),
                std::slice::from_ref(&x),
                None,
                NoiseMode::Transported,
                3,
            )?;
            assert!(e.max < 1e-8, "points {special} {mode:?}: {e:?}");
            let e = err(
                &vecs.clone().mode(mode),
                std::slice::from_ref(&x),
                None,
                NoiseMode::Transported,
                3,
            )?;
            assert!(e.max < 1e-8, "vectors {special} {mode:?}: {e:?}");
        }
    }
    Ok(())
}

#[test]
fn permutations_times_orthogonal_with_centring() -> R<()> {
    let (b, n) = (2, 5);
    let x = (gauss(&[b, n, 3], 10)? + 3.0)?; // off-centre
    let g = Group::PermutationsOrthogonal {
        dim: 3,
        special: false,
    };
    let w = gauss(&[n * 3, n * 3], 11)?;
    let model = Symmetrized::new(dense(w, vec![n, 3]), g, &[Rep::Points], Rep::Points)?
        .interface(PointVectors)
        .with_centring(true);
    for mode in [
        Mode::GroupAveraging { k: 2 },
        Mode::Canonicalization,
        Mode::Probabilistic { k: 2 },
    ] {
        let m = model.clone().mode(mode);
        let e = err(
            &m,
            std::slice::from_ref(&x),
            None,
            NoiseMode::Transported,
            4,
        )?;
        assert!(e.max < 1e-8, "{mode:?}: {e:?}");
        // translations: phi(x + t) = phi(x) + t with the same draws
        let t = Tensor::new(&[[[0.5f64, -2.0, 1.0]]], &Device::Cpu)?;
        let d = m.draw(std::slice::from_ref(&x), None, &mut rng(5))?;
        let y = m
            .forward_with(std::slice::from_ref(&x), None, &d, false)?
            .output;
        let yt = m
            .forward_with(&[x.broadcast_add(&t)?], None, &d, false)?
            .output;
        let gap = (yt - y.broadcast_add(&t)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f64>()?;
        assert!(gap < 1e-7, "{mode:?}: translation gap {gap}");
    }
    Ok(())
}

#[test]
fn image_groups_c4_and_d4() -> R<()> {
    let (b, c, s) = (3, 2, 6);
    let x = gauss(&[b, c, s, s], 12)?;
    let w = gauss(&[c * s * s, 5], 13)?;
    let template = gauss(&[1, c, s, s], 14)?;
    let base = Symmetrized::new(
        dense(w.clone(), vec![5]),
        Group::ImageRotations { reflections: false },
        &[Rep::Image],
        Rep::Invariant,
    )?
    .interface(Template(template));
    let e = err(
        &base.clone().mode(Mode::Unsymmetrized),
        std::slice::from_ref(&x),
        None,
        NoiseMode::Transported,
        0,
    )?;
    assert!(e.mean > 0.05, "base: {e:?}");
    for mode in [
        Mode::GroupAveraging { k: 4 },
        Mode::Canonicalization,
        Mode::Probabilistic { k: 3 },
    ] {
        let e = err(
            &base.clone().mode(mode),
            std::slice::from_ref(&x),
            None,
            NoiseMode::Transported,
            6,
        )?;
        assert!(e.max < TOL, "C4 {mode:?}: {e:?}");
    }
    // image outputs: a per-pixel map transported back
    let w2 = gauss(&[c * s * s, s * s], 15)?;
    let maps = Symmetrized::new(
        dense(w2, vec![1, s, s]),
        Group::ImageRotations { reflections: true },
        &[Rep::Image],
        Rep::Image,
    )?
    .mode(Mode::GroupAveraging { k: 3 });
    let e = err(&maps, &[x], None, NoiseMode::Transported, 7)?;
    assert!(e.max < TOL, "D4 maps: {e:?}");
    Ok(())
}

#[test]
fn fresh_noise_error_falls_with_k() -> R<()> {
    let (b, n) = (4, 6);
    let adj = graphs(b, n, 20)?;
    let w = gauss(&[n * n, 3], 21)?;
    let model = Symmetrized::new(
        dense(w, vec![3]),
        Group::Permutations,
        &[Rep::Pairs],
        Rep::Invariant,
    )?;
    let mut errs = Vec::new();
    for k in [1, 16, 256] {
        let m = model.clone().mode(Mode::GroupAveraging { k });
        errs.push(err(&m, std::slice::from_ref(&adj), None, NoiseMode::Fresh, 30)?.rms);
    }
    // 1 / sqrt(k): a factor 4 per step in expectation; demand 2
    assert!(
        errs[1] < errs[0] / 2.0 && errs[2] < errs[1] / 2.0,
        "{errs:?}"
    );
    Ok(())
}

#[test]
fn straight_through_is_exact_forward_and_entropy_sharpens() -> R<()> {
    use candle_core::Var;
    use noether_symmetrize::sn::{SnConfig, scores_to_permutation};
    let cfg = SnConfig {
        tau: 0.05,
        ..SnConfig::default()
    };
    // nearly tied scores: the soft permutation starts far from the hard one
    let s = Var::from_tensor(&((gauss(&[2, 5], 40)? * 0.02)? + 1.0)?)?;
    let p0 = scores_to_permutation(s.as_tensor(), None, &cfg)?;
    // forward: the straight-through matrix is exactly the hard permutation
    let gap = (&p0.straight_through - &p0.hard)?
        .abs()?
        .max_all()?
        .to_scalar::<f64>()?;
    assert_eq!(gap, 0.0);
    let soft_gap = |p: &sn::SampledPermutation| -> R<f64> {
        Ok((&p.soft - &p.hard)?.abs()?.mean_all()?.to_scalar::<f64>()?)
    };
    let before = soft_gap(&p0)?;
    // backward: the soft matrix's gradient reaches the scores
    let g = p0.straight_through.sqr()?.sum_all()?.backward()?;
    let gs = g
        .get(s.as_tensor())
        .ok_or_else(|| SymError::invalid("test", "no gradient"))?;
    assert!(gs.abs()?.sum_all()?.to_scalar::<f64>()? > 0.0);
    // the entropy term drives P_soft to P_hard
    for _ in 0..200 {
        let p = scores_to_permutation(s.as_tensor(), None, &cfg)?;
        let h = noether_objectives::permutation_entropy(&p.soft, None)?;
        let g = h.backward()?;
        let gs = g
            .get(s.as_tensor())
            .ok_or_else(|| SymError::invalid("test", "no gradient"))?;
        s.set(&(s.as_tensor() - (gs * 0.2)?)?)?;
    }
    let after = soft_gap(&scores_to_permutation(s.as_tensor(), None, &cfg)?)?;
    println!("soft-hard gap {before} -> {after}");
    assert!(after < before / 5.0, "soft-hard gap {before} -> {after}");
    Ok(())
}

#[test]
fn bad_input_is_an_error_naming_it() -> R<()> {
    let f = |xs: &[Tensor], _: bool| xs[0].flatten_from(1);
    let msg = |r: R<()>| r.err().map(|e| e.to_string()).unwrap_or_default();
    // a group that does not act on the representation
    let e = msg(Symmetrized::new(
        f,
        Group::ImageRotations { reflections: false },
        &[Rep::Nodes],
        Rep::Invariant,
    )
    .map(|_| ()));
    assert!(e.contains("inputs[0]") && e.contains("C4"), "{e}");
    // a tensor whose shape does not fit its representation
    let m = Symmetrized::new(f, Group::Permutations, &[Rep::Pairs], Rep::Invariant)?;
    let x = Tensor::zeros((2, 3, 4), DType::F64, &Device::Cpu)?;
    let e = msg(m.forward(&[x], None, &mut rng(0), false).map(|_| ()));
    assert!(e.contains("inputs[0]") && e.contains("pairs"), "{e}");
    // wrong dimension for O(3)
    let m = Symmetrized::new(
        f,
        Group::Orthogonal {
            dim: 3,
            special: false,
        },
        &[Rep::Points],
        Rep::Invariant,
    )?;
    let x = Tensor::zeros((2, 3, 2), DType::F64, &Device::Cpu)?;
    let e = msg(m.forward(&[x], None, &mut rng(0), false).map(|_| ()));
    assert!(e.contains("inputs[0]") && e.contains("3-vectors"), "{e}");
    // a mode without its interface
    let m = Symmetrized::new(f, Group::Permutations, &[Rep::Pairs], Rep::Invariant)?
        .mode(Mode::Canonicalization);
    let x = graphs(2, 4, 0)?;
    let e = msg(m
        .forward(std::slice::from_ref(&x), None, &mut rng(0), false)
        .map(|_| ()));
    assert!(e.contains("interface"), "{e}");
    // padding that is not at the end
    let m = m.mode(Mode::GroupAveraging { k: 2 });
    let mask = Tensor::new(&[[1f64, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], &Device::Cpu)?;
    let e = msg(m
        .forward(std::slice::from_ref(&x), Some(&mask), &mut rng(0), false)
        .map(|_| ()));
    assert!(e.contains("mask") && e.contains("row 0"), "{e}");
    // the wrong number of inputs
    let e = msg(m
        .forward(&[x.clone(), x], None, &mut rng(0), false)
        .map(|_| ()));
    assert!(e.contains("expected 1"), "{e}");
    Ok(())
}
