//! Variational autoencoder detector (Kingma, Welling 2013, "Auto-Encoding Variational
//! Bayes"), after PyOD's `pyod.models.vae.VAE`: inputs standardised, an encoder of dense
//! ReLU layers to the mean and log-variance of a Gaussian latent code, a sample by the
//! reparameterisation trick `z = mu + exp(logvar / 2) * eps`, a decoder of dense ReLU
//! layers back to the inputs, trained with Adam on mini-batches to minimise
//! reconstruction error + `beta` * KL(q(z|x) || N(0, I)). The score of a row is the
//! Euclidean distance between the standardised row and its reconstruction (PyOD's
//! `pairwise_distances_no_broadcast`).
//!
//! Written by hand (forward and backward passes over plain slices, Adam), so no
//! deep-learning framework is needed. The network computes in single precision, as
//! PyTorch's (and so PyOD's) does by default; the code is generic over the precision, and
//! its gradient check runs in double precision.

use linfa::Float;
use ndarray::{Array1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::input::{check_matrix, check_score_input};
use super::{DetectError, Detector};
use crate::cancel::Cancel;

const NAME: &str = "vae";
/// Rows per forward pass when scoring.
const SCORE_CHUNK: usize = 4096;
/// The log-variance is clamped to this range in the forward pass (no gradient outside),
/// so that `exp` cannot overflow.
const LOGVAR_RANGE: (f64, f64) = (-30.0, 20.0);

/// [`LOGVAR_RANGE`] in the network's precision.
fn logvar_range<T: Float>() -> (T, T) {
    (T::cast(LOGVAR_RANGE.0), T::cast(LOGVAR_RANGE.1))
}

/// Activation of the output layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum OutputActivation {
    /// Linear output: reconstructions can take any value, as standardised inputs do.
    #[default]
    Identity,
    /// Logistic output, PyOD's default (reconstructions limited to (0, 1)).
    Sigmoid,
}

/// A dense layer `y = x W + b`, with `W` stored row-major (`inputs × outputs`).
///
/// The layers are a few to a few dozen units wide, so the products are written as plain
/// loops over slices: for matrices this small, a general matrix product's set-up and the
/// arrays allocated per call cost more than the arithmetic. Activations are laid out
/// unit by unit over the rows of a batch (the value of unit `i` for row `r` at
/// `i * rows + r`), so that every loop runs along the rows, in vector lanes whatever
/// the layer's width.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Dense<T> {
    inputs: usize,
    outputs: usize,
    w: Vec<T>,
    b: Vec<T>,
}

impl<T: Float> Dense<T> {
    /// PyTorch's `nn.Linear` initialisation: uniform in `±1/sqrt(fan_in)`.
    fn new(inputs: usize, outputs: usize, rng: &mut Xoshiro256PlusPlus) -> Self {
        let bound = T::one() / T::cast(inputs.max(1)).sqrt();
        let w = (0..inputs * outputs)
            .map(|_| rng.gen_range(-bound..=bound))
            .collect();
        let b = (0..outputs)
            .map(|_| rng.gen_range(-bound..=bound))
            .collect();
        Self {
            inputs,
            outputs,
            w,
            b,
        }
    }

    fn zeros_like(&self) -> Self {
        Self {
            inputs: self.inputs,
            outputs: self.outputs,
            w: vec![T::zero(); self.w.len()],
            b: vec![T::zero(); self.b.len()],
        }
    }

    /// `y = x W + b` for `rows` rows (`x` and `y` unit by unit); `y` is resized. Each
    /// output adds its terms in input order.
    #[inline(always)]
    fn forward(&self, x: &[T], rows: usize, y: &mut Vec<T>) {
        y.clear();
        y.resize(rows * self.outputs, T::zero());
        if rows == 0 {
            return;
        }
        let no = self.outputs;
        for (o, yo) in y.chunks_exact_mut(rows).enumerate() {
            yo.fill(self.b[o]);
            for (xi, wr) in x.chunks_exact(rows).zip(self.w.chunks_exact(no)) {
                let w = wr[o];
                for (y, &v) in yo.iter_mut().zip(xi) {
                    *y += v * w;
                }
            }
        }
    }

    /// Accumulates the gradients of `dy` (gradient of the output, unit by unit over
    /// `rows` rows) into `grad`, and, if asked, writes the gradient of the input `x` into
    /// `dx` (resized).
    #[inline(always)]
    fn backward(
        &self,
        x: &[T],
        dy: &[T],
        rows: usize,
        grad: &mut Dense<T>,
        dx: Option<&mut Vec<T>>,
    ) {
        let (ni, no) = (self.inputs, self.outputs);
        if rows == 0 {
            if let Some(dx) = dx {
                dx.clear();
            }
            return;
        }
        for (g, dyo) in grad.b.iter_mut().zip(dy.chunks_exact(rows)) {
            *g += sum(dyo);
        }
        for (xi, gr) in x.chunks_exact(rows).zip(grad.w.chunks_exact_mut(no)) {
            for (g, dyo) in gr.iter_mut().zip(dy.chunks_exact(rows)) {
                *g += dot(xi, dyo);
            }
        }
        if let Some(dx) = dx {
            dx.clear();
            dx.resize(ni * rows, T::zero());
            for (dxi, wr) in dx.chunks_exact_mut(rows).zip(self.w.chunks_exact(no)) {
                for (dyo, &w) in dy.chunks_exact(rows).zip(wr) {
                    for (g, &d) in dxi.iter_mut().zip(dyo) {
                        *g += d * w;
                    }
                }
            }
        }
    }
}

/// `Σ a[j] b[j]` in eight interleaved partial sums (term `j` in sum `j % 8`), added
/// pairwise: one running sum is a chain of dependent additions, eight fill vector lanes.
#[inline(always)]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    for ((s, &x), &y) in acc.iter_mut().zip(ra).zip(rb) {
        *s += x * y;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// `Σ a[j]`, summed as [`dot`] sums.
#[inline(always)]
fn sum<T: Float>(a: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let ca = a.chunks_exact(8);
    let ra = ca.remainder();
    for x in ca {
        for (s, &x) in acc.iter_mut().zip(x) {
            *s += x;
        }
    }
    for (s, &x) in acc.iter_mut().zip(ra) {
        *s += x;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// Activations and gradients of one forward and backward pass, kept from batch to batch
/// so that training allocates nothing per step.
#[derive(Debug, Clone, Default)]
struct Workspace<T> {
    /// Output of each encoder layer (after the ReLU).
    enc: Vec<Vec<T>>,
    mu: Vec<T>,
    /// Clamped log-variance.
    logvar: Vec<T>,
    /// `exp(logvar / 2)`.
    std: Vec<T>,
    /// The latent code fed to the decoder.
    z: Vec<T>,
    /// Output of each decoder layer (after the ReLU).
    dec: Vec<Vec<T>>,
    /// Reconstruction.
    out: Vec<T>,
    /// Gradient buffers.
    d: Vec<T>,
    d_other: Vec<T>,
    d_mu: Vec<T>,
    d_logvar: Vec<T>,
}

/// All parameters of the network, in a fixed order; also used for gradients and Adam
/// moments.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Net<T> {
    encoder: Vec<Dense<T>>,
    mu: Dense<T>,
    logvar: Dense<T>,
    decoder: Vec<Dense<T>>,
    output: Dense<T>,
}

impl<T: Float> Net<T> {
    fn new(
        inputs: usize,
        encoder: &[usize],
        latent: usize,
        decoder: &[usize],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Self {
        let mut enc = Vec::new();
        let mut last = inputs;
        for &h in encoder {
            enc.push(Dense::new(last, h, rng));
            last = h;
        }
        let mu = Dense::new(last, latent, rng);
        let logvar = Dense::new(last, latent, rng);
        let mut dec = Vec::new();
        let mut last = latent;
        for &h in decoder {
            dec.push(Dense::new(last, h, rng));
            last = h;
        }
        let output = Dense::new(last, inputs, rng);
        Self {
            encoder: enc,
            mu,
            logvar,
            decoder: dec,
            output,
        }
    }

    /// Width of the input rows (and of the reconstruction).
    fn width(&self) -> usize {
        self.output.outputs
    }

    fn layers(&self) -> Vec<&Dense<T>> {
        let mut v: Vec<&Dense<T>> = self.encoder.iter().collect();
        v.push(&self.mu);
        v.push(&self.logvar);
        v.extend(self.decoder.iter());
        v.push(&self.output);
        v
    }

    fn layers_mut(&mut self) -> Vec<&mut Dense<T>> {
        let mut v: Vec<&mut Dense<T>> = self.encoder.iter_mut().collect();
        v.push(&mut self.mu);
        v.push(&mut self.logvar);
        v.extend(self.decoder.iter_mut());
        v.push(&mut self.output);
        v
    }

    fn zeros_like(&self) -> Self {
        Self {
            encoder: self.encoder.iter().map(Dense::zeros_like).collect(),
            mu: self.mu.zeros_like(),
            logvar: self.logvar.zeros_like(),
            decoder: self.decoder.iter().map(Dense::zeros_like).collect(),
            output: self.output.zeros_like(),
        }
    }

    fn fill_zero(&mut self) {
        for l in self.layers_mut() {
            l.w.fill(T::zero());
            l.b.fill(T::zero());
        }
    }

    /// Runs the encoder on the `rows` rows of `x`: every encoder layer's output, `mu` and
    /// the clamped `logvar` land in `ws`.
    #[inline(always)]
    fn encode(&self, x: &[T], rows: usize, ws: &mut Workspace<T>) {
        ws.enc.resize_with(self.encoder.len(), Vec::new);
        for (i, layer) in self.encoder.iter().enumerate() {
            let (done, rest) = ws.enc.split_at_mut(i);
            let input = done.last().map_or(x, |v| v.as_slice());
            layer.forward(input, rows, &mut rest[0]);
            rest[0].iter_mut().for_each(|v| *v = relu(*v));
        }
        let top = ws.enc.last().map_or(x, |v| v.as_slice());
        self.mu.forward(top, rows, &mut ws.mu);
        self.logvar.forward(top, rows, &mut ws.logvar);
        let (lo, hi) = logvar_range::<T>();
        ws.logvar.iter_mut().for_each(|v| {
            // As `f64::clamp` (a NaN stays NaN).
            if *v < lo {
                *v = lo;
            } else if *v > hi {
                *v = hi;
            }
        });
    }

    /// Runs the decoder on `ws.z`: every decoder layer's output and the reconstruction
    /// land in `ws`.
    #[inline(always)]
    fn decode(&self, rows: usize, out_act: OutputActivation, ws: &mut Workspace<T>) {
        ws.dec.resize_with(self.decoder.len(), Vec::new);
        for (i, layer) in self.decoder.iter().enumerate() {
            let (done, rest) = ws.dec.split_at_mut(i);
            let input = done.last().map_or(ws.z.as_slice(), |v| v.as_slice());
            layer.forward(input, rows, &mut rest[0]);
            rest[0].iter_mut().for_each(|v| *v = relu(*v));
        }
        let last = ws.dec.last().map_or(ws.z.as_slice(), |v| v.as_slice());
        self.output.forward(last, rows, &mut ws.out);
        if out_act == OutputActivation::Sigmoid {
            ws.out.iter_mut().for_each(|v| *v = sigmoid(*v));
        }
    }

    /// Loss of a batch (`x`: `inputs` units by `rows` rows, unit by unit, as the
    /// activations) for the given noise `eps` (`latent` units by `rows`), and its
    /// gradient written into `grad` (overwritten).
    ///
    /// Loss = mean over rows of [ sum over features of (x̂ - x)² ] + beta × mean over rows
    /// of [ -½ Σ (1 + logvar - mu² - exp(logvar)) ].
    #[inline(always)]
    fn loss_and_grad(
        &self,
        x: &[T],
        eps: &[T],
        beta: f64,
        out_act: OutputActivation,
        grad: &mut Net<T>,
        ws: &mut Workspace<T>,
    ) -> f64 {
        let rows = x.len() / self.width().max(1);
        let n = T::cast(rows);
        let (one, two, half, beta) = (T::one(), T::cast(2), T::cast(0.5), T::cast(beta));
        self.encode(x, rows, ws);
        ws.std.clear();
        ws.std.extend(ws.logvar.iter().map(|&v| (half * v).exp()));
        ws.z.clear();
        ws.z.extend(
            ws.mu
                .iter()
                .zip(&ws.std)
                .zip(eps)
                .map(|((&m, &s), &e)| m + s * e),
        );
        self.decode(rows, out_act, ws);

        // `d` holds the reconstruction error first, then becomes its gradient.
        ws.d.clear();
        ws.d.extend(ws.out.iter().zip(x).map(|(&y, &t)| y - t));
        let recon_loss = ws.d.iter().fold(T::zero(), |acc, &d| acc + d * d) / n;
        // exp(logvar) is std², here and in the gradient below.
        let kl = ws
            .mu
            .iter()
            .zip(&ws.logvar)
            .zip(&ws.std)
            .fold(T::zero(), |acc, ((&m, &lv), &s)| {
                acc - half * (one + lv - m * m - s * s)
            })
            / n;
        let loss = recon_loss + beta * kl;

        grad.fill_zero();
        // Output layer.
        ws.d.iter_mut().for_each(|g| *g = two * *g / n);
        if out_act == OutputActivation::Sigmoid {
            for (g, &y) in ws.d.iter_mut().zip(&ws.out) {
                *g *= y * (one - y);
            }
        }
        // Decoder, last layer first; the input of layer `i` is `dec[i - 1]` (`z` for 0).
        for i in (0..=self.decoder.len()).rev() {
            let (layer, g) = if i == self.decoder.len() {
                (&self.output, &mut grad.output)
            } else {
                relu_backward(&mut ws.d, &ws.dec[i]);
                (&self.decoder[i], &mut grad.decoder[i])
            };
            let input = if i == 0 { &ws.z } else { &ws.dec[i - 1] };
            layer.backward(input, &ws.d, rows, g, Some(&mut ws.d_other));
            std::mem::swap(&mut ws.d, &mut ws.d_other);
        }
        // `d` is now dL/dz. Through the reparameterisation and the KL term.
        ws.d_mu.clear();
        ws.d_mu
            .extend(ws.d.iter().zip(&ws.mu).map(|(&g, &m)| g + beta * m / n));
        ws.d_logvar.clear();
        let (lo, hi) = logvar_range::<T>();
        ws.d_logvar
            .extend(ws.d.iter().zip(eps).zip(&ws.std).zip(&ws.logvar).map(
                |(((&g, &e), &s), &lv)| {
                    if lv <= lo || lv >= hi {
                        T::zero()
                    } else {
                        g * e * s * half + beta * half * (s * s - one) / n
                    }
                },
            ));
        let top = ws.enc.last().map_or(x, |v| v.as_slice());
        self.mu
            .backward(top, &ws.d_mu, rows, &mut grad.mu, Some(&mut ws.d));
        self.logvar.backward(
            top,
            &ws.d_logvar,
            rows,
            &mut grad.logvar,
            Some(&mut ws.d_other),
        );
        for (a, &b) in ws.d.iter_mut().zip(&ws.d_other) {
            *a += b;
        }
        for i in (0..self.encoder.len()).rev() {
            relu_backward(&mut ws.d, &ws.enc[i]);
            let input = if i == 0 { x } else { &ws.enc[i - 1] };
            // The gradient of the input rows is not needed.
            let dx = (i > 0).then_some(&mut ws.d_other);
            self.encoder[i].backward(input, &ws.d, rows, &mut grad.encoder[i], dx);
            std::mem::swap(&mut ws.d, &mut ws.d_other);
        }
        loss.to_f64().unwrap_or(f64::NAN)
    }

    /// Deterministic reconstruction (`z = mu`) and the distance to it, per row of `x`
    /// (row-major); each row's squares are added in feature order.
    fn reconstruction_distance(&self, x: &[T], out_act: OutputActivation) -> Vec<f64> {
        let inputs = self.width().max(1);
        let rows = x.len() / inputs;
        let units = crate::neighbors::by_coordinate(x, inputs);
        let mut ws = Workspace::default();
        self.encode(&units, rows, &mut ws);
        ws.z = std::mem::take(&mut ws.mu);
        self.decode(rows, out_act, &mut ws);
        // In double precision: a square of a single-precision difference overflows early.
        let wide = |v: T| v.to_f64().unwrap_or(f64::NAN);
        let mut dist = vec![0.0f64; rows];
        if rows > 0 {
            for (y, t) in ws.out.chunks_exact(rows).zip(units.chunks_exact(rows)) {
                for ((s, &a), &b) in dist.iter_mut().zip(y).zip(t) {
                    let e = wide(a) - wide(b);
                    *s += e * e;
                }
            }
        }
        dist.iter_mut().for_each(|s| *s = s.sqrt());
        dist
    }
}

/// `v` in single precision, held within its finite range.
fn single(v: f64) -> f32 {
    v.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32
}

/// Two independent standard normal draws (Box–Muller: the cosine and the sine of one
/// angle).
fn gaussian_pair(rng: &mut impl Rng) -> (f64, f64) {
    // `gen` is in [0, 1); 1 - u is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.gen::<f64>();
    let u2: f64 = rng.gen::<f64>();
    let r = (-2.0 * u1.ln()).sqrt();
    let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
    (r * cos, r * sin)
}

#[inline(always)]
fn relu<T: Float>(v: T) -> T {
    v.max(T::zero())
}

#[inline(always)]
fn sigmoid<T: Float>(v: T) -> T {
    T::one() / (T::one() + (-v).exp())
}

/// Zeroes the gradient where the ReLU output was zero.
#[inline(always)]
fn relu_backward<T: Float>(d: &mut [T], out: &[T]) {
    for (g, &y) in d.iter_mut().zip(out) {
        if y <= T::zero() {
            *g = T::zero();
        }
    }
}

/// Adam (Kingma, Ba 2014) with PyTorch's L2 `weight_decay` (added to the gradient).
#[derive(Debug, Clone)]
struct Adam<T> {
    lr: T,
    beta1: T,
    beta2: T,
    eps: T,
    weight_decay: T,
    t: i32,
    m: Net<T>,
    v: Net<T>,
}

impl<T: Float> Adam<T> {
    fn new(net: &Net<T>, lr: f64, weight_decay: f64) -> Self {
        Self {
            lr: T::cast(lr),
            beta1: T::cast(0.9),
            beta2: T::cast(0.999),
            eps: T::cast(1e-8),
            weight_decay: T::cast(weight_decay),
            t: 0,
            m: net.zeros_like(),
            v: net.zeros_like(),
        }
    }

    #[inline(always)]
    fn step(&mut self, net: &mut Net<T>, grad: &Net<T>) {
        self.t += 1;
        let one = T::one();
        let c1 = one - self.beta1.powi(self.t);
        let c2 = one - self.beta2.powi(self.t);
        let (b1, b2, lr, eps, wd) = (self.beta1, self.beta2, self.lr, self.eps, self.weight_decay);
        let update = |p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                let g = g + wd * *p;
                *m = b1 * *m + (one - b1) * g;
                *v = b2 * *v + (one - b2) * g * g;
                *p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
            }
        };
        let params = net.layers_mut();
        let grads = grad.layers();
        let ms = self.m.layers_mut();
        let vs = self.v.layers_mut();
        for (((p, g), m), v) in params.into_iter().zip(grads).zip(ms).zip(vs) {
            update(&mut p.w, &g.w, &mut m.w, &mut v.w);
            update(&mut p.b, &g.b, &mut m.b, &mut v.b);
        }
    }
}

/// One training step on a batch (see [`Net::loss_and_grad`]): the gradient, then Adam's
/// update of `net` unless the loss is not finite; returns the loss.
#[inline(always)]
fn train_step_in(
    net: &mut Net<f32>,
    adam: &mut Adam<f32>,
    x: &[f32],
    eps: &[f32],
    (beta, out_act): (f64, OutputActivation),
    grad: &mut Net<f32>,
    ws: &mut Workspace<f32>,
) -> f64 {
    let loss = net.loss_and_grad(x, eps, beta, out_act, grad, ws);
    if loss.is_finite() {
        adam.step(net, grad);
    }
    loss
}

wide_fn! {
    /// [`train_step_in`], for AVX2 where the processor has it: the layers' loops run
    /// along a batch's rows, eight to a vector instead of four. The same operations in
    /// the same order, so the same weights either way.
    fn train_step(
        net: &mut Net<f32>,
        adam: &mut Adam<f32>,
        x: &[f32],
        eps: &[f32],
        settings: (f64, OutputActivation),
        grad: &mut Net<f32>,
        ws: &mut Workspace<f32>,
    ) -> f64 => train_step_in
}

/// VAE detector. Defaults follow the seed notebook's network (encoder 16-8-4, latent 2,
/// decoder 4-8-16, ReLU) and PyOD's training settings (Adam, learning rate 1e-3, weight
/// decay 1e-5, 30 epochs, batches of 32, standardised inputs, beta 1).
///
/// Differences from PyOD, on purpose: no dropout; the output layer is linear by default
/// (PyOD's sigmoid cannot reproduce standardised values below 0;
/// [`OutputActivation::Sigmoid`] is available); the KL term is not clamped by PyOD's
/// `capacity` (with PyOD's default `capacity=0` its KL term is always 0); the
/// reconstruction error is summed over features (Kingma and Welling's Gaussian
/// log-likelihood up to constants, as PyOD's Keras version); scoring uses `z = mu`, so
/// scores are deterministic; and each epoch visits at most `epoch_rows` rows drawn afresh,
/// so that training time stays bounded on millions of rows (with fewer rows than that, an
/// epoch is a full pass as in PyOD).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Vae {
    /// Hidden layer widths of the encoder.
    pub encoder: Vec<usize>,
    /// Dimension of the latent code.
    pub latent_dim: usize,
    /// Hidden layer widths of the decoder.
    pub decoder: Vec<usize>,
    /// Output layer activation.
    pub output_activation: OutputActivation,
    /// Training epochs.
    pub epochs: usize,
    /// Rows per gradient step.
    pub batch_size: usize,
    /// Most rows visited per epoch.
    pub epoch_rows: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// L2 weight decay added to the gradients.
    pub weight_decay: f64,
    /// Weight of the KL term.
    pub beta: f64,
    /// Seed of the initial weights, the shuffling and the latent noise.
    pub seed: u64,
    model: Option<Fitted>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Fitted {
    net: Net<f32>,
    mean: Array1<f64>,
    scale: Array1<f64>,
}

impl Default for Vae {
    fn default() -> Self {
        Self::new(42)
    }
}

impl Vae {
    /// A detector with the default network and training settings and the given seed.
    pub fn new(seed: u64) -> Self {
        Self {
            encoder: vec![16, 8, 4],
            latent_dim: 2,
            decoder: vec![4, 8, 16],
            output_activation: OutputActivation::Identity,
            epochs: 30,
            batch_size: 32,
            epoch_rows: 32_768,
            learning_rate: 1e-3,
            weight_decay: 1e-5,
            beta: 1.0,
            seed,
            model: None,
        }
    }

    fn input_error(reason: impl Into<String>) -> DetectError {
        DetectError::Input {
            detector: NAME,
            reason: reason.into(),
        }
    }

    /// Standardises `x` with the fitted mean and scale, row-major, in single precision
    /// (the network's, as PyTorch's default; values beyond its range are held at its
    /// largest, so that they stay finite).
    fn standardise(x: ArrayView2<f64>, mean: &Array1<f64>, scale: &Array1<f64>) -> Vec<f32> {
        x.rows()
            .into_iter()
            .flat_map(|r| {
                r.into_iter()
                    .zip(mean)
                    .zip(scale)
                    .map(|((v, m), s)| single((v - m) / s))
            })
            .collect()
    }

    fn score_standardised(
        fitted: &Fitted,
        z: &[f32],
        out_act: OutputActivation,
        cancel: &Cancel,
    ) -> Result<Vec<f64>, DetectError> {
        let cols = fitted.mean.len().max(1);
        let parts = z
            .par_chunks(SCORE_CHUNK * cols)
            .map(|c| {
                cancel.check()?;
                Ok(fitted.net.reconstruction_distance(c, out_act))
            })
            .collect::<Result<Vec<Vec<f64>>, DetectError>>()?;
        let scores: Vec<f64> = parts.into_iter().flatten().collect();
        if scores.iter().any(|v| !v.is_finite()) {
            return Err(Self::input_error(
                "non-finite reconstruction (training diverged, or values beyond single \
                 precision); try a lower learning rate or scaled features",
            ));
        }
        Ok(scores)
    }
}

impl Detector for Vae {
    fn name(&self) -> &'static str {
        NAME
    }

    fn save(&self) -> super::Saved {
        super::Saved::Vae(Box::new(self.clone()))
    }

    fn fit(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        self.fit_model(x, cancel)?;
        self.score(x, cancel)
    }

    fn fit_model(&mut self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<bool, DetectError> {
        check_matrix(NAME, &x, 1)?;
        if self.latent_dim == 0 || self.encoder.contains(&0) || self.decoder.contains(&0) {
            return Err(Self::input_error("layer widths must be at least 1"));
        }
        if self.batch_size == 0 || self.epoch_rows == 0 {
            return Err(Self::input_error(
                "batch_size and epoch_rows must be at least 1",
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return Err(Self::input_error("learning_rate must be positive"));
        }
        let n = x.nrows();
        // StandardScaler: population standard deviation, 1 for constant columns.
        let mean = x
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(x.ncols()));
        let scale = x
            .std_axis(Axis(0), 0.0)
            .mapv(|s| if s > 0.0 { s } else { 1.0 });
        let z = Self::standardise(x, &mean, &scale);

        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let mut net = Net::new(
            x.ncols(),
            &self.encoder,
            self.latent_dim,
            &self.decoder,
            &mut rng,
        );
        let mut adam = Adam::new(&net, self.learning_rate, self.weight_decay);
        let mut grad = net.zeros_like();
        let mut ws = Workspace::default();
        let (mut xb, mut eps) = (Vec::new(), Vec::new());
        let d = x.ncols();
        let mut order: Vec<usize> = (0..n).collect();
        let per_epoch = self.epoch_rows.min(n);
        for _ in 0..self.epochs {
            cancel.check()?;
            order.shuffle(&mut rng);
            for batch in order[..per_epoch].chunks(self.batch_size) {
                // The batch and its noise unit by unit (the noise drawn row by row).
                let rows = batch.len();
                xb.clear();
                for f in 0..d {
                    xb.extend(batch.iter().map(|&i| z[i * d + f]));
                }
                eps.clear();
                eps.resize(rows * self.latent_dim, 0.0);
                let mut draws =
                    std::iter::from_fn(|| Some(gaussian_pair(&mut rng))).flat_map(|(a, b)| [a, b]);
                for r in 0..rows {
                    for l in 0..self.latent_dim {
                        eps[l * rows + r] = draws.next().unwrap_or(0.0) as f32;
                    }
                }
                let loss = train_step(
                    &mut net,
                    &mut adam,
                    &xb,
                    &eps,
                    (self.beta, self.output_activation),
                    &mut grad,
                    &mut ws,
                );
                if !loss.is_finite() {
                    return Err(Self::input_error(
                        "training diverged (non-finite loss); try a lower learning rate",
                    ));
                }
            }
        }
        let fitted = Fitted { net, mean, scale };
        drop(z);
        self.model = Some(fitted);
        Ok(true)
    }

    fn score(&self, x: ArrayView2<f64>, cancel: &Cancel) -> Result<Vec<f64>, DetectError> {
        let cols = self.model.as_ref().map(|m| m.mean.len());
        check_score_input(NAME, cols, &x)?;
        let Some(fitted) = &self.model else {
            return Err(DetectError::State {
                detector: NAME,
                reason: "score called before fit".into(),
            });
        };
        let z = Self::standardise(x, &fitted.mean, &fitted.scale);
        Self::score_standardised(fitted, &z, self.output_activation, cancel)
    }
}

impl Vae {
    /// A saved detector, checked (see [`super::Saved::restore`]): every layer's weights
    /// of its shape, each layer's inputs the previous one's outputs, from `columns`
    /// features back to `columns`.
    pub(crate) fn restore(self, columns: usize) -> Result<Self, String> {
        use super::ensure;
        let m = self.model.as_ref().ok_or("not fitted")?;
        ensure(columns > 0, "no columns")?;
        ensure(
            m.mean.len() == columns && m.scale.len() == columns,
            "centre",
        )?;
        let net = &m.net;
        let whole = |l: &Dense<f32>| l.w.len() == l.inputs * l.outputs && l.b.len() == l.outputs;
        ensure(net.layers().into_iter().all(whole), "layer weights")?;
        // The width a stack of layers gives, each taking the previous one's outputs.
        let chain = |layers: &[Dense<f32>], width: usize, what: &str| {
            layers.iter().try_fold(width, |w, l| {
                ensure(l.inputs == w, what)?;
                Ok::<usize, String>(l.outputs)
            })
        };
        let width = chain(&net.encoder, columns, "encoder widths")?;
        ensure(
            net.mu.inputs == width && net.logvar.inputs == width,
            "latent inputs",
        )?;
        ensure(net.mu.outputs == net.logvar.outputs, "latent widths")?;
        let width = chain(&net.decoder, net.mu.outputs, "decoder widths")?;
        ensure(
            net.output.inputs == width && net.output.outputs == columns,
            "output",
        )?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A standard normal draw.
    fn gaussian(rng: &mut impl Rng) -> f64 {
        gaussian_pair(rng).0
    }

    fn flat_params<T: Float>(net: &Net<T>) -> Vec<T> {
        net.layers()
            .iter()
            .flat_map(|l| l.w.iter().chain(l.b.iter()).copied().collect::<Vec<_>>())
            .collect()
    }

    fn set_param(net: &mut Net<f64>, mut k: usize, value: f64) {
        for l in net.layers_mut() {
            if k < l.w.len() {
                if let Some(p) = l.w.get_mut(k) {
                    *p = value;
                }
                return;
            }
            k -= l.w.len();
            if k < l.b.len() {
                l.b[k] = value;
                return;
            }
            k -= l.b.len();
        }
    }

    fn gradient_check(out_act: OutputActivation, beta: f64) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
        let net = Net::new(3, &[5, 4], 2, &[4, 5], &mut rng);
        let x = Array2::from_shape_fn((11, 3), |_| rng.gen_range(-1.5..1.5));
        let eps = Array2::from_shape_fn((11, 2), |_| gaussian(&mut rng));
        // Unit by unit, as the network takes them.
        let (x, eps) = (
            x.t().as_standard_layout().to_owned(),
            eps.t().as_standard_layout().to_owned(),
        );
        let (x, eps) = (x.as_slice().unwrap(), eps.as_slice().unwrap());
        let mut ws = Workspace::default();
        let mut grad = net.zeros_like();
        net.loss_and_grad(x, eps, beta, out_act, &mut grad, &mut ws);
        let analytic = flat_params(&grad);
        assert!(analytic.iter().filter(|g| g.abs() > 1e-3).count() > analytic.len() / 2);
        let params = flat_params(&net);
        let mut scratch = net.zeros_like();
        let h = 1e-5;
        let mut worst: f64 = 0.0;
        for k in 0..params.len() {
            let mut plus = net.clone();
            set_param(&mut plus, k, params[k] + h);
            let mut minus = net.clone();
            set_param(&mut minus, k, params[k] - h);
            let lp = plus.loss_and_grad(x, eps, beta, out_act, &mut scratch, &mut ws);
            let lm = minus.loss_and_grad(x, eps, beta, out_act, &mut scratch, &mut ws);
            let numeric = (lp - lm) / (2.0 * h);
            let a = analytic[k];
            // Relative error; gradients below 1e-3 are compared on that scale, where
            // finite differences are limited by rounding.
            let rel = (a - numeric).abs() / (a.abs() + numeric.abs()).max(1e-3);
            worst = worst.max(rel);
        }
        eprintln!("vae gradient check ({out_act:?}, beta {beta}): worst relative error {worst:e}");
        assert!(worst < 1e-5, "worst relative error {worst:e}");
    }

    #[test]
    fn training_steps_give_the_same_weights_with_and_without_avx2() {
        // `train_step` takes the AVX2 copy where the processor has it; `train_step_in` is
        // the baseline body.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(4);
        let net = Net::<f32>::new(5, &[16, 8, 4], 2, &[4, 8, 16], &mut rng);
        let mut wide = (net.clone(), Adam::new(&net, 1e-3, 1e-5));
        let mut base = (net.clone(), Adam::new(&net, 1e-3, 1e-5));
        let (mut grad, mut ws) = (net.zeros_like(), Workspace::default());
        for rows in [32, 32, 7, 32] {
            let x: Vec<f32> = (0..rows * 5).map(|_| gaussian(&mut rng) as f32).collect();
            let eps: Vec<f32> = (0..rows * 2).map(|_| gaussian(&mut rng) as f32).collect();
            let settings = (1.0, OutputActivation::Identity);
            let a = train_step(
                &mut wide.0,
                &mut wide.1,
                &x,
                &eps,
                settings,
                &mut grad,
                &mut ws,
            );
            let b = train_step_in(
                &mut base.0,
                &mut base.1,
                &x,
                &eps,
                settings,
                &mut grad,
                &mut ws,
            );
            assert_eq!(a.to_bits(), b.to_bits());
        }
        assert_eq!(flat_params(&wide.0), flat_params(&base.0));
    }

    #[test]
    fn gradients_match_finite_differences() {
        gradient_check(OutputActivation::Identity, 1.0);
        gradient_check(OutputActivation::Sigmoid, 1.0);
        gradient_check(OutputActivation::Identity, 0.0);
    }

    fn cloud_with_far_point() -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
        let mut x = Array2::from_shape_fn((600, 4), |_| gaussian(&mut rng));
        // Correlated columns, as traffic counters are.
        for mut r in x.rows_mut() {
            r[1] = 0.8 * r[0] + 0.2 * r[1];
            r[3] = 0.5 * r[2] + 0.5 * r[3];
        }
        x.row_mut(250)
            .assign(&ndarray::arr1(&[9.0, -9.0, 9.0, -9.0]));
        x
    }

    #[test]
    fn far_point_scores_highest() {
        let x = cloud_with_far_point();
        let mut vae = Vae::new(1);
        vae.epochs = 20;
        let s = vae.fit(x.view(), &Cancel::new()).unwrap();
        let top = (0..s.len()).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(top, 250);
        let q = ndarray::arr2(&[[0.0, 0.0, 0.0, 0.0], [12.0, -12.0, 12.0, -12.0]]);
        let t = vae.score(q.view(), &Cancel::new()).unwrap();
        assert!(t[1] > t[0]);
    }

    #[test]
    fn closed_form_reconstruction() {
        // A network whose every weight is zero outputs its output bias: the score is the
        // distance from the standardised row to that bias.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
        // The precision the detector runs in.
        let mut net = Net::<f32>::new(2, &[3], 1, &[3], &mut rng);
        for l in net.layers_mut() {
            l.w.fill(0.0);
            l.b.fill(0.0);
        }
        net.output.b.copy_from_slice(&[1.0, -2.0]);
        let x = [1.0, -2.0, 4.0, 2.0];
        let d = net.reconstruction_distance(&x, OutputActivation::Identity);
        assert!(d[0].abs() < 1e-12 && (d[1] - 5.0).abs() < 1e-12);
        // With zero mu and logvar the KL term is 0 and the loss is the squared error.
        let mut grad = net.zeros_like();
        let mut ws = Workspace::default();
        let loss = net.loss_and_grad(
            &crate::neighbors::by_coordinate(&x, 2),
            &[0.0, 0.0],
            1.0,
            OutputActivation::Identity,
            &mut grad,
            &mut ws,
        );
        assert!((loss - 25.0 / 2.0).abs() < 1e-12);
    }

    #[test]
    fn deterministic_and_checked() {
        let x = cloud_with_far_point();
        let c = Cancel::new();
        let mut a = Vae::new(5);
        a.epochs = 3;
        let mut b = a.clone();
        assert_eq!(a.fit(x.view(), &c).unwrap(), b.fit(x.view(), &c).unwrap());
        assert!(a.score(Array2::zeros((2, 3)).view(), &c).is_err());
        assert!(Vae::default().score(x.view(), &c).is_err());
        assert!(a.fit(Array2::zeros((0, 4)).view(), &c).is_err());
        let mut bad = x.clone();
        bad[[1, 1]] = f64::NAN;
        assert!(a.fit(bad.view(), &c).is_err());
        // Constant columns and identical rows train without NaN.
        let s = a.fit(Array2::from_elem((100, 3), 7.0).view(), &c).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
    }
}
