//! Zone-file text split into entries: the tokens of one line, or of several lines joined by
//! parentheses, each with the line it starts on. Quotes, comments and backslash escapes are
//! respected but not decoded: decoding is the `domain` scanner's job ([`super::scan`]).
//!
//! NLnet Labs' `domain` scanner reads a whole file, but it gives no line for a record it read
//! and cannot go on after an error; splitting entries here keeps `file:line` in every message and
//! reports every bad line of a file at once.

/// One logical entry: the tokens of one line, or of several lines joined by parentheses.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'t> {
    /// 1-based line where the entry starts.
    pub line: usize,
    /// The entry's line began with white space: the owner is the previous one.
    pub blank_owner: bool,
    /// Its tokens, escapes as written.
    pub tokens: &'t [Token<'t>],
}

/// The entries of a text: every token in one vector, each entry a span of it (a file of a
/// million lines is held in two allocations, about 90 octets a line, not one per line).
#[derive(Debug, Default)]
pub struct Entries<'t> {
    tokens: Vec<Token<'t>>,
    spans: Vec<Span>,
}

/// Where an entry's tokens are, and where it stands.
#[derive(Debug, Clone, Copy)]
struct Span {
    line: u32,
    start: u32,
    end: u32,
    blank_owner: bool,
}

impl<'t> Entries<'t> {
    /// How many entries.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Entry `i`.
    pub fn get(&self, i: usize) -> Entry<'_> {
        let s = self.spans[i];
        Entry {
            line: s.line as usize,
            blank_owner: s.blank_owner,
            tokens: &self.tokens[s.start as usize..s.end as usize],
        }
    }

    /// Entries `range`, in order.
    pub fn iter(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = Entry<'_>> {
        range.map(|i| self.get(i))
    }
}

/// A token: a slice of the file's text (nothing is copied; a file of a million lines is split
/// without an allocation per token).
#[derive(Debug, Clone, Copy)]
pub enum Token<'t> {
    /// An unquoted word, escapes kept as written.
    Word(&'t str),
    /// The content of a quoted string, escapes kept as written.
    Quoted(&'t str),
}

impl<'t> Token<'t> {
    /// The token as it stood in the file: quoted again if it was. Inside quotes every octet
    /// but `"` and `\\` stands for itself (RFC 1035 §5.1), tabs and other control octets
    /// included, as NSD and Knot read them (`ldns-signzone` writes a TXT's `\\009` as a raw
    /// tab); such octets are given as `\\DDD`, which is how the scanner reads them.
    pub fn written(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    /// [`Token::written`], appended to `out`.
    pub fn write_to(&self, out: &mut String) {
        match self {
            Token::Word(w) => out.push_str(w),
            Token::Quoted(q) => {
                out.reserve(q.len() + 2);
                out.push('"');
                let mut escaped = false;
                for c in q.chars() {
                    let plain = c == ' ' || c.is_ascii_graphic();
                    match (escaped, plain) {
                        (false, true) => {
                            escaped = c == '\\';
                            out.push(c);
                        }
                        (true, true) => {
                            escaped = false;
                            out.push(c);
                        }
                        (was_escaped, false) => {
                            if was_escaped {
                                out.pop(); // `\<TAB>` is the tab itself, like `\X`
                            }
                            escaped = false;
                            let mut buf = [0u8; 4];
                            for b in c.encode_utf8(&mut buf).bytes() {
                                out.push_str(&format!("\\{b:03}"));
                            }
                        }
                    }
                }
                out.push('"');
            }
        }
    }

    /// The token's text (without quotes), escapes as written.
    pub fn text(&self) -> &'t str {
        match self {
            Token::Word(s) | Token::Quoted(s) => s,
        }
    }
}

/// Splits zone-file text into entries. Errors: unbalanced parentheses or quotes.
pub fn split_entries(text: &str) -> Result<Entries<'_>, (usize, String)> {
    let mut t = Tokenizer::new(text);
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if t.at_line_start && t.depth == 0 && t.quote.is_none() {
            t.entry_line = t.line;
            t.blank_owner = c == ' ' || c == '\t';
            t.at_line_start = false;
        }
        if t.quote.is_some() {
            t.quoted(at, c, &mut chars);
        } else {
            t.plain(at, c, &mut chars)?;
        }
    }
    if t.quote.is_some() {
        return Err((t.quote_line, "unterminated quoted string".into()));
    }
    if t.depth > 0 {
        return Err((t.paren_line, "`(` without a matching `)`".into()));
    }
    t.flush_word(text.len());
    t.end_entry();
    Ok(t.entries)
}

/// Room for the tokens and entries of `text`, guessed from its length (a line of a plain
/// record is about 25 octets and three tokens): a large file's are not copied as they grow,
/// and room not used is never touched.
fn room(text: &str) -> Entries<'_> {
    Entries {
        tokens: Vec::with_capacity(text.len() / 6),
        spans: Vec::with_capacity(text.len() / 20),
    }
}

/// The state of [`split_entries`]: where it is in the text and what it has collected.
struct Tokenizer<'t> {
    text: &'t str,
    entries: Entries<'t>,
    /// Where the entry being read starts in `entries.tokens`.
    entry_start: usize,
    /// Where the word being read starts.
    word: Option<usize>,
    /// Where the quoted string being read starts (after its `"`).
    quote: Option<usize>,
    quote_line: usize,
    depth: usize,
    paren_line: usize,
    line: usize,
    entry_line: usize,
    blank_owner: bool,
    at_line_start: bool,
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

impl<'t> Tokenizer<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            entries: room(text),
            entry_start: 0,
            word: None,
            quote: None,
            quote_line: 0,
            depth: 0,
            paren_line: 0,
            line: 1,
            entry_line: 1,
            blank_owner: false,
            at_line_start: true,
        }
    }

    /// Ends the word being read (if any) at `end`.
    fn flush_word(&mut self, end: usize) {
        if let Some(start) = self.word.take() {
            self.entries
                .tokens
                .push(Token::Word(&self.text[start..end]));
        }
    }

    fn end_entry(&mut self) {
        let end = self.entries.tokens.len();
        if end > self.entry_start {
            // A file is at most a few GiB (the zone's budget): its lines and tokens fit.
            self.entries.spans.push(Span {
                line: u32::try_from(self.entry_line).unwrap_or(u32::MAX),
                start: self.entry_start as u32,
                end: end as u32,
                blank_owner: self.blank_owner,
            });
            self.entry_start = end;
        }
    }

    /// A character inside a quoted string, at `at`; escapes are kept as written.
    fn quoted(&mut self, at: usize, c: char, chars: &mut Chars<'_>) {
        match c {
            '\\' => {
                if let Some((_, '\n')) = chars.next() {
                    self.line += 1;
                }
            }
            '"' => {
                let start = self.quote.take().unwrap_or(at);
                self.entries
                    .tokens
                    .push(Token::Quoted(&self.text[start..at]));
            }
            '\n' => self.line += 1,
            _ => {}
        }
    }

    /// A character outside quotes, at `at`.
    fn plain(&mut self, at: usize, c: char, chars: &mut Chars<'_>) -> Result<(), (usize, String)> {
        match c {
            '\\' => {
                self.word.get_or_insert(at);
                chars.next();
            }
            '"' => {
                self.flush_word(at);
                self.quote = Some(at + 1);
                self.quote_line = self.line;
            }
            ';' => {
                self.flush_word(at);
                while chars.next_if(|&(_, n)| n != '\n').is_some() {}
            }
            '(' => {
                self.flush_word(at);
                if self.depth == 0 {
                    self.paren_line = self.line;
                }
                self.depth += 1;
            }
            ')' => {
                self.flush_word(at);
                if self.depth == 0 {
                    return Err((self.line, "`)` without a matching `(`".into()));
                }
                self.depth -= 1;
            }
            '\n' => {
                self.flush_word(at);
                self.line += 1;
                if self.depth == 0 {
                    self.end_entry();
                    self.at_line_start = true;
                }
            }
            c if c.is_whitespace() => self.flush_word(at),
            _ => {
                self.word.get_or_insert(at);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_join_parentheses_and_keep_lines() {
        let text = "a 1 IN A 192.0.2.1 ; c\n@ IN SOA ns h (\n 1 2\n 3 4 5 )\n  IN TXT \"x ; y\"\n";
        let e = split_entries(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e.get(1).line, 2);
        assert_eq!(e.get(1).tokens.len(), 10);
        assert_eq!(e.get(2).line, 5);
        assert!(e.get(2).blank_owner);
        assert_eq!(e.get(2).tokens[2].text(), "x ; y");
    }

    #[test]
    fn unbalanced_parenthesis_names_its_line() {
        let err = split_entries("a A 1.2.3.4\nb SOA (\n").unwrap_err();
        assert_eq!(err.0, 2);
    }
}
