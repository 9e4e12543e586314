//! Rust source to the few tokens the module graph needs: identifiers, `::` and single
//! punctuation characters, each with its line. Comments (doc comments included), string,
//! character and number literals, and lifetimes are dropped, so a path written in them is
//! never taken for a reference.

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An identifier or keyword (a raw identifier keeps its `r#`).
    Ident(String),
    /// `::`
    Sep,
    /// Any other character outside literals and comments (`{`, `;`, `*`, `(`, `<`, ...).
    Punct(char),
}

/// A token and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) line: usize,
}

/// The tokens of `src`; `Err` names the line of an unterminated comment or literal.
pub(crate) fn tokens(src: &str) -> Result<Vec<Token>, String> {
    let mut lx = Lexer { s: src.chars().collect(), i: 0, line: 1, out: Vec::new() };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer {
    s: Vec<char>,
    i: usize,
    line: usize,
    out: Vec<Token>,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl Lexer {
    fn at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    /// Moves one character ahead, counting lines.
    fn bump(&mut self) {
        if self.at(0) == Some('\n') {
            self.line += 1;
        }
        self.i += 1;
    }

    fn push(&mut self, tok: Tok, line: usize) {
        self.out.push(Token { tok, line });
    }

    fn run(&mut self) -> Result<(), String> {
        while let Some(c) = self.at(0) {
            let line = self.line;
            match c {
                '/' if self.at(1) == Some('/') => self.line_comment(),
                '/' if self.at(1) == Some('*') => self.block_comment()?,
                '"' => self.string()?,
                '\'' => self.quote()?,
                ':' if self.at(1) == Some(':') => {
                    self.i += 2;
                    self.push(Tok::Sep, line);
                }
                c if c.is_ascii_digit() => self.number(),
                c if is_ident_start(c) => self.ident_or_literal()?,
                c if c.is_whitespace() => self.bump(),
                c => {
                    self.i += 1;
                    self.push(Tok::Punct(c), line);
                }
            }
        }
        Ok(())
    }

    fn line_comment(&mut self) {
        while self.at(0).is_some_and(|c| c != '\n') {
            self.i += 1;
        }
    }

    /// Block comments nest.
    fn block_comment(&mut self) -> Result<(), String> {
        let start = self.line;
        let mut depth = 0usize;
        loop {
            match (self.at(0), self.at(1)) {
                (Some('/'), Some('*')) => {
                    depth += 1;
                    self.i += 2;
                }
                (Some('*'), Some('/')) => {
                    depth -= 1;
                    self.i += 2;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                (Some(_), _) => self.bump(),
                (None, _) => return Err(format!("line {start}: unterminated block comment")),
            }
        }
    }

    /// A `"..."` string (the opening quote at `self.i`), escapes included.
    fn string(&mut self) -> Result<(), String> {
        let start = self.line;
        self.i += 1;
        loop {
            match self.at(0) {
                Some('\\') => {
                    self.bump();
                    self.bump();
                }
                Some('"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(_) => self.bump(),
                None => return Err(format!("line {start}: unterminated string")),
            }
        }
    }

    /// A raw string: `self.i` at the first `#` or the opening quote.
    fn raw_string(&mut self) -> Result<(), String> {
        let start = self.line;
        let mut hashes = 0;
        while self.at(0) == Some('#') {
            hashes += 1;
            self.i += 1;
        }
        if self.at(0) != Some('"') {
            return Err(format!("line {start}: malformed raw string"));
        }
        self.i += 1;
        loop {
            match self.at(0) {
                Some('"') if (1..=hashes).all(|k| self.at(k) == Some('#')) => {
                    self.i += 1 + hashes;
                    return Ok(());
                }
                Some(_) => self.bump(),
                None => return Err(format!("line {start}: unterminated raw string")),
            }
        }
    }

    /// A character literal (`'a'`, `'\n'`, `'\u{1F600}'`) or a lifetime (`'a`), both
    /// dropped.
    fn quote(&mut self) -> Result<(), String> {
        let start = self.line;
        if self.at(1) == Some('\\') {
            self.i += 3;
            while self.at(0).is_some_and(|c| c != '\'' && c != '\n') {
                self.i += 1;
            }
            if self.at(0) != Some('\'') {
                return Err(format!("line {start}: unterminated character literal"));
            }
            self.i += 1;
        } else if self.at(2) == Some('\'') {
            self.i += 3;
        } else {
            self.i += 1;
            while self.at(0).is_some_and(is_ident_char) {
                self.i += 1;
            }
        }
        Ok(())
    }

    /// Digits, suffixes and a fraction (`1_000`, `0x1F`, `1.5e3`, `2u32`); not the `..` of
    /// a range.
    fn number(&mut self) {
        while let Some(c) = self.at(0) {
            let fraction = c == '.' && self.at(1).is_some_and(|d| d.is_ascii_digit());
            if !(is_ident_char(c) || fraction) {
                break;
            }
            self.i += 1;
        }
    }

    /// An identifier, a raw identifier, or a literal with a prefix (`b"..."`, `br#"..."#`,
    /// `r"..."`, `c"..."`, `b'x'`).
    fn ident_or_literal(&mut self) -> Result<(), String> {
        let line = self.line;
        let begin = self.i;
        while self.at(0).is_some_and(is_ident_char) {
            self.i += 1;
        }
        let word: String = self.s[begin..self.i].iter().collect();
        let next = self.at(0);
        match (word.as_str(), next) {
            ("r" | "br" | "cr", Some('"')) => self.raw_string(),
            ("r" | "br" | "cr", Some('#')) if matches!(self.at(1), Some('#' | '"')) => self.raw_string(),
            ("r", Some('#')) => {
                self.i += 1;
                let begin = self.i;
                while self.at(0).is_some_and(is_ident_char) {
                    self.i += 1;
                }
                let raw: String = self.s[begin..self.i].iter().collect();
                self.push(Tok::Ident(format!("r#{raw}")), line);
                Ok(())
            }
            ("b" | "c", Some('"')) => self.string(),
            ("b", Some('\'')) => self.quote(),
            _ => {
                self.push(Tok::Ident(word), line);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        tokens(src)
            .unwrap()
            .into_iter()
            .map(|t| match t.tok {
                Tok::Ident(s) => s,
                Tok::Sep => "::".to_owned(),
                Tok::Punct(c) => c.to_string(),
            })
            .collect()
    }

    #[test]
    fn comments_and_literals_hide_paths() {
        let src = r##"
            // use super::a;
            /// [`super::b`]
            /* use super::c; /* nested super::d */ still comment */
            let s = "super::e \" super::f";
            let r = r#"super::g " super::h"#;
            let b = b"super::i";
            let c = '"'; let q = '\''; let u = '\u{1F600}';
            fn f<'a>(x: &'a str) -> &'a str { x }
            let range = 0..10;
            super::real;
        "##;
        let got = idents(src).join(" ");
        assert!(!["super :: a", "super :: b", "super :: c", "super :: d"].iter().any(|p| got.contains(p)));
        assert!(!["super :: e", "super :: f", "super :: g", "super :: i"].iter().any(|p| got.contains(p)));
        assert!(got.contains("super :: real"), "{got}");
        assert!(got.contains("fn f < > ( x : & str )"), "lifetimes dropped: {got}");
        assert!(got.contains("let range = . ."), "a range is not a fraction: {got}");
    }

    #[test]
    fn lines_are_counted_through_comments_and_strings() {
        let toks = tokens("/*\n\n*/ a\n\"x\ny\" b").unwrap();
        assert_eq!(toks[0], Token { tok: Tok::Ident("a".into()), line: 3 });
        assert_eq!(toks[1], Token { tok: Tok::Ident("b".into()), line: 5 });
    }

    #[test]
    fn unterminated_literals_are_errors() {
        assert!(tokens("let s = \"open").is_err());
        assert!(tokens("/* open").is_err());
    }
}
