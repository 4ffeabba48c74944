//! The CLIP byte-level BPE tokenizer of SAM 3's text encoder (upstream `sam3.model.tokenizer_ve.SimpleTokenizer`
//! with `clean="lower"`), over the BPE vocabulary embedded from `runtime/assets/`.

pub mod clean;
mod tables;

use std::collections::HashMap;
use std::io::Read;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use tch::Tensor;

/// The CLIP BPE merges (`bpe_simple_vocab_16e6.txt.gz`, the file upstream loads from `bpe_path`).
pub static BPE_VOCAB_GZ: &[u8] = include_bytes!("../../assets/bpe_simple_vocab_16e6.txt.gz");

/// Merges used from the file (upstream keeps lines 1..=49152-256-2).
const NUM_MERGES: usize = 49152 - 256 - 2;

/// `bytes_to_unicode`: printable stand-ins for the 256 byte values, as (byte, char) in upstream's dict order
/// (printable Latin-1 bytes first), which is also the order of the first 256 vocabulary entries.
fn bytes_to_unicode() -> Vec<(u8, char)> {
    let mut bs: Vec<u32> = (u32::from('!')..=u32::from('~'))
        .chain(u32::from('¡')..=u32::from('¬'))
        .chain(u32::from('®')..=u32::from('ÿ'))
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.iter()
        .zip(&cs)
        .map(|(b, c)| (*b as u8, char::from_u32(*c).unwrap()))
        .collect()
}

/// The SAM 3 text tokenizer: `encode` gives BPE ids, `tokenize` the padded (T, context) id tensor the text
/// encoder takes (start token, ids, end token, zeros; truncated with the end token kept last).
pub struct Tokenizer {
    encoder: HashMap<String, i64>,
    decoder: Vec<String>,
    bpe_ranks: HashMap<(String, String), usize>,
    byte_encoder: [char; 256],
    pattern: Regex,
    cache: Mutex<HashMap<String, Vec<i64>>>,
    pub sot_token_id: i64,
    pub eot_token_id: i64,
}

impl Tokenizer {
    /// The tokenizer over the embedded vocabulary, built once per process.
    pub fn shared() -> &'static Tokenizer {
        static SHARED: LazyLock<Tokenizer> = LazyLock::new(|| {
            Tokenizer::from_gz(BPE_VOCAB_GZ).expect("the embedded BPE vocabulary is valid")
        });
        &SHARED
    }

    /// Builds a tokenizer from a gzipped CLIP merges file.
    pub fn from_gz(bytes: &[u8]) -> Result<Tokenizer, String> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the BPE vocabulary: {e}"))?;
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < NUM_MERGES + 1 {
            return Err(format!(
                "the BPE vocabulary has {} lines, expected at least {}",
                lines.len(),
                NUM_MERGES + 1
            ));
        }
        let mut merges = Vec::with_capacity(NUM_MERGES);
        for (i, line) in lines[1..=NUM_MERGES].iter().enumerate() {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => merges.push((a.to_string(), b.to_string())),
                _ => {
                    return Err(format!(
                        "BPE vocabulary line {}: expected two symbols, got {line:?}",
                        i + 2
                    ))
                }
            }
        }
        let ordered = bytes_to_unicode();
        let mut byte_encoder = ['\0'; 256];
        for (b, c) in &ordered {
            byte_encoder[*b as usize] = *c;
        }
        let mut vocab: Vec<String> = ordered.iter().map(|(_, c)| c.to_string()).collect();
        vocab.extend(ordered.iter().map(|(_, c)| format!("{c}</w>")));
        vocab.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        vocab.push("<start_of_text>".into());
        vocab.push("<end_of_text>".into());
        let encoder: HashMap<String, i64> = vocab
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as i64))
            .collect();
        let bpe_ranks = merges
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, i))
            .collect();
        let pattern = Regex::new(
            r"(?i)<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        )
        .unwrap();
        Ok(Tokenizer {
            sot_token_id: encoder["<start_of_text>"],
            eot_token_id: encoder["<end_of_text>"],
            encoder,
            decoder: vocab,
            bpe_ranks,
            byte_encoder,
            pattern,
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    /// BPE of one pre-token (already mapped through `bytes_to_unicode`), as vocabulary ids.
    fn bpe(&self, token: &str) -> Vec<i64> {
        if let Some(ids) = self.cache.lock().unwrap().get(token) {
            return ids.clone();
        }
        if token == "<start_of_text>" || token == "<end_of_text>" {
            return vec![self.encoder[token]];
        }
        let chars: Vec<char> = token.chars().collect();
        let mut word: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        if let Some(last) = word.last_mut() {
            last.push_str("</w>");
        }
        while word.len() > 1 {
            // The adjacent pair with the lowest merge rank.
            let best = word
                .windows(2)
                .filter_map(|w| {
                    self.bpe_ranks
                        .get(&(w[0].clone(), w[1].clone()))
                        .map(|r| (*r, w))
                })
                .min_by_key(|(r, _)| *r);
            let Some((_, pair)) = best else { break };
            let (first, second) = (pair[0].clone(), pair[1].clone());
            let mut merged = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(word[i].clone());
                    i += 1;
                }
            }
            word = merged;
        }
        let ids: Vec<i64> = word.iter().map(|w| self.encoder[w.as_str()]).collect();
        self.cache
            .lock()
            .unwrap()
            .insert(token.to_string(), ids.clone());
        ids
    }

    /// The BPE ids of `text` after upstream's cleaning (no start/end tokens).
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let cleaned = clean::clean_lower(text);
        let mut ids = Vec::new();
        for m in self.pattern.find_iter(&cleaned) {
            let mapped: String = m
                .as_str()
                .bytes()
                .map(|b| self.byte_encoder[b as usize])
                .collect();
            ids.extend(self.bpe(&mapped));
        }
        ids
    }

    /// Upstream `SimpleTokenizer.__call__`: one row of `context_length` ids per text.
    pub fn tokenize_ids<S: AsRef<str>>(&self, texts: &[S], context_length: usize) -> Vec<Vec<i64>> {
        texts
            .iter()
            .map(|t| {
                let mut ids = vec![self.sot_token_id];
                ids.extend(self.encode(t.as_ref()));
                ids.push(self.eot_token_id);
                if ids.len() > context_length {
                    ids.truncate(context_length);
                    if let Some(last) = ids.last_mut() {
                        *last = self.eot_token_id;
                    }
                }
                ids.resize(context_length, 0);
                ids
            })
            .collect()
    }

    /// `tokenize_ids` as a (T, context_length) int64 CPU tensor.
    pub fn tokenize<S: AsRef<str>>(&self, texts: &[S], context_length: usize) -> Tensor {
        let rows = self.tokenize_ids(texts, context_length);
        let flat: Vec<i64> = rows.concat();
        Tensor::from_slice(&flat).view([texts.len() as i64, context_length as i64])
    }

    /// Decodes ids back to text (`</w>` becomes a space), for diagnostics.
    pub fn decode(&self, ids: &[i64]) -> String {
        let byte_decoder: HashMap<char, u8> = self
            .byte_encoder
            .iter()
            .enumerate()
            .map(|(b, c)| (*c, b as u8))
            .collect();
        let joined: String = ids
            .iter()
            .filter_map(|i| self.decoder.get(*i as usize))
            .map(|s| s.as_str())
            .collect();
        let mut bytes = Vec::new();
        let mut rest = joined.as_str();
        while let Some(c) = rest.chars().next() {
            if let Some(tail) = rest.strip_prefix("</w>") {
                bytes.push(b' ');
                rest = tail;
                continue;
            }
            match byte_decoder.get(&c) {
                Some(b) => bytes.push(*b),
                None => bytes.extend(c.to_string().bytes()),
            }
            rest = &rest[c.len_utf8()..];
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
