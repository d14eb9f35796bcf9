//! [`Symmetrized`]: `phi(x) = E_{g ~ p(g | x)} [ g . f(g^-1 . x) ]` around any base network
//! `f`, in one of four modes ([`Mode`]), with the `k` samples as a batch axis (inputs
//! replicated `b * k`, one forward pass of `f`, the final outputs averaged).
//!
//! All randomness of a forward pass is drawn first into [`Draws`] (Haar elements, interface
//! noise, tie-break noise, Gumbel noise), then [`Symmetrized::forward_with`] is a deterministic
//! function of the inputs and the draws. That split is what makes the equivariance test exact:
//! transporting the draws with `g` ([`Draws::transport`]) gives `phi(g x) = g phi(x)` to float
//! precision for every mode.

use std::rc::Rc;
use std::sync::Arc;

use candle_core::{DType, Tensor};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SymError};
use crate::group::{Elements, Group, mean_over_samples, one_hot, repeat_interleave};
use crate::o3::{gram_schmidt, pca_frame};
use crate::rep::Rep;
use crate::sn::{SnConfig, laplacian_frame, scores_to_permutation, valid_counts};

/// The base network `f`: inputs (one tensor per input representation) to the output. Any
/// closure `Fn(&[Tensor], bool) -> candle_core::Result<Tensor>` is one (the flag is `train`).
pub trait Base {
    /// `f(inputs)`.
    fn forward(&self, inputs: &[Tensor], train: bool) -> candle_core::Result<Tensor>;
}

impl<F> Base for F
where
    F: Fn(&[Tensor], bool) -> candle_core::Result<Tensor>,
{
    fn forward(&self, inputs: &[Tensor], train: bool) -> candle_core::Result<Tensor> {
        self(inputs, train)
    }
}

/// The distribution of an interface's input noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseDist {
    /// `U(0, 1)` (graphs: per node and channel).
    Uniform,
    /// `N(0, 1)` (n-body: per node and coordinate).
    Gaussian,
}

/// The noise an interface takes for probabilistic symmetrization: i.i.d. per entry, so its
/// distribution is invariant, and transported by its representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseSpec {
    /// `Nodes` (`(M, n, channels)`) or `Points` (`(M, n, channels, d)`).
    pub rep: Rep,
    /// Channels per node.
    pub channels: usize,
    /// Its distribution.
    pub dist: NoiseDist,
}

/// What an interface network outputs: the equivariant quantities the group element is made of.
#[derive(Debug, Clone, Default)]
pub struct InterfaceOutput {
    /// `S_n`: one score per node, `(M, n)`, permutation-equivariant.
    pub scores: Option<Tensor>,
    /// `O(d)`: `d` equivariant vectors as the rows of `(M, d, d)`.
    pub vectors: Option<Tensor>,
    /// Image groups: one logit per group element, `(M, |G|)`, in the regular representation.
    pub logits: Option<Tensor>,
}

/// The small equivariant network `q` of canonicalization and probabilistic symmetrization.
pub trait Interface {
    /// The noise it takes in probabilistic mode (`None`: none, e.g. image interfaces, whose
    /// sampling noise is Gumbel noise on the logits).
    fn noise(&self) -> Option<NoiseSpec>;

    /// `q(inputs, noise)`; `noise` is `None` for canonicalization; `mask` `(M, n)` marks real
    /// nodes.
    fn forward(
        &self,
        inputs: &[Tensor],
        noise: Option<&Tensor>,
        mask: Option<&Tensor>,
        train: bool,
    ) -> candle_core::Result<InterfaceOutput>;
}

/// Shared and boxed networks (`Rc<dyn Base>`, `Box<dyn Interface>`, ...) are bases and
/// interfaces too, so models of different types can live in one collection.
macro_rules! forward_pointer_impls {
    ($($ptr:ident),*) => {$(
        impl<T: Base + ?Sized> Base for $ptr<T> {
            fn forward(&self, inputs: &[Tensor], train: bool) -> candle_core::Result<Tensor> {
                (**self).forward(inputs, train)
            }
        }

        impl<T: Interface + ?Sized> Interface for $ptr<T> {
            fn noise(&self) -> Option<NoiseSpec> {
                (**self).noise()
            }

            fn forward(
                &self,
                inputs: &[Tensor],
                noise: Option<&Tensor>,
                mask: Option<&Tensor>,
                train: bool,
            ) -> candle_core::Result<InterfaceOutput> {
                (**self).forward(inputs, noise, mask, train)
            }
        }
    )*};
}

forward_pointer_impls!(Rc, Arc);

/// The interface of a wrapper that has none (group and frame averaging).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoInterface;

impl Interface for NoInterface {
    fn noise(&self) -> Option<NoiseSpec> {
        None
    }

    fn forward(
        &self,
        _: &[Tensor],
        _: Option<&Tensor>,
        _: Option<&Tensor>,
        _: bool,
    ) -> candle_core::Result<InterfaceOutput> {
        candle_core::bail!("this symmetrized model has no interface network")
    }
}

/// A frame for frame averaging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frame {
    /// `S_n`: the sorted-Laplacian frame of the first `Pairs` input ([`crate::sn`]), `k`
    /// uniform samples from it.
    Laplacian,
    /// `O(d)`: the PCA frame of the first `Points` input ([`crate::o3`]), every element (`k`
    /// is `2^d`, or `2^(d-1)` for `SO(d)`).
    Pca,
}

/// How the group elements are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// The base alone (`phi = f`): the unsymmetrized baseline.
    Unsymmetrized,
    /// Group averaging: `k` Haar samples.
    GroupAveraging {
        /// Samples per input.
        k: usize,
    },
    /// Frame averaging over an equivariant frame.
    FrameAveraging {
        /// Samples per input (Laplacian frame; the PCA frame uses all its elements).
        k: usize,
        /// The frame.
        frame: Frame,
    },
    /// Canonicalization: one element `h(x)` from the interface without noise.
    Canonicalization,
    /// Probabilistic symmetrization: `k` elements from the interface with fresh noise.
    Probabilistic {
        /// Samples per input.
        k: usize,
    },
}

impl Mode {
    /// The mode's short name (`none`, `ga`, `fa`, `canonical`, `ps`).
    pub fn short(&self) -> &'static str {
        match self {
            Mode::Unsymmetrized => "none",
            Mode::GroupAveraging { .. } => "ga",
            Mode::FrameAveraging { .. } => "fa",
            Mode::Canonicalization => "canonical",
            Mode::Probabilistic { .. } => "ps",
        }
    }

    /// Samples per input (1 for the unsymmetrized base and canonicalization).
    pub fn k(&self) -> usize {
        match *self {
            Mode::GroupAveraging { k }
            | Mode::Probabilistic { k }
            | Mode::FrameAveraging { k, .. } => k,
            Mode::Unsymmetrized | Mode::Canonicalization => 1,
        }
    }

    /// The same mode with `k` samples (where it has a `k`).
    pub fn with_k(self, k: usize) -> Mode {
        match self {
            Mode::GroupAveraging { .. } => Mode::GroupAveraging { k },
            Mode::Probabilistic { .. } => Mode::Probabilistic { k },
            Mode::FrameAveraging { frame, .. } => Mode::FrameAveraging { k, frame },
            m => m,
        }
    }
}

/// Every random draw of one forward pass, for `M = b * k` rows.
#[derive(Debug, Clone, Default)]
pub struct Draws {
    /// Samples per input.
    pub k: usize,
    /// Group averaging's Haar elements.
    pub haar: Option<Elements>,
    /// The interface's noise (probabilistic mode).
    pub noise: Option<Tensor>,
    /// `(M, n)` tie-break noise for `S_n` scores and the Laplacian frame.
    pub tie_nodes: Option<Tensor>,
    /// `(M, d, d)` tie-break noise for the interface's `O(d)` vectors.
    pub tie_vectors: Option<Tensor>,
    /// `(M, |G|)` Gumbel noise on an image interface's logits (probabilistic mode).
    pub gumbel: Option<Tensor>,
}

impl Draws {
    /// The draws that make the forward pass on `g . x` the transported image of the one on `x`:
    /// every noise moved by its representation, Haar elements left-multiplied by `g`. `g` has
    /// one element per input (`b`); `noise_rep` is the interface noise's representation.
    pub fn transport(&self, g: &Elements, noise_rep: Option<Rep>) -> Result<Draws> {
        let gk = g.repeat_interleave(self.k)?;
        let act = |t: &Option<Tensor>, rep: Rep| -> Result<Option<Tensor>> {
            t.as_ref().map(|t| gk.act(rep, t, false)).transpose()
        };
        let tie_nodes = match &self.tie_nodes {
            Some(t) => Some(gk.act(Rep::Nodes, &t.unsqueeze(2)?, false)?.squeeze(2)?),
            None => None,
        };
        Ok(Draws {
            k: self.k,
            haar: self.haar.as_ref().map(|h| gk.compose(h)).transpose()?,
            noise: match noise_rep {
                Some(rep) => act(&self.noise, rep)?,
                None => self.noise.clone(),
            },
            tie_nodes,
            tie_vectors: act(&self.tie_vectors, Rep::Vectors)?,
            gumbel: act(&self.gumbel, Rep::Regular)?,
        })
    }
}

/// The output of a symmetrized forward pass.
#[derive(Debug, Clone)]
pub struct SymOutput {
    /// `phi(x)`, averaged over the samples.
    pub output: Tensor,
    /// The entropy regulariser of the soft permutations (`S_n` interfaces), to be weighted
    /// (0.1 in the paper) and added to the loss.
    pub entropy: Option<Tensor>,
    /// The `M = b * k` elements used.
    pub elements: Option<Elements>,
}

/// A base network made equivariant (or invariant) by symmetrization. See the crate docs.
#[derive(Debug, Clone)]
pub struct Symmetrized<B, I = NoInterface> {
    base: B,
    interface: Option<I>,
    group: Group,
    inputs: Vec<Rep>,
    output: Rep,
    mode: Mode,
    sn: SnConfig,
    centring: bool,
    vector_tie: f64,
}

impl<B: Base> Symmetrized<B, NoInterface> {
    /// Wraps `base` (inputs of representations `inputs`, output of `output`) for `group`, in
    /// group-averaging mode with one sample until [`Symmetrized::mode`] says otherwise. An
    /// error if the group does not act on a representation.
    pub fn new(base: B, group: Group, inputs: &[Rep], output: Rep) -> Result<Self> {
        if inputs.is_empty() {
            return Err(SymError::invalid(
                "inputs",
                "at least one input representation",
            ));
        }
        for (i, rep) in inputs.iter().enumerate() {
            group.check_acts(*rep, &format!("inputs[{i}]"))?;
        }
        group.check_acts(output, "output")?;
        Ok(Symmetrized {
            base,
            interface: None,
            group,
            inputs: inputs.to_vec(),
            output,
            mode: Mode::GroupAveraging { k: 1 },
            sn: SnConfig::default(),
            centring: false,
            vector_tie: 1e-6,
        })
    }
}

impl<B: Base, I: Interface> Symmetrized<B, I> {
    /// The same wrapper with an interface network (for canonicalization and probabilistic
    /// symmetrization).
    pub fn interface<J: Interface>(self, interface: J) -> Symmetrized<B, J> {
        Symmetrized {
            base: self.base,
            interface: Some(interface),
            group: self.group,
            inputs: self.inputs,
            output: self.output,
            mode: self.mode,
            sn: self.sn,
            centring: self.centring,
            vector_tie: self.vector_tie,
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Changes the mode in place (e.g. a larger `k` at test time).
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The `S_n` settings (SoftSort temperature, Sinkhorn iterations, tie-break noise).
    pub fn sn_config(mut self, sn: SnConfig) -> Self {
        self.sn = sn;
        self
    }

    /// Translations by centring: the first `Points` input's first channel (positions) is
    /// centred on its real nodes' centroid before everything else, and the centroid is added
    /// back to a `Points` output. Makes the model translation-equivariant for positional
    /// outputs (invariant for the rest).
    pub fn with_centring(mut self, on: bool) -> Self {
        self.centring = on;
        self
    }

    /// The current mode.
    pub fn current_mode(&self) -> Mode {
        self.mode
    }

    /// The group.
    pub fn group(&self) -> Group {
        self.group
    }

    /// The input representations.
    pub fn input_reps(&self) -> &[Rep] {
        &self.inputs
    }

    /// The output representation.
    pub fn output_rep(&self) -> Rep {
        self.output
    }

    /// The base network.
    pub fn base(&self) -> &B {
        &self.base
    }

    /// The interface network, if any.
    pub fn interface_net(&self) -> Option<&I> {
        self.interface.as_ref()
    }

    /// The representation of the interface's noise.
    pub fn noise_rep(&self) -> Option<Rep> {
        self.interface
            .as_ref()
            .and_then(|i| i.noise())
            .map(|s| s.rep)
    }

    /// Checks the inputs against their representations: `(b, n)` (`n` = nodes, if any).
    fn check_inputs(&self, inputs: &[Tensor]) -> Result<(usize, Option<usize>)> {
        if inputs.len() != self.inputs.len() {
            return Err(SymError::invalid(
                "inputs",
                format!(
                    "expected {} tensors (one per input representation), got {}",
                    self.inputs.len(),
                    inputs.len()
                ),
            ));
        }
        let b = inputs[0].dims().first().copied().unwrap_or(0);
        let mut nodes: Option<usize> = None;
        for (i, (x, rep)) in inputs.iter().zip(&self.inputs).enumerate() {
            let what = format!("inputs[{i}]");
            let n = rep.check(&what, x)?;
            self.group.check_dim(*rep, x, &what)?;
            if x.dims()[0] != b {
                return Err(SymError::invalid(
                    what,
                    format!("batch size {} differs from inputs[0]'s {b}", x.dims()[0]),
                ));
            }
            if let Some(n) = n {
                match nodes {
                    Some(m) if m != n => {
                        return Err(SymError::invalid(
                            what,
                            format!("{n} nodes, but an earlier input has {m}"),
                        ));
                    }
                    _ => nodes = Some(n),
                }
            }
        }
        if self.group.permutes() && nodes.is_none() {
            return Err(SymError::invalid(
                "inputs",
                format!("{} needs an input with nodes", self.group.name()),
            ));
        }
        Ok((b, nodes))
    }

    /// The nodes per input (`None` for node-free inputs) and the real nodes of each row
    /// (`mask` `(b, n)`, padding last; all nodes without a mask, 0 without nodes).
    pub fn node_counts(
        &self,
        inputs: &[Tensor],
        mask: Option<&Tensor>,
    ) -> Result<(Option<usize>, Vec<usize>)> {
        let (b, n) = self.check_inputs(inputs)?;
        let valid = match n {
            Some(n) => valid_counts(mask, b, n)?,
            None => vec![0; b],
        };
        Ok((n, valid))
    }

    /// One Haar-random group element per input row (padding kept in place): what the
    /// equivariance test and augmentation move inputs by.
    pub fn sample_elements<R: Rng + ?Sized>(
        &self,
        inputs: &[Tensor],
        mask: Option<&Tensor>,
        rng: &mut R,
    ) -> Result<Elements> {
        let (n, valid) = self.node_counts(inputs, mask)?;
        let x = &inputs[0];
        self.group
            .sample_haar(valid.len(), n, &valid, x.dtype(), x.device(), rng)
    }

    /// Every input moved by its representation: `g . x`, or `g^-1 . x` with `inverse`.
    pub fn act_inputs(
        &self,
        g: &Elements,
        inputs: &[Tensor],
        inverse: bool,
    ) -> Result<Vec<Tensor>> {
        inputs
            .iter()
            .zip(&self.inputs)
            .map(|(x, rep)| g.act(*rep, x, inverse))
            .collect()
    }

    /// Draws every random choice of a forward pass on `b` inputs with `n` nodes.
    pub fn draw<R: Rng + ?Sized>(
        &self,
        inputs: &[Tensor],
        mask: Option<&Tensor>,
        rng: &mut R,
    ) -> Result<Draws> {
        let (b, n) = self.check_inputs(inputs)?;
        let (dtype, device) = (inputs[0].dtype(), inputs[0].device().clone());
        let k = self.samples();
        let m = b * k;
        let mut draws = Draws {
            k,
            ..Draws::default()
        };
        let uniform = |rng: &mut R, shape: &[usize], scale: f64| -> Result<Tensor> {
            let len: usize = shape.iter().product();
            let v: Vec<f32> = (0..len)
                .map(|_| (rng.random::<f64>() * scale) as f32)
                .collect();
            Ok(Tensor::from_vec(v, shape, &device)?.to_dtype(dtype)?)
        };
        let gaussian = |rng: &mut R, shape: &[usize], scale: f64| -> Result<Tensor> {
            let len: usize = shape.iter().product();
            let v: Vec<f32> = (0..len)
                .map(|_| {
                    let z: f64 = StandardNormal.sample(rng);
                    (z * scale) as f32
                })
                .collect::<Vec<f32>>();
            Ok(Tensor::from_vec(v, shape, &device)?.to_dtype(dtype)?)
        };
        match self.mode {
            Mode::Unsymmetrized => {}
            Mode::GroupAveraging { .. } => {
                let (_, valid) = self.node_counts(inputs, mask)?;
                let valid: Vec<usize> = valid.iter().flat_map(|&v| vec![v; k]).collect();
                draws.haar = Some(self.group.sample_haar(m, n, &valid, dtype, &device, rng)?);
            }
            Mode::FrameAveraging { frame, .. } => {
                if frame == Frame::Laplacian {
                    let n = n.unwrap_or(0);
                    draws.tie_nodes = Some(uniform(rng, &[m, n], 1.0)?);
                }
            }
            Mode::Canonicalization | Mode::Probabilistic { .. } => {
                let probabilistic = matches!(self.mode, Mode::Probabilistic { .. });
                if self.group.permutes() {
                    let n = n.unwrap_or(0);
                    draws.tie_nodes = Some(uniform(rng, &[m, n], self.sn.tie_noise)?);
                }
                if let Some((d, _)) = self.group.orthogonal() {
                    draws.tie_vectors = Some(gaussian(rng, &[m, d, d], self.vector_tie)?);
                }
                if probabilistic {
                    if let Some(order) = self.group.image_order() {
                        // Gumbel(0, 1) = -log(-log U)
                        let u = uniform(rng, &[m, order], 1.0)?;
                        let u = u.clamp(1e-12, 1.0 - 1e-7)?;
                        draws.gumbel = Some(u.log()?.neg()?.log()?.neg()?);
                    }
                    if let Some(spec) = self.interface.as_ref().and_then(|i| i.noise()) {
                        let n = n.ok_or_else(|| {
                            SymError::invalid("interface noise", "needs an input with nodes")
                        })?;
                        let mut shape = vec![m, n, spec.channels];
                        if spec.rep == Rep::Points {
                            shape.push(self.group.orthogonal().map_or(3, |(d, _)| d));
                        }
                        draws.noise = Some(match spec.dist {
                            NoiseDist::Uniform => uniform(rng, &shape, 1.0)?,
                            NoiseDist::Gaussian => gaussian(rng, &shape, 1.0)?,
                        });
                    }
                }
            }
        }
        Ok(draws)
    }

    /// Samples per input in the current mode (the PCA frame's size for PCA frame averaging).
    pub fn samples(&self) -> usize {
        match self.mode {
            Mode::FrameAveraging {
                frame: Frame::Pca, ..
            } => {
                let (d, special) = self.group.orthogonal().unwrap_or((3, false));
                if special { 1 << (d - 1) } else { 1 << d }
            }
            m => m.k(),
        }
    }

    /// `phi(inputs)` with fresh draws from `rng`; `mask` `(b, n)` marks real nodes (padding
    /// last).
    pub fn forward<R: Rng + ?Sized>(
        &self,
        inputs: &[Tensor],
        mask: Option<&Tensor>,
        rng: &mut R,
        train: bool,
    ) -> Result<SymOutput> {
        let draws = self.draw(inputs, mask, rng)?;
        self.forward_with(inputs, mask, &draws, train)
    }

    /// `phi(inputs)` with the given draws (deterministic).
    pub fn forward_with(
        &self,
        inputs: &[Tensor],
        mask: Option<&Tensor>,
        draws: &Draws,
        train: bool,
    ) -> Result<SymOutput> {
        let b = inputs.first().map_or(0, |x| x.dims()[0]);
        // checks the inputs and the mask
        self.node_counts(inputs, mask)?;
        // translations: centre positions
        let mut inputs = inputs.to_vec();
        let mut centroid = None;
        if self.centring {
            let i = self
                .inputs
                .iter()
                .position(|r| *r == Rep::Points)
                .ok_or_else(|| SymError::invalid("centring", "needs a Points input (positions)"))?;
            let (x, c) = centre(&inputs[i], mask)?;
            inputs[i] = x;
            centroid = Some(c);
        }
        if self.mode == Mode::Unsymmetrized {
            let y = self.base.forward(&inputs, train)?;
            let y = self.add_centroid(y, centroid.as_ref())?;
            return Ok(SymOutput {
                output: y,
                entropy: None,
                elements: None,
            });
        }
        let k = self.samples();
        if draws.k != k {
            return Err(SymError::invalid(
                "draws",
                format!("made for k = {}, the mode has k = {k}", draws.k),
            ));
        }
        let xs: Vec<Tensor> = inputs
            .iter()
            .map(|x| repeat_interleave(x, k))
            .collect::<Result<_>>()?;
        let mask_k = mask.map(|mk| repeat_interleave(mk, k)).transpose()?;
        let (elements, entropy) = self.elements(&xs, mask_k.as_ref(), draws, b * k, train)?;
        let xs = self.act_inputs(&elements, &xs, true)?;
        let y = self.base.forward(&xs, train)?;
        if y.dims().first() != Some(&(b * k)) {
            return Err(SymError::invalid(
                "base output",
                format!(
                    "batch axis must be b * k = {}, got shape {:?}",
                    b * k,
                    y.dims()
                ),
            ));
        }
        self.output.check("base output", &y)?;
        self.group.check_dim(self.output, &y, "base output")?;
        let y = elements.act(self.output, &y, false)?;
        let y = mean_over_samples(&y, k)?;
        let y = self.add_centroid(y, centroid.as_ref())?;
        Ok(SymOutput {
            output: y,
            entropy,
            elements: Some(elements),
        })
    }

    fn add_centroid(&self, y: Tensor, c: Option<&Tensor>) -> Result<Tensor> {
        match (c, self.output) {
            (Some(c), Rep::Points) => {
                // c is (b, 1, d); y is (b, n, d) or (b, n, ch, d)
                let c = if y.rank() == 4 {
                    c.unsqueeze(2)?
                } else {
                    c.clone()
                };
                Ok(y.broadcast_add(&c)?)
            }
            _ => Ok(y),
        }
    }

    /// The `M` elements of the current mode (and the entropy regulariser).
    fn elements(
        &self,
        xs: &[Tensor],
        mask: Option<&Tensor>,
        draws: &Draws,
        m: usize,
        train: bool,
    ) -> Result<(Elements, Option<Tensor>)> {
        let missing = |what: &str| {
            SymError::invalid(
                "draws",
                format!(
                    "no {what} for mode {} (use Symmetrized::draw)",
                    self.mode.short()
                ),
            )
        };
        let (n, valid) = self.node_counts(xs, mask)?;
        let empty = Elements {
            group: self.group,
            perm: None,
            orth: None,
            image: None,
        };
        match self.mode {
            Mode::Unsymmetrized => Ok((empty, None)),
            Mode::GroupAveraging { .. } => {
                let h = draws.haar.clone().ok_or_else(|| missing("Haar elements"))?;
                if h.len() != m {
                    return Err(SymError::invalid(
                        "draws",
                        format!("{} Haar elements for {m} rows", h.len()),
                    ));
                }
                Ok((h, None))
            }
            Mode::FrameAveraging { frame, .. } => match (frame, self.group) {
                (Frame::Laplacian, Group::Permutations) => {
                    let adj = self.first_input(xs, Rep::Pairs, "the Laplacian frame")?;
                    let adj = if adj.rank() == 4 {
                        adj.narrow(3, 0, 1)?.squeeze(3)?
                    } else {
                        adj
                    };
                    let tie = draws
                        .tie_nodes
                        .as_ref()
                        .ok_or_else(|| missing("tie-break noise"))?;
                    let perm = laplacian_frame(&adj, tie, &valid)?;
                    Ok((
                        Elements {
                            perm: Some(perm),
                            ..empty
                        },
                        None,
                    ))
                }
                (Frame::Pca, Group::Orthogonal { special, .. }) => {
                    let pts = self.first_input(xs, Rep::Points, "the PCA frame")?;
                    let pts = if pts.rank() == 4 {
                        pts.narrow(2, 0, 1)?.squeeze(2)?
                    } else {
                        pts
                    };
                    let f = self.samples();
                    // rows are already replicated f times: take each input's frame once
                    let b = m / f;
                    let idx: Vec<u32> = (0..b).map(|j| (j * f) as u32).collect();
                    let idx = Tensor::from_vec(idx, b, pts.device())?;
                    let once = pts.index_select(&idx, 0)?;
                    let once_valid: Vec<usize> = (0..b).map(|j| valid[j * f]).collect();
                    let fr = pca_frame(&once, &once_valid, special)?; // (b, f, d, d)
                    let d = fr.dims()[2];
                    Ok((
                        Elements {
                            orth: Some(fr.reshape((m, d, d))?),
                            ..empty
                        },
                        None,
                    ))
                }
                (frame, group) => Err(SymError::invalid(
                    "mode",
                    format!(
                        "frame {frame:?} is not a frame of {} (Laplacian: S_n; PCA: O(d))",
                        group.name()
                    ),
                )),
            },
            Mode::Canonicalization | Mode::Probabilistic { .. } => {
                let interface = self.interface.as_ref().ok_or_else(|| {
                    SymError::invalid(
                        "mode",
                        format!(
                            "{} needs an interface network (Symmetrized::interface)",
                            self.mode.short()
                        ),
                    )
                })?;
                let probabilistic = matches!(self.mode, Mode::Probabilistic { .. });
                let noise = if probabilistic {
                    draws.noise.as_ref()
                } else {
                    None
                };
                if probabilistic && interface.noise().is_some() && noise.is_none() {
                    return Err(missing("interface noise"));
                }
                let out = interface.forward(xs, noise, mask, train)?;
                let mut el = empty;
                let mut entropy = None;
                if self.group.permutes() {
                    let s = out.scores.ok_or_else(|| {
                        SymError::invalid("interface", "an S_n interface must output scores")
                    })?;
                    if s.dims() != [m, n.unwrap_or(0)] {
                        return Err(SymError::invalid(
                            "interface scores",
                            format!("must be (M, n) = ({m}, {n:?}), got {:?}", s.dims()),
                        ));
                    }
                    let tie = draws
                        .tie_nodes
                        .as_ref()
                        .ok_or_else(|| missing("tie-break noise"))?;
                    let p = scores_to_permutation(&(s + tie)?, mask, &self.sn)?;
                    entropy = Some(noether_objectives::permutation_entropy(&p.soft, mask)?);
                    el.perm = Some(p.straight_through);
                }
                if let Some((d, special)) = self.group.orthogonal() {
                    let v = out.vectors.ok_or_else(|| {
                        SymError::invalid("interface", "an O(d) interface must output vectors")
                    })?;
                    if v.dims() != [m, d, d] {
                        return Err(SymError::invalid(
                            "interface vectors",
                            format!("must be (M, d, d) = ({m}, {d}, {d}), got {:?}", v.dims()),
                        ));
                    }
                    let tie = draws
                        .tie_vectors
                        .as_ref()
                        .ok_or_else(|| missing("tie-break noise"))?;
                    el.orth = Some(gram_schmidt(&(v + tie)?, special)?);
                }
                if let Some(order) = self.group.image_order() {
                    let l = out.logits.ok_or_else(|| {
                        SymError::invalid("interface", "an image interface must output logits")
                    })?;
                    if l.dims() != [m, order] {
                        return Err(SymError::invalid(
                            "interface logits",
                            format!("must be (M, |G|) = ({m}, {order}), got {:?}", l.dims()),
                        ));
                    }
                    let noisy = match (probabilistic, &draws.gumbel) {
                        (true, Some(g)) => (&l + g)?,
                        (true, None) => return Err(missing("Gumbel noise")),
                        _ => l.clone(),
                    };
                    el.image = Some(straight_through_one_hot(&noisy)?);
                }
                Ok((el, entropy))
            }
        }
    }

    fn first_input(&self, xs: &[Tensor], rep: Rep, what: &str) -> Result<Tensor> {
        self.inputs
            .iter()
            .position(|r| *r == rep)
            .map(|i| xs[i].clone())
            .ok_or_else(|| {
                SymError::invalid("mode", format!("{what} needs a {} input", rep.name()))
            })
    }
}

/// One-hot of the row-wise argmax in the forward pass, softmax's gradient in the backward pass.
fn straight_through_one_hot(logits: &Tensor) -> Result<Tensor> {
    let idx: Vec<usize> = logits
        .argmax(1)?
        .to_dtype(DType::U32)?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|v| v as usize)
        .collect();
    let hard = one_hot(&idx, logits.dims()[1], logits.dtype(), logits.device())?;
    let soft = noether_ops::softmax_last_dim(logits)?;
    Ok((hard + (&soft - soft.detach())?)?)
}

/// Centres channel 0 of a `Points` tensor `(b, n, d)` / `(b, n, c, d)` on its real nodes'
/// centroid: the centred tensor and the centroid `(b, 1, d)`.
fn centre(x: &Tensor, mask: Option<&Tensor>) -> Result<(Tensor, Tensor)> {
    let pos = if x.rank() == 4 {
        x.narrow(2, 0, 1)?.squeeze(2)?
    } else {
        x.clone()
    };
    let (b, n, _) = pos.dims3()?;
    let w = match mask {
        Some(mk) => mk.to_dtype(x.dtype())?,
        None => Tensor::ones((b, n), x.dtype(), x.device())?,
    };
    let count = w.sum_keepdim(1)?.clamp(1.0, f64::INFINITY)?.unsqueeze(2)?; // (b, 1, 1)
    let c = pos
        .broadcast_mul(&w.unsqueeze(2)?)?
        .sum_keepdim(1)?
        .broadcast_div(&count)?; // (b, 1, d)
    let wm = w.unsqueeze(2)?; // real nodes only
    let centred_pos = (&pos - c.broadcast_mul(&wm)?)?;
    let out = if x.rank() == 4 {
        let rest = x.narrow(2, 1, x.dims()[2] - 1)?;
        Tensor::cat(&[centred_pos.unsqueeze(2)?, rest], 2)?
    } else {
        centred_pos
    };
    Ok((out, c))
}
