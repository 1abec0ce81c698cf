//! [`WordPiece`]: BERT's uncased tokeniser (basic clean-up and splitting, then greedy
//! longest-match word pieces from a `vocab.txt`), as `BertTokenizer(do_lower_case=True)`
//! and the `tokenizers` crate's `BertNormalizer` + `BertPreTokenizer` + `WordPiece` do it.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};

/// BERT's WordPiece tokeniser, uncased: control characters dropped, CJK ideographs split
/// apart, lower-cased, accents stripped, split on whitespace and punctuation, then each word
/// cut into the longest pieces of the vocabulary (continuations spelled `##piece`); a word
/// that cannot be cut, or is longer than 100 characters, becomes `[UNK]`.
///
/// Accents are stripped by a table of the Latin-1 and Latin Extended-A letters (the crate
/// carries no Unicode decomposition data); other accented letters are kept as they are.
/// Punctuation is ASCII punctuation and the Unicode punctuation blocks (general punctuation,
/// Latin-1's, CJK's).
///
/// # Example
/// ```
/// use dd_prelude::vl::WordPiece;
/// let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "face", "grin", "##ning", ",", "cafe"];
/// let wp = WordPiece::new(vocab.iter().map(|s| s.to_string()).collect())?;
/// assert_eq!(wp.tokens("Grinning FACE, café!"), ["grin", "##ning", "face", ",", "cafe", "[UNK]"]);
/// assert_eq!(wp.encode("a face", 8), vec![2, 4, 5, 3]);
/// # Ok::<(), dd_prelude::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: Vec<String>,
    ids: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
}

/// The longest word WordPiece cuts; longer words are `[UNK]` (BERT's `max_input_chars_per_word`).
const MAX_WORD_CHARS: usize = 100;

impl WordPiece {
    /// A tokeniser over `vocab` (token `i` has id `i`); it must hold `[UNK]`, `[CLS]` and `[SEP]`.
    pub fn new(vocab: Vec<String>) -> Result<Self> {
        let ids: HashMap<String, u32> = vocab
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let special = |t: &str| {
            ids.get(t)
                .copied()
                .ok_or_else(|| Error::config("WordPiece", "vocab", format!("has no {t} token")))
        };
        Ok(WordPiece {
            unk: special("[UNK]")?,
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            ids,
            vocab,
        })
    }

    /// Reads a BERT `vocab.txt` (one token a line, line `i` is id `i`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::data(path, e.to_string()))?;
        Self::new(
            text.lines()
                .map(|l| l.trim_end_matches('\r').to_string())
                .collect(),
        )
        .map_err(|e| Error::data(path, e.to_string()))
    }

    /// Number of tokens in the vocabulary.
    pub fn len(&self) -> usize {
        self.vocab.len()
    }

    /// Whether the vocabulary is empty (never: it holds the special tokens).
    pub fn is_empty(&self) -> bool {
        self.vocab.is_empty()
    }

    /// The token of id `id`.
    pub fn token(&self, id: u32) -> &str {
        &self.vocab[id as usize]
    }

    /// The word pieces of `text`, without `[CLS]`/`[SEP]`.
    pub fn tokens(&self, text: &str) -> Vec<&str> {
        self.piece_ids(text)
            .into_iter()
            .map(|i| self.token(i))
            .collect()
    }

    /// `[CLS] pieces [SEP]` ids, the pieces cut so that the whole is at most `max_len` ids
    /// (`max_len >= 2`).
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut pieces = self.piece_ids(text);
        pieces.truncate(max_len.saturating_sub(2));
        let mut ids = Vec::with_capacity(pieces.len() + 2);
        ids.push(self.cls);
        ids.extend(pieces);
        ids.push(self.sep);
        ids
    }

    fn piece_ids(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for word in basic_words(text) {
            self.cut(&word, &mut out);
        }
        out
    }

    /// Greedy longest-match pieces of one word, or `[UNK]`.
    fn cut(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let mut piece: String = chars[start..end].iter().collect();
                if start > 0 {
                    piece.insert_str(0, "##");
                }
                if let Some(&id) = self.ids.get(&piece) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => pieces.push(id),
                None => {
                    out.push(self.unk);
                    return;
                }
            }
            start = end;
        }
        out.extend(pieces);
    }
}

/// BERT's basic tokenisation (uncased): clean, split CJK, lower-case, strip accents, split on
/// whitespace and punctuation.
fn basic_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current));
        }
    };
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || is_control(c) {
            continue;
        }
        if c.is_whitespace() {
            flush(&mut current, &mut words);
            continue;
        }
        if is_cjk(c) || is_punctuation(c) {
            flush(&mut current, &mut words);
            words.push(c.to_string());
            continue;
        }
        for l in c.to_lowercase() {
            match strip_accent(l) {
                Some(base) => current.push_str(base),
                None if is_combining_mark(l) => {}
                None => current.push(l),
            }
        }
    }
    flush(&mut current, &mut words);
    words
}

/// Control characters BERT drops (categories Cc and Cf), tab and newlines excepted (they are
/// whitespace).
fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c.is_control()
        || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// BERT's `_is_punctuation`: every non-alphanumeric ASCII printable character, and Unicode
/// punctuation (here: Latin-1's, the general punctuation block, CJK symbols and punctuation,
/// full-width forms' ASCII punctuation).
fn is_punctuation(c: char) -> bool {
    let u = c as u32;
    (33..=47).contains(&u)
        || (58..=64).contains(&u)
        || (91..=96).contains(&u)
        || (123..=126).contains(&u)
        || matches!(c, '¡' | '§' | '«' | '¶' | '·' | '»' | '¿')
        || ('\u{2010}'..='\u{2027}').contains(&c)
        || ('\u{2030}'..='\u{205e}').contains(&c)
        || ('\u{3001}'..='\u{3003}').contains(&c)
        || ('\u{3008}'..='\u{3011}').contains(&c)
        || ('\u{ff01}'..='\u{ff0f}').contains(&c)
}

/// The CJK ideograph blocks BERT splits into single characters.
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// Combining diacritical marks (category Mn in the block BERT's accent stripping removes).
fn is_combining_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// The base letters of a lower-case Latin-1 or Latin Extended-A letter with a diacritic (what
/// NFD followed by dropping the marks gives).
fn strip_accent(c: char) -> Option<&'static str> {
    Some(match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' => "a",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' => "d",
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' => "h",
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' => "i",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò'..='ö' | 'ō' | 'ŏ' | 'ő' => "o",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ţ' | 'ť' => "t",
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_words_split_punctuation_and_strip_accents() {
        assert_eq!(
            basic_words("Flag: Côte d’Ivoire\tSÃO tomé"),
            ["flag", ":", "cote", "d", "’", "ivoire", "sao", "tome"]
        );
        assert_eq!(basic_words("a\u{200b}b 中文"), ["ab", "中", "文"]);
    }
}
