use std::fmt;
use std::str::FromStr;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{
    AlexNet, AlexNetConfig, Classifier, ConvNet, ConvNetConfig, LeNet, LeNetConfig, Mlp, MlpConfig,
    NormKind, PoolKind, ResNet, ResNetConfig, Vgg, VggConfig,
};
use crate::data::{Examples, image_shape};
use crate::error::{Error, Result};

/// An architecture by name, sized for a data set at build time: what the cross-architecture
/// evaluation and the selectors that train their own network take.
///
/// Names follow DatasetCondensation's `get_network` (case-insensitive): `ConvNet` with
/// modifiers `W<width>`, `D<depth>`, a norm `BN`/`IN`/`GN`/`NN` and a pooling `AP`/`MP`/`NP`
/// (`ConvNetW64`, `ConvNetD2`, `ConvNetBN`); `MLP`; `LeNet`; `AlexNet`; `VGG11` (instance norm, as
/// the reference) and `VGG11BN`; `ResNet18` (batch norm, the torchvision/seed 000 network) and
/// `ResNet18IN` (the reference's instance-norm `ResNet18`); VGG and ResNet also take `W<width>`
/// (`ResNet18W16`: a narrow ResNet-18 for a CPU).
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let a: Arch = "convnetw64bn".parse()?;
/// assert_eq!(a, Arch::ConvNet { width: 64, depth: 3, norm: NormKind::Batch, pool: PoolKind::Avg });
/// assert_eq!(a.to_string(), "ConvNetW64BN");
/// let err = "resnet50".parse::<Arch>().unwrap_err().to_string();
/// assert!(err.contains("ResNet18") && err.contains("LeNet"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// The DC ConvNet ([`ConvNetConfig`]).
    ConvNet {
        /// Channels of every convolution (128).
        width: usize,
        /// Number of blocks (3).
        depth: usize,
        /// Normalisation (instance).
        norm: NormKind,
        /// Pooling (average).
        pool: PoolKind,
    },
    /// Two-hidden-layer perceptron ([`MlpConfig`]).
    Mlp,
    /// LeNet-5 ([`LeNetConfig`]).
    LeNet,
    /// The CIFAR AlexNet ([`AlexNetConfig`]).
    AlexNet,
    /// VGG-11 ([`VggConfig`]).
    Vgg11 {
        /// Channels of the first convolution (64).
        width: usize,
        /// Normalisation (instance).
        norm: NormKind,
    },
    /// ResNet-18 with the CIFAR stem ([`ResNetConfig`]).
    ResNet18 {
        /// Channels of the stem and first stage (64).
        width: usize,
        /// Normalisation (batch).
        norm: NormKind,
    },
}

impl Arch {
    /// The base names [`FromStr`] accepts (each may carry modifiers, see [`Arch`]).
    pub const NAMES: [&'static str; 8] = [
        "ConvNet",
        "MLP",
        "LeNet",
        "AlexNet",
        "VGG11",
        "VGG11BN",
        "ResNet18",
        "ResNet18IN",
    ];

    /// The DC ConvNet: width 128, depth 3, instance norm, average pooling.
    pub fn convnet() -> Self {
        Arch::ConvNet {
            width: 128,
            depth: 3,
            norm: NormKind::Instance,
            pool: PoolKind::Avg,
        }
    }

    /// VGG-11 with instance norm (the reference's `VGG11`).
    pub fn vgg11() -> Self {
        Arch::Vgg11 {
            width: 64,
            norm: NormKind::Instance,
        }
    }

    /// ResNet-18 with batch norm.
    pub fn resnet18() -> Self {
        Arch::ResNet18 {
            width: 64,
            norm: NormKind::Batch,
        }
    }

    /// The reference's cross-architecture pool (`eval_mode='M'`): MLP, ConvNet, LeNet, AlexNet,
    /// VGG11, ResNet18 (here with batch norm).
    pub fn dc_pool() -> Vec<Arch> {
        vec![
            Arch::Mlp,
            Arch::convnet(),
            Arch::LeNet,
            Arch::AlexNet,
            Arch::vgg11(),
            Arch::resnet18(),
        ]
    }

    /// Checks that this architecture can take `data`'s images.
    pub fn check_for<S: Examples<Input = Tensor<4>> + ?Sized>(&self, data: &S) -> Result<()> {
        let [c, h, w] = image_shape(data);
        let k = data.num_classes();
        match *self {
            Arch::ConvNet {
                width,
                depth,
                norm,
                pool,
            } => ConvNetConfig::new(k, c, [h, w])
                .with_width(width)
                .with_depth(depth)
                .with_norm(norm)
                .with_pool(pool)
                .check(),
            Arch::Mlp => MlpConfig::new(k, c, [h, w]).check(),
            Arch::LeNet => LeNetConfig::new(k, c, [h, w]).check(),
            Arch::AlexNet => AlexNetConfig::new(k, c, [h, w]).check(),
            Arch::Vgg11 { width, norm } => VggConfig::new(k, c, [h, w])
                .with_width(width)
                .with_norm(norm)
                .check(),
            Arch::ResNet18 { width, norm } => ResNetConfig::new(k, c, [h, w])
                .with_width(width)
                .with_norm(norm)
                .check(),
        }
    }

    /// A fresh network of this architecture for `data`'s images and classes.
    ///
    /// # Panics
    /// When the images are too small for the architecture ([`Arch::check_for`] says why).
    ///
    /// # Example
    /// ```
    /// use dd_prelude::*;
    /// let set = ImageSet::from_pixels("t", [1, 28, 28], vec![0.0; 784], vec![0], vec!["a".into()])?;
    /// let net = Arch::LeNet.init(&set, &device());
    /// assert!(matches!(net, AnyNet::LeNet(_)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn init<S: Examples<Input = Tensor<4>> + ?Sized>(
        &self,
        data: &S,
        device: &Device,
    ) -> AnyNet {
        let [c, h, w] = image_shape(data);
        let k = data.num_classes();
        match *self {
            Arch::ConvNet {
                width,
                depth,
                norm,
                pool,
            } => AnyNet::ConvNet(
                ConvNetConfig::new(k, c, [h, w])
                    .with_width(width)
                    .with_depth(depth)
                    .with_norm(norm)
                    .with_pool(pool)
                    .init(device),
            ),
            Arch::Mlp => AnyNet::Mlp(MlpConfig::new(k, c, [h, w]).init(device)),
            Arch::LeNet => AnyNet::LeNet(LeNetConfig::new(k, c, [h, w]).init(device)),
            Arch::AlexNet => AnyNet::AlexNet(AlexNetConfig::new(k, c, [h, w]).init(device)),
            Arch::Vgg11 { width, norm } => AnyNet::Vgg(
                VggConfig::new(k, c, [h, w])
                    .with_width(width)
                    .with_norm(norm)
                    .init(device),
            ),
            Arch::ResNet18 { width, norm } => AnyNet::ResNet(
                ResNetConfig::new(k, c, [h, w])
                    .with_width(width)
                    .with_norm(norm)
                    .init(device),
            ),
        }
    }
}

fn norm_code(norm: NormKind) -> &'static str {
    match norm {
        NormKind::Instance => "IN",
        NormKind::Batch => "BN",
        NormKind::Group => "GN",
        NormKind::None => "NN",
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Arch::ConvNet {
                width,
                depth,
                norm,
                pool,
            } => {
                f.write_str("ConvNet")?;
                if width != 128 {
                    write!(f, "W{width}")?;
                }
                if depth != 3 {
                    write!(f, "D{depth}")?;
                }
                if norm != NormKind::Instance {
                    f.write_str(norm_code(norm))?;
                }
                match pool {
                    PoolKind::Avg => Ok(()),
                    PoolKind::Max => f.write_str("MP"),
                    PoolKind::None => f.write_str("NP"),
                }
            }
            Arch::Mlp => f.write_str("MLP"),
            Arch::LeNet => f.write_str("LeNet"),
            Arch::AlexNet => f.write_str("AlexNet"),
            Arch::Vgg11 { width, norm } => {
                f.write_str("VGG11")?;
                if norm != NormKind::Instance {
                    f.write_str(norm_code(norm))?;
                }
                if width != 64 {
                    write!(f, "W{width}")?;
                }
                Ok(())
            }
            Arch::ResNet18 { width, norm } => {
                f.write_str("ResNet18")?;
                if norm != NormKind::Batch {
                    f.write_str(norm_code(norm))?;
                }
                if width != 64 {
                    write!(f, "W{width}")?;
                }
                Ok(())
            }
        }
    }
}

/// Modifiers after a base name: width, depth, norm, pooling.
#[derive(Default)]
struct Modifiers {
    width: Option<usize>,
    depth: Option<usize>,
    norm: Option<NormKind>,
    pool: Option<PoolKind>,
}

fn parse_modifiers(mut rest: &str) -> Option<Modifiers> {
    let mut m = Modifiers::default();
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(1);
        if head == "w" || head == "d" {
            let digits = tail.chars().take_while(|c| c.is_ascii_digit()).count();
            let n: usize = tail[..digits].parse().ok()?;
            if head == "w" {
                m.width = Some(n)
            } else {
                m.depth = Some(n)
            }
            rest = &tail[digits..];
            continue;
        }
        let code = rest.get(..2)?;
        match code {
            "bn" => m.norm = Some(NormKind::Batch),
            "in" => m.norm = Some(NormKind::Instance),
            "gn" => m.norm = Some(NormKind::Group),
            "nn" => m.norm = Some(NormKind::None),
            "ap" => m.pool = Some(PoolKind::Avg),
            "mp" => m.pool = Some(PoolKind::Max),
            "np" => m.pool = Some(PoolKind::None),
            _ => return None,
        }
        rest = &rest[2..];
    }
    Some(m)
}

impl FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase().replace(['-', '_'], "");
        let parsed = if let Some(rest) = name.strip_prefix("convnet") {
            parse_modifiers(rest).map(|m| Arch::ConvNet {
                width: m.width.unwrap_or(128),
                depth: m.depth.unwrap_or(3),
                norm: m.norm.unwrap_or(NormKind::Instance),
                pool: m.pool.unwrap_or(PoolKind::Avg),
            })
        } else if let Some(rest) = name.strip_prefix("vgg11") {
            parse_modifiers(rest)
                .filter(|m| m.depth.is_none() && m.pool.is_none())
                .map(|m| Arch::Vgg11 {
                    width: m.width.unwrap_or(64),
                    norm: m.norm.unwrap_or(NormKind::Instance),
                })
        } else if let Some(rest) = name.strip_prefix("resnet18") {
            parse_modifiers(rest)
                .filter(|m| m.depth.is_none() && m.pool.is_none())
                .map(|m| Arch::ResNet18 {
                    width: m.width.unwrap_or(64),
                    norm: m.norm.unwrap_or(NormKind::Batch),
                })
        } else {
            match name.as_str() {
                "mlp" => Some(Arch::Mlp),
                "lenet" => Some(Arch::LeNet),
                "alexnet" => Some(Arch::AlexNet),
                _ => None,
            }
        };
        parsed.ok_or_else(|| {
            Error::config(
                "Arch",
                "name",
                format!(
                    "`{s}` is not an architecture; valid names: {} (ConvNet takes W<width>, D<depth>, BN/IN/GN/NN, AP/MP/NP, e.g. ConvNetW64BN; VGG11 and ResNet18 take W<width>, e.g. ResNet18W16)",
                    Arch::NAMES.join(", ")
                ),
            )
        })
    }
}

/// Any of the crate's networks, as one type: what [`Arch::init`] returns, so a cell can pick an
/// architecture at run time and still train, evaluate and select with it.
///
/// # Example
/// ```
/// use dd_prelude::*;
/// let dev = device();
/// let set = ImageSet::from_pixels("t", [1, 28, 28], vec![0.0; 2 * 784], vec![0, 1], vec!["a".into(), "b".into()])?;
/// let net: AnyNet = "MLP".parse::<Arch>()?.init(&set, &dev);
/// let (x, _) = set.batch(&[0, 1], &dev);
/// assert_eq!(net.forward(x).dims(), [2, 2]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Module, Debug)]
pub enum AnyNet {
    /// A [`ConvNet`].
    ConvNet(ConvNet),
    /// An [`Mlp`].
    Mlp(Mlp),
    /// A [`LeNet`].
    LeNet(LeNet),
    /// An [`AlexNet`].
    AlexNet(AlexNet),
    /// A [`Vgg`].
    Vgg(Vgg),
    /// A [`ResNet`].
    ResNet(ResNet),
}

impl Classifier for AnyNet {
    type Input = Tensor<4>;

    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            AnyNet::ConvNet(m) => m.forward(images),
            AnyNet::Mlp(m) => m.forward(images),
            AnyNet::LeNet(m) => m.forward(images),
            AnyNet::AlexNet(m) => m.forward(images),
            AnyNet::Vgg(m) => m.forward(images),
            AnyNet::ResNet(m) => m.forward(images),
        }
    }

    fn features(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            AnyNet::ConvNet(m) => m.features(images),
            AnyNet::Mlp(m) => m.features(images),
            AnyNet::LeNet(m) => m.features(images),
            AnyNet::AlexNet(m) => m.features(images),
            AnyNet::Vgg(m) => m.features(images),
            AnyNet::ResNet(m) => m.features(images),
        }
    }
}
