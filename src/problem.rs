//! One error shape for everything an operator writes: the file, the line where there is one, and
//! what is wrong. Config, zone and pool problems all print as `file:line: message`.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// A problem in an input file.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct Problem {
    /// The file (config, zone, or a file a zone includes).
    pub file: PathBuf,
    /// 1-based line, where one is known.
    pub line: Option<usize>,
    /// What is wrong, and what to change.
    pub message: String,
}

impl Problem {
    /// A problem at a 1-based line.
    pub fn line(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: Some(line),
            message: message.into(),
        }
    }

    /// A problem at a byte span of `text`, the content of `file`.
    pub fn at(file: &Path, text: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        Self::line(file, line_of(text, span.start), message)
    }

    /// A problem about the whole file.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }
}

/// The 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}
