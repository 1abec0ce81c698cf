//! Twemoji image-caption pairs from npm `emoji-datasource-twitter` 16.0.0: the embedded
//! default for vision-language work. 1,911 emoji (3,786 images with the skin-tone variants),
//! 64x64 PNGs, captioned with their Unicode names and short names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::decode::decode_file;
use super::files::data_dir;
use super::image_set::ImageSplits;
use super::pairs::{PairSet, PairSplits};
use super::sampling::{split, split_plain};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// The attribution the Twemoji graphics' CC-BY 4.0 licence asks for; shown with the images.
pub const TWEMOJI_CREDIT: &str = "Emoji images: Twemoji, Copyright 2019 Twitter, Inc and other \
    contributors (v16 by jdecked/twemoji), licensed under CC-BY 4.0 \
    (https://creativecommons.org/licenses/by/4.0/); names from emoji-datasource 16.0.0 (MIT).";

#[derive(Deserialize)]
struct Entry {
    name: Option<String>,
    image: String,
    #[serde(default)]
    short_names: Vec<String>,
    #[serde(default)]
    has_img_twitter: bool,
    #[serde(default)]
    skin_variations: BTreeMap<String, Variation>,
    #[serde(default)]
    category: Option<String>,
}

#[derive(Deserialize)]
struct Variation {
    image: String,
    #[serde(default)]
    has_img_twitter: bool,
}

/// Reader of the Twemoji pairs (builder; [`Twemoji::load`] is the verb).
///
/// # Example
/// ```no_run
/// use dd_prelude::*;
/// let emoji = Twemoji::load_default()?;            // 64x64, no skin tones, 80/20 split
/// emoji.train.show(4)?;
/// let small = Twemoji::new(Twemoji::default_dir()).with_image_size(32).with_skin_tones(true).load()?;
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Twemoji {
    dir: PathBuf,
    image_size: usize,
    skin_tones: bool,
    test_fraction: f64,
    seed: u64,
}

impl Twemoji {
    /// Where `scripts/fetch-data.sh` unpacks the package: `$DD_DATA/twemoji`.
    pub fn default_dir() -> PathBuf {
        data_dir().join("twemoji")
    }

    /// Loads the default folder with the default options.
    pub fn load_default() -> Result<PairSplits> {
        Self::new(Self::default_dir()).load()
    }

    /// A reader of `dir` (holding `emoji.json` and `img/64/*.png`, or the npm package's
    /// `package/` layout with `img/twitter/64/`): 64x64 images, base emoji only, 20% test,
    /// seed 0.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Twemoji {
            dir: dir.into(),
            image_size: 64,
            skin_tones: false,
            test_fraction: 0.2,
            seed: 0,
        }
    }

    /// Side of the square images (default 64, the files' size).
    pub fn with_image_size(mut self, size: usize) -> Self {
        self.image_size = size;
        self
    }

    /// Also include the skin-tone variants, captioned with their tone (default false).
    pub fn with_skin_tones(mut self, skin_tones: bool) -> Self {
        self.skin_tones = skin_tones;
        self
    }

    /// Fraction of the emoji held out as the test split (default 0.2).
    pub fn with_test_fraction(mut self, fraction: f64) -> Self {
        self.test_fraction = fraction;
        self
    }

    /// Seed of the train/test split (default 0).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Reads the pairs and splits them; a skin-tone variant goes to the split of its base
    /// emoji, so no test emoji is seen in training under another tone.
    pub fn load(&self) -> Result<PairSplits> {
        let (img_dir, groups) = self.entries()?;
        let (train_ids, test_ids) = split_plain(groups.len(), self.test_fraction, self.seed);
        let train = self.read_group_images(&img_dir, &groups, &train_ids, "Twemoji train", None)?;
        let test = self.read_group_images(
            &img_dir,
            &groups,
            &test_ids,
            "Twemoji test",
            Some((train.mean().to_vec(), train.std().to_vec())),
        )?;
        let shape = train.image_shape();
        let val = PairSet::empty(
            "Twemoji val",
            shape,
            train.mean().to_vec(),
            train.std().to_vec(),
        )
        .with_credit(TWEMOJI_CREDIT);
        Ok(PairSplits { train, val, test })
    }

    fn read_group_images(
        &self,
        img_dir: &Path,
        groups: &[Group],
        which: &[usize],
        name: &str,
        stats: Option<(Vec<f32>, Vec<f32>)>,
    ) -> Result<PairSet> {
        let items: Vec<&Member> = which.iter().flat_map(|&g| &groups[g].members).collect();
        let pixels = self.decode(img_dir, &items, name)?;
        let captions = items.iter().map(|(_, caps)| caps.clone()).collect();
        let ids = items.iter().map(|(file, _)| file.clone()).collect();
        let shape = [3, self.image_size, self.image_size];
        let set = match stats {
            None => PairSet::from_pixels(name, shape, pixels, captions, ids)?,
            Some((mean, std)) => {
                PairSet::from_pixels_with_stats(name, shape, pixels, captions, ids, mean, std)?
            }
        };
        Ok(set.with_credit(TWEMOJI_CREDIT))
    }

    /// The emoji as an image classification set: every image labelled with its category in
    /// emoji-datasource (`Smileys & Emotion`, `People & Body`, `Animals & Nature`,
    /// `Food & Drink`, `Travel & Places`, `Activities`, `Objects`, `Symbols`, `Flags`; the
    /// five skin-tone swatches of `Component` are left out), split by emoji with the reader's
    /// test fraction and seed, stratified by category. Nine unbalanced classes (85 to 386
    /// emoji) of colour drawings: a real image set unlike Fashion-MNIST, for checking that a
    /// plan is not tuned to one data set.
    ///
    /// # Example
    /// ```no_run
    /// use dd_prelude::*;
    /// let cats = Twemoji::new(Twemoji::default_dir()).with_image_size(32).load_categories()?;
    /// assert_eq!(cats.train.num_classes(), 9);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn load_categories(&self) -> Result<ImageSplits> {
        let (img_dir, groups) = self.entries()?;
        let groups: Vec<&Group> = groups
            .iter()
            .filter(|g| g.category != "Component")
            .collect();
        let classes: Vec<String> = groups
            .iter()
            .map(|g| g.category.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let label = |g: &Group| classes.iter().position(|c| *c == g.category).unwrap_or(0);
        let labels: Vec<usize> = groups.iter().map(|g| label(g)).collect();
        let (train_ids, test_ids) = split(&labels, classes.len(), self.test_fraction, self.seed);
        let read = |ids: &[usize], name: &str| -> Result<(Vec<f32>, Vec<usize>)> {
            let items: Vec<&Member> = ids.iter().flat_map(|&g| &groups[g].members).collect();
            let labels = ids
                .iter()
                .flat_map(|&g| std::iter::repeat_n(labels[g], groups[g].members.len()))
                .collect();
            Ok((self.decode(&img_dir, &items, name)?, labels))
        };
        let shape = [3, self.image_size, self.image_size];
        let train = read(&train_ids, "Twemoji categories train")?;
        let test = read(&test_ids, "Twemoji categories test")?;
        ImageSplits::from_pixels("Twemoji categories", shape, train, test, classes)
    }

    /// The image folder and the emoji list, after checking the options.
    fn entries(&self) -> Result<(PathBuf, Vec<Group>)> {
        crate::error::ensure(
            (0.0..1.0).contains(&self.test_fraction),
            "Twemoji",
            "test_fraction",
            || format!("is {}; expected 0 <= fraction < 1", self.test_fraction),
        )?;
        let img_dir = [
            self.dir.join("img").join("64"),
            self.dir.join("img/twitter/64"),
        ]
        .into_iter()
        .find(|d| d.is_dir())
        .ok_or_else(|| {
            Error::data(
                &self.dir,
                "no img/64/ folder of PNGs; run `bash scripts/fetch-data.sh` or point the \
                     reader at the unpacked emoji-datasource-twitter package",
            )
        })?;
        let groups = read_entries(&self.dir.join("emoji.json"), self.skin_tones)?;
        Ok((img_dir, groups))
    }

    /// The pixels of `items` (RGB, the reader's size, in `[0, 1]`), in order.
    fn decode(&self, img_dir: &Path, items: &[&Member], name: &str) -> Result<Vec<f32>> {
        let mut progress = Progress::new(format!("reading {name}"), items.len()).with_print(false);
        let mut pixels = Vec::new();
        for (file, caps) in items {
            let path = img_dir.join(file);
            if !path.is_file() {
                return Err(Error::data(
                    &path,
                    format!("missing: emoji.json lists this image for `{}`", caps[0]),
                ));
            }
            pixels.extend(decode_file(&path, self.image_size, 3)?);
            progress.tick(1, String::new);
        }
        Ok(pixels)
    }
}

/// One image of an emoji: `(file, captions)`.
type Member = (String, Vec<String>);

/// One emoji: its category, then its base image and its skin-tone variants.
struct Group {
    category: String,
    members: Vec<Member>,
}

/// Emoji with a Twitter image, each as a group: the base image first, then (optionally) its
/// skin-tone variants; every member is `(file, captions)`.
fn read_entries(json: &Path, skin_tones: bool) -> Result<Vec<Group>> {
    let text = std::fs::read_to_string(json)
        .map_err(|e| Error::data(json, format!("cannot read the emoji list: {e}")))?;
    let entries: Vec<Entry> = serde_json::from_str(&text)
        .map_err(|e| Error::data(json, format!("not an emoji-datasource emoji.json: {e}")))?;
    let mut groups = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if !e.has_img_twitter {
            continue;
        }
        let name = e
            .name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .or(e.short_names.first().map(String::as_str))
            .ok_or_else(|| Error::data(json, format!("entry {i} ({}) has no name", e.image)))?
            .to_lowercase();
        let mut captions = vec![name.clone()];
        for s in &e.short_names {
            let s = s.replace(['_', '-'], " ");
            if !captions.contains(&s) {
                captions.push(s);
            }
        }
        let mut members = vec![(e.image.clone(), captions)];
        if skin_tones {
            for (code, v) in &e.skin_variations {
                if v.has_img_twitter {
                    let tones = code
                        .split('-')
                        .map(tone_name)
                        .collect::<Vec<_>>()
                        .join(", ");
                    members.push((v.image.clone(), vec![format!("{name}: {tones}")]));
                }
            }
        }
        groups.push(Group {
            category: e.category.clone().unwrap_or_default(),
            members,
        });
    }
    if groups.is_empty() {
        return Err(Error::data(json, "no emoji with a Twitter image"));
    }
    Ok(groups)
}

/// The CLDR name of a skin-tone modifier code point.
fn tone_name(code: &str) -> String {
    match code.to_ascii_uppercase().as_str() {
        "1F3FB" => "light skin tone".into(),
        "1F3FC" => "medium-light skin tone".into(),
        "1F3FD" => "medium skin tone".into(),
        "1F3FE" => "medium-dark skin tone".into(),
        "1F3FF" => "dark skin tone".into(),
        other => format!("modifier {other}"),
    }
}
