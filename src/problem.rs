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
/// The starts of a text's lines, to find many offsets' lines in logarithmic time each (a
/// config of thousands of pools asks for one per member).
#[derive(Debug, Default)]
pub struct Lines {
    /// Offsets just after each newline.
    starts: Vec<usize>,
}

impl Lines {
    /// The line starts of `text`.
    pub fn new(text: &str) -> Self {
        let starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        Self { starts }
    }

    /// The 1-based line of `offset`: as [`line_of`] says.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) + 1
    }
}

/// The 1-based line of `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_agrees_with_counting_newlines() {
        let text = "a\n\nbc\nd\n";
        let lines = Lines::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(lines.line(offset), line_of(text, offset), "offset {offset}");
        }
    }
}
