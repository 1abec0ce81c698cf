//! The captioning model: a ConvNet image encoder whose projected features are the first
//! position of a small GPT-style causal transformer decoder.

use burn::config::Config;
use burn::module::Module;
use burn::nn::attention::generate_autoregressive_mask;
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::error::{Result, ensure};
use crate::models::{Classifier, ConvNet, ConvNetConfig};

/// Configuration of a [`Captioner`]: the image encoder (a [`ConvNet`] whose classifier head is
/// unused), the vocabulary size and sequence length of the
/// [`CaptionTokenizer`](super::CaptionTokenizer), and the decoder's width, heads and layers
/// (GPT-2's pre-norm blocks: masked self-attention, layer norm, GELU MLP of `4 * d_model`).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::CaptionerConfig;
/// let cfg = CaptionerConfig::new(ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1), 20, 5)
///     .with_d_model(16).with_heads(2).with_layers(1);
/// assert!(cfg.check().is_ok());
/// assert!(cfg.clone().with_heads(3).check().is_err()); // 16 is not a multiple of 3
/// ```
#[derive(Config, Debug)]
pub struct CaptionerConfig {
    /// The image encoder.
    pub encoder: ConvNetConfig,
    /// Number of token ids (the tokenizer's `vocab_size`, end token included).
    pub vocab_size: usize,
    /// Positions of the decoder: the image prefix and the `seq_len - 1` caption tokens fed in.
    pub seq_len: usize,
    /// Width of the decoder.
    #[config(default = 64)]
    pub d_model: usize,
    /// Attention heads per layer.
    #[config(default = 4)]
    pub heads: usize,
    /// Decoder layers.
    #[config(default = 2)]
    pub layers: usize,
    /// Dropout inside the decoder while training.
    #[config(default = 0.0)]
    pub dropout: f64,
}

impl CaptionerConfig {
    /// Checks every field.
    pub fn check(&self) -> Result<()> {
        const M: &str = "CaptionerConfig";
        self.encoder.check()?;
        ensure(self.vocab_size > 1, M, "vocab_size", || {
            "must be at least 2 (padding and the end token)".into()
        })?;
        ensure(self.seq_len > 1, M, "seq_len", || {
            "must be at least 2 (the image and one token)".into()
        })?;
        ensure(self.heads > 0 && self.layers > 0, M, "heads/layers", || {
            "must be at least 1".into()
        })?;
        ensure(
            self.d_model > 0 && self.d_model.is_multiple_of(self.heads),
            M,
            "d_model",
            || {
                format!(
                    "{} must be a positive multiple of heads ({})",
                    self.d_model, self.heads
                )
            },
        )?;
        ensure((0.0..1.0).contains(&self.dropout), M, "dropout", || {
            format!("must be in [0, 1), got {}", self.dropout)
        })
    }

    /// Builds the model with Burn's default initialisation.
    ///
    /// # Errors
    /// When [`CaptionerConfig::check`] fails.
    pub fn init(&self, device: &Device) -> Result<Captioner> {
        self.check()?;
        let encoder = self.encoder.try_init(device)?;
        let d = self.d_model;
        Ok(Captioner {
            project: LinearConfig::new(encoder.feature_dim(), d).init(device),
            encoder,
            tokens: EmbeddingConfig::new(self.vocab_size, d).init(device),
            positions: EmbeddingConfig::new(self.seq_len, d).init(device),
            decoder: TransformerEncoderConfig::new(d, 4 * d, self.heads, self.layers)
                .with_norm_first(true)
                .with_dropout(self.dropout)
                .init(device),
            norm: LayerNormConfig::new(d).init(device),
            head: LinearConfig::new(d, self.vocab_size).init(device),
            seq_len: self.seq_len,
        })
    }
}

/// An image captioner (build it with [`CaptionerConfig`]): position 0 of the decoder holds the
/// image's projected ConvNet features, positions `1..` the caption's tokens, and the output at
/// position `t` predicts token `t` of the caption (the image plays GPT's start token).
///
/// As a [`Classifier`] its input is `(images [n, C, H, W], tokens [n, seq_len])` (token ids
/// stored as floats, as a [`CaptionSet`](super::CaptionSet) batches them); `forward` feeds
/// the first `seq_len - 1` tokens and returns next-token logits `[n * seq_len, vocab]`, row
/// `i * seq_len + t` predicting token `t` of caption `i`. `features` is the image prefix.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// use dd_prelude::caption::CaptionerConfig;
/// use burn::tensor::Tensor;
/// let dev = device();
/// let net = CaptionerConfig::new(ConvNetConfig::new(1, 3, [8, 8]).with_width(4).with_depth(1), 20, 5)
///     .with_d_model(16).with_heads(2).with_layers(1).init(&dev)?;
/// let (x, tokens) = (Tensor::<4>::zeros([2, 3, 8, 8], &dev), Tensor::<2>::ones([2, 5], &dev));
/// assert_eq!(net.forward((x.clone(), tokens)).dims(), [10, 20]);
/// assert_eq!(net.features((x, Tensor::ones([2, 5], &dev))).dims(), [2, 16]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Module, Debug)]
pub struct Captioner {
    encoder: ConvNet,
    project: Linear,
    tokens: Embedding,
    positions: Embedding,
    decoder: TransformerEncoder,
    norm: LayerNorm,
    head: Linear,
    #[module(skip)]
    seq_len: usize,
}

/// The causal mask of `len` positions for a batch of `n`: `true` (masked) where the key comes
/// after the query, so no position attends to a later one.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let m = dd_prelude::caption::causal_mask(1, 3, &device());
/// let v = m.into_data().to_vec::<bool>().unwrap();
/// assert_eq!(v, [false, true, true, false, false, true, false, false, false]);
/// ```
pub fn causal_mask(n: usize, len: usize, device: &Device) -> Tensor<3, Bool> {
    generate_autoregressive_mask(n, len, device)
}

impl Captioner {
    /// Positions of the decoder (the image prefix and `seq_len - 1` tokens).
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// The image prefix `[n, d_model]`: projected ConvNet features.
    pub fn prefix(&self, images: Tensor<4>) -> Tensor<2> {
        self.project.forward(self.encoder.features(images))
    }

    /// Next-token logits `[n, t + 1, vocab]` after the image `prefix` `[n, d_model]` and the
    /// token ids `tokens` `[n, t]` (`t < seq_len`; `t = 0` gives the first word's logits).
    pub fn decode(&self, prefix: Tensor<2>, tokens: Option<Tensor<2, Int>>) -> Tensor<3> {
        let [n, d] = prefix.dims();
        let mut x = prefix.reshape([n, 1, d]);
        if let Some(ids) = tokens {
            x = Tensor::cat(vec![x, self.tokens.forward(ids)], 1);
        }
        let len = x.dims()[1];
        let device = x.device();
        let positions =
            Tensor::<1, Int>::from_data(TensorData::new((0..len as i64).collect(), [len]), &device)
                .reshape([1, len])
                .expand([n, len]);
        let x = x + self.positions.forward(positions);
        let mask = causal_mask(n, len, &device);
        let h = self
            .decoder
            .forward(TransformerEncoderInput::new(x).mask_attn(mask));
        self.head.forward(self.norm.forward(h))
    }
}

impl Classifier for Captioner {
    type Input = (Tensor<4>, Tensor<2>);

    fn forward(&self, (images, tokens): (Tensor<4>, Tensor<2>)) -> Tensor<2> {
        let [n, len] = tokens.dims();
        let fed = (len > 1).then(|| tokens.slice([0..n, 0..len - 1]).int());
        let logits = self.decode(self.prefix(images), fed);
        let vocab = logits.dims()[2];
        logits.reshape([n * len, vocab])
    }

    fn features(&self, (images, _): (Tensor<4>, Tensor<2>)) -> Tensor<2> {
        self.prefix(images)
    }
}
