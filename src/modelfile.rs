//! Saved models: `zsift fit LOG --save FILE` writes one, `zsift score --model FILE LOG`
//! and `zsift --model FILE LOG` score with it.
//!
//! A model file holds everything scoring needs, and nothing of the log it was fitted on
//! but what the detectors keep (the neighbour methods keep their training rows, the
//! tail methods each feature's training values): the filter, the features with their
//! encodings, centres and scales and the categories' training counts, each detector's
//! fitted state with its sorted training scores and threshold, the verdict rule and its
//! threshold, and the reference distributions that reasons are given against.
//!
//! # Format, version 2
//!
//! | bytes | content |
//! |---|---|
//! | 8 | magic `ZSIFTMDL` |
//! | 4 | format version, a little-endian `u32` (2) |
//! | 8 | length `N` of the body, a little-endian `u64` |
//! | N | the body, a [`Body`] in postcard's encoding (<https://postcard.jamesmunns.com/wire-format>) |
//! | 32 | SHA-256 of every byte before it |
//!
//! `head -c -32 FILE | sha256sum` gives the checksum the file ends with. The version
//! changes whenever the body's layout or the meaning of a fitted state changes; a file of
//! another version is refused, never read as this one. A file is read whole and checked
//! (magic, version, length, checksum) before its body is decoded; the decoded state is
//! then checked for consistency (shapes, tree links, the neighbour trees' boxes holding
//! their rows, sorted scores) before anything is scored, so an altered file is an error,
//! never a panic or a wrong score.
//!
//! Version 2: the neighbour detectors' trees carry the principal axes their boxes are
//! drawn in (version 1's boxes were in the features' own axes).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::detect::ensemble::{Fitted, SavedFitted};
use crate::features::Transform;
use crate::pipeline::Model;
use crate::reasons::Explainer;

/// The first bytes of a model file.
pub const MAGIC: &[u8; 8] = b"ZSIFTMDL";

/// The format version this zsift writes and reads.
pub const FORMAT: u32 = 2;

/// Magic, version and body length.
const HEAD: usize = 8 + 4 + 8;

/// SHA-256.
const SUM: usize = 32;

/// What a model was fitted on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitInfo {
    /// The zsift version that fitted it.
    pub zsift: String,
    /// The input files, as named when fitting.
    pub files: Vec<String>,
    /// Rows of the input.
    pub rows: u64,
    /// Rows the features were fitted on (the filter's).
    pub train_rows: u64,
}

/// A model file's body.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Body {
    /// Where it comes from.
    pub info: FitInfo,
    /// The filter, features and ensemble options it was fitted with.
    pub model: Model,
    /// The features as fitted.
    pub transform: Transform,
    /// Reference distributions for reasons.
    pub explainer: Explainer,
    /// The detectors as fitted, with their thresholds and the verdict rule.
    pub ensemble: SavedFitted,
}

/// A model read from a file, checked and ready to score.
pub struct Loaded {
    /// Where it comes from.
    pub info: FitInfo,
    /// The filter, features and ensemble options.
    pub model: Model,
    /// The features as fitted.
    pub transform: Transform,
    /// Reference distributions for reasons.
    pub explainer: Explainer,
    /// The detectors.
    pub fitted: Fitted,
}

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a zsift model.
    #[error("{path}: not a zsift model file (it does not start with {:?})", std::str::from_utf8(MAGIC).unwrap_or(""))]
    NotAModel {
        /// The file.
        path: String,
    },
    /// A model of another format version.
    #[error(
        "{path}: model file format version {found}; this zsift ({}) reads version {FORMAT} (fit the model again with this zsift)",
        env!("CARGO_PKG_VERSION")
    )]
    Version {
        /// The file.
        path: String,
        /// Its version.
        found: u32,
    },
    /// Shorter or longer than its header says.
    #[error("{path}: truncated or extended model file ({have} bytes, its header says {want})")]
    Length {
        /// The file.
        path: String,
        /// Its size.
        have: u64,
        /// The size its header gives.
        want: u128,
    },
    /// The checksum does not match.
    #[error("{path}: the model file's checksum does not match: it was damaged or altered")]
    Checksum {
        /// The file.
        path: String,
    },
    /// Whole, but not a model this zsift can use.
    #[error("{path}: unusable model: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The bytes of a model file with `body`.
pub fn encode(body: &Body) -> Result<Vec<u8>, String> {
    let payload = postcard::to_allocvec(body).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(HEAD + payload.len() + SUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    Ok(out)
}

/// Writes a model file atomically (a reader sees the old file or the whole new one);
/// returns its size.
pub fn write(path: &Path, body: &Body) -> Result<u64, ModelFileError> {
    let name = path.display().to_string();
    let bytes = encode(body).map_err(|reason| ModelFileError::Invalid {
        path: name.clone(),
        reason,
    })?;
    let pending =
        crate::export::write_pending(path, |w| w.write_all(&bytes).map_err(|e| e.to_string()))
            .and_then(|p| p.persist());
    pending.map_err(|e| ModelFileError::Io {
        path: name,
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(bytes.len() as u64)
}

/// Decodes and checks the bytes of a model file named `path`.
pub fn decode(path: &str, bytes: &[u8]) -> Result<Loaded, ModelFileError> {
    let path = path.to_string();
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(ModelFileError::NotAModel { path });
    }
    let length_error = |want: u128| ModelFileError::Length {
        path: path.clone(),
        have: bytes.len() as u64,
        want,
    };
    if bytes.len() < HEAD {
        return Err(length_error((HEAD + SUM) as u128));
    }
    let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if found != FORMAT {
        return Err(ModelFileError::Version { path, found });
    }
    let n = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let want = HEAD as u128 + u128::from(n) + SUM as u128;
    if bytes.len() as u128 != want {
        return Err(length_error(want));
    }
    let (content, sum) = bytes.split_at(bytes.len() - SUM);
    if Sha256::digest(content).as_slice() != sum {
        return Err(ModelFileError::Checksum { path });
    }
    let invalid = |reason: String| ModelFileError::Invalid {
        path: path.clone(),
        reason,
    };
    let body: Body =
        postcard::from_bytes(&content[HEAD..]).map_err(|e| invalid(format!("body: {e}")))?;
    let prefixes = body.model.filter.ips.iter().all(|m| match *m {
        crate::filter::IpMatch::Net(a, p) => p <= if a.is_ipv4() { 32 } else { 128 },
        crate::filter::IpMatch::Addr(_) => true,
    });
    if !prefixes {
        return Err(invalid(
            "a network of the filter has a bad prefix length".into(),
        ));
    }
    body.transform.check().map_err(invalid)?;
    let columns = body.transform.features().len();
    if !body.explainer.fits(columns) {
        return Err(invalid("reasons do not match the features".into()));
    }
    let fitted = Fitted::restore(body.ensemble, columns).map_err(invalid)?;
    Ok(Loaded {
        info: body.info,
        model: body.model,
        transform: body.transform,
        explainer: body.explainer,
        fitted,
    })
}

/// Reads and checks a model file.
pub fn read(path: &Path) -> Result<Loaded, ModelFileError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ModelFileError::Io {
        path: name.clone(),
        source,
    })?;
    decode(&name, &bytes)
}
