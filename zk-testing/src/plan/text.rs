//! The text form of a plan: `Display` prints it, `FromStr` parses exactly that back (the
//! grammar is in the module docs of `plan`).

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::time::Duration;

use zk_core::proto::{ErrorCode, OpCode};

use super::{Fault, FaultKind, FaultPlan};
use crate::fault::RequestMatcher;

/// One fault per line; with `{:#}`, all on one line separated by `"; "`.
impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if f.alternate() { "; " } else { "\n" };
        for (i, fault) in self.faults.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            write!(f, "{fault}")?;
        }
        Ok(())
    }
}

/// `at <time>: <action>`, e.g. `at 1.5s: partition client 2 for 12s`.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at {}: {}", Dur(self.at), self.kind)
    }
}

/// The action, e.g. `partition client 2 for 12s`.
impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Expire { client } => write!(f, "expire client {client}"),
            FaultKind::ExpireNow { client } => write!(f, "expire client {client} now"),
            FaultKind::DropConnection { client } => write!(f, "drop connection of client {client}"),
            FaultKind::Partition { client, duration } => {
                write!(f, "partition client {client} for {}", Dur(*duration))
            }
            FaultKind::PauseAll { duration } => write!(f, "pause all for {}", Dur(*duration)),
            FaultKind::LoseReply { matcher } => write!(f, "lose reply to next {}", Matcher(matcher)),
            FaultKind::Fail { matcher, error } => {
                write!(f, "fail next {} with {}", Matcher(matcher), error.name())
            }
            FaultKind::Latency { delay, duration } => {
                write!(f, "latency {} for {}", Dur(*delay), Dur(*duration))
            }
            FaultKind::Restart => f.write_str("restart"),
        }
    }
}

/// A duration in the largest unit below it, exactly: `0s`, `1.5s`, `250ms`, `1.25us`, `7ns`.
struct Dur(Duration);

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        let (unit, name, digits) = match nanos {
            0 => return f.write_str("0s"),
            1_000_000_000.. => (1_000_000_000, "s", 9),
            1_000_000.. => (1_000_000, "ms", 6),
            1_000.. => (1_000, "us", 3),
            _ => (1, "ns", 0),
        };
        write!(f, "{}", nanos / unit)?;
        let frac = nanos % unit;
        if frac > 0 {
            let frac = format!("{frac:0digits$}");
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str(name)
    }
}

/// `request` or an op name, then `under "<prefix>"` if there is a prefix.
struct Matcher<'a>(&'a RequestMatcher);

impl fmt::Display for Matcher<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.op {
            Some(op) => write!(f, "{op:?}")?,
            None => f.write_str("request")?,
        }
        if let Some(prefix) = &self.0.path_prefix {
            f.write_str(" under \"")?;
            for c in prefix.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            f.write_char('"')?;
        }
        Ok(())
    }
}

/// A plan that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePlanError {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters.
    pub column: usize,
    /// What is wrong there.
    pub kind: ParsePlanErrorKind,
}

/// What is wrong with a plan's text, in a [`ParsePlanError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParsePlanErrorKind {
    /// Something else was expected here.
    Expected {
        /// What the grammar allows here, e.g. `"a duration"`.
        expected: &'static str,
        /// What was found (`"end of input"` at the end).
        found: String,
    },
    /// A duration that is malformed, finer than a nanosecond or too long.
    BadDuration(String),
    /// A participant index that is not a number that fits a `usize`.
    BadClient(String),
    /// An unknown operation name.
    UnknownOp(String),
    /// An unknown error code name.
    UnknownErrorCode(String),
    /// A quoted string without its closing quote, or with a bad escape.
    BadString(&'static str),
}

impl fmt::Display for ParsePlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault plan, line {}, column {}: ", self.line, self.column)?;
        match &self.kind {
            ParsePlanErrorKind::Expected { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ParsePlanErrorKind::BadDuration(s) => write!(f, "bad duration {s:?}"),
            ParsePlanErrorKind::BadClient(s) => write!(f, "bad client number {s:?}"),
            ParsePlanErrorKind::UnknownOp(s) => write!(f, "unknown operation {s:?}"),
            ParsePlanErrorKind::UnknownErrorCode(s) => write!(f, "unknown error code {s:?}"),
            ParsePlanErrorKind::BadString(why) => write!(f, "bad string: {why}"),
        }
    }
}

impl std::error::Error for ParsePlanError {}

/// Parses what `Display` prints (either form).
impl FromStr for FaultPlan {
    type Err = ParsePlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parser = Parser { tokens: lex(s)?, next: 0, end: end_position(s) };
        let mut plan = FaultPlan::new();
        // Each round consumes at least one token, so this ends.
        while parser.next < parser.tokens.len() {
            if parser.eat_sep() {
                continue;
            }
            plan.push(parser.fault()?);
            if parser.next < parser.tokens.len() && !parser.eat_sep() {
                return Err(parser.expected("a new line or \";\""));
            }
        }
        Ok(plan)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Colon,
    Sep,
}

#[derive(Debug, Clone, Copy)]
struct Pos {
    line: usize,
    column: usize,
}

fn end_position(s: &str) -> Pos {
    let line = s.split('\n').count();
    let column = s.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos { line, column }
}

fn error(pos: Pos, kind: ParsePlanErrorKind) -> ParsePlanError {
    ParsePlanError { line: pos.line, column: pos.column, kind }
}

/// Splits the text into words, quoted strings, colons and separators, with their positions.
fn lex(s: &str) -> Result<Vec<(Tok, Pos)>, ParsePlanError> {
    let mut tokens = Vec::new();
    let mut chars = s.chars().peekable();
    let mut pos = Pos { line: 1, column: 1 };
    let advance = |pos: &mut Pos, c: char| {
        if c == '\n' {
            *pos = Pos { line: pos.line + 1, column: 1 };
        } else {
            pos.column += 1;
        }
    };
    // Each round consumes at least one character, so this ends.
    while let Some(&c) = chars.peek() {
        let start = pos;
        match c {
            '\n' | ';' => tokens.push((Tok::Sep, start)),
            ':' => tokens.push((Tok::Colon, start)),
            c if c.is_whitespace() => {}
            '"' => {
                chars.next();
                advance(&mut pos, c);
                let text = string(&mut chars, &mut pos, advance)?;
                tokens.push((Tok::Str(text), start));
                continue;
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ':' | ';' | '"') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                    advance(&mut pos, c);
                }
                tokens.push((Tok::Word(word), start));
                continue;
            }
        }
        chars.next();
        advance(&mut pos, c);
    }
    Ok(tokens)
}

/// The rest of a quoted string, after its opening quote.
fn string(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    pos: &mut Pos,
    advance: impl Fn(&mut Pos, char),
) -> Result<String, ParsePlanError> {
    let mut text = String::new();
    let mut next = |pos: &mut Pos| {
        let c = chars.next()?;
        advance(pos, c);
        Some(c)
    };
    let unterminated = |pos: Pos| error(pos, ParsePlanErrorKind::BadString("no closing quote"));
    // Each round consumes a character or returns, so this ends.
    loop {
        let at = *pos;
        let bad_escape = || error(at, ParsePlanErrorKind::BadString("unknown escape"));
        match next(pos).ok_or_else(|| unterminated(*pos))? {
            '"' => return Ok(text),
            '\\' => match next(pos).ok_or_else(|| unterminated(*pos))? {
                '"' => text.push('"'),
                '\\' => text.push('\\'),
                'n' => text.push('\n'),
                'r' => text.push('\r'),
                't' => text.push('\t'),
                'u' => {
                    if next(pos) != Some('{') {
                        return Err(bad_escape());
                    }
                    let mut hex = String::new();
                    let mut closed = false;
                    // A code point has at most 6 hex digits.
                    for _ in 0..7 {
                        match next(pos).ok_or_else(|| unterminated(*pos))? {
                            '}' => {
                                closed = true;
                                break;
                            }
                            h => hex.push(h),
                        }
                    }
                    let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    text.push(c.filter(|_| closed).ok_or_else(bad_escape)?);
                }
                _ => return Err(bad_escape()),
            },
            c => text.push(c),
        }
    }
}

struct Parser {
    tokens: Vec<(Tok, Pos)>,
    next: usize,
    /// The position just after the input, for errors at its end.
    end: Pos,
}

impl Parser {
    fn pos(&self) -> Pos {
        self.tokens.get(self.next).map_or(self.end, |(_, p)| *p)
    }

    fn expected(&self, expected: &'static str) -> ParsePlanError {
        let found = match self.tokens.get(self.next) {
            None => "end of input".to_owned(),
            Some((Tok::Word(w), _)) => format!("{w:?}"),
            Some((Tok::Str(s), _)) => format!("the string {s:?}"),
            Some((Tok::Colon, _)) => "\":\"".to_owned(),
            Some((Tok::Sep, _)) => "the end of the fault".to_owned(),
        };
        error(self.pos(), ParsePlanErrorKind::Expected { expected, found })
    }

    fn eat_sep(&mut self) -> bool {
        let sep = matches!(self.tokens.get(self.next), Some((Tok::Sep, _)));
        self.next += usize::from(sep);
        sep
    }

    /// The next word, if any (not consumed).
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.next) {
            Some((Tok::Word(w), _)) => Some(w),
            _ => None,
        }
    }

    /// Consumes the next word and returns it with its position.
    fn word(&mut self, expected: &'static str) -> Result<(String, Pos), ParsePlanError> {
        match self.tokens.get(self.next) {
            Some((Tok::Word(w), p)) => {
                let found = (w.clone(), *p);
                self.next += 1;
                Ok(found)
            }
            _ => Err(self.expected(expected)),
        }
    }

    /// Consumes `keyword`, or fails saying it was expected.
    fn keyword(&mut self, keyword: &'static str, expected: &'static str) -> Result<(), ParsePlanError> {
        if self.peek_word() == Some(keyword) {
            self.next += 1;
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn fault(&mut self) -> Result<Fault, ParsePlanError> {
        self.keyword("at", "\"at\"")?;
        let at = self.duration()?;
        if !matches!(self.tokens.get(self.next), Some((Tok::Colon, _))) {
            return Err(self.expected("\":\""));
        }
        self.next += 1;
        let kind = self.action()?;
        Ok(Fault { at, kind })
    }

    fn action(&mut self) -> Result<FaultKind, ParsePlanError> {
        const ACTIONS: &str = "a fault (expire, drop, partition, pause, lose, fail, latency or restart)";
        let (word, pos) = self.word(ACTIONS)?;
        Ok(match word.as_str() {
            "expire" => {
                let client = self.client()?;
                if self.peek_word() == Some("now") {
                    self.next += 1;
                    FaultKind::ExpireNow { client }
                } else {
                    FaultKind::Expire { client }
                }
            }
            "drop" => {
                self.keyword("connection", "\"connection\"")?;
                self.keyword("of", "\"of\"")?;
                FaultKind::DropConnection { client: self.client()? }
            }
            "partition" => {
                let client = self.client()?;
                self.keyword("for", "\"for\"")?;
                FaultKind::Partition { client, duration: self.duration()? }
            }
            "pause" => {
                self.keyword("all", "\"all\"")?;
                self.keyword("for", "\"for\"")?;
                FaultKind::PauseAll { duration: self.duration()? }
            }
            "lose" => {
                self.keyword("reply", "\"reply\"")?;
                self.keyword("to", "\"to\"")?;
                self.keyword("next", "\"next\"")?;
                FaultKind::LoseReply { matcher: self.matcher()? }
            }
            "fail" => {
                self.keyword("next", "\"next\"")?;
                let matcher = self.matcher()?;
                self.keyword("with", "\"with\"")?;
                FaultKind::Fail { matcher, error: self.error_code()? }
            }
            "latency" => {
                let delay = self.duration()?;
                self.keyword("for", "\"for\"")?;
                FaultKind::Latency { delay, duration: self.duration()? }
            }
            "restart" => FaultKind::Restart,
            _ => {
                let found = format!("{word:?}");
                return Err(error(pos, ParsePlanErrorKind::Expected { expected: ACTIONS, found }));
            }
        })
    }

    /// `client N`.
    fn client(&mut self) -> Result<usize, ParsePlanError> {
        self.keyword("client", "\"client\"")?;
        let (n, pos) = self.word("a client number")?;
        // Only digits: `usize::from_str` would also take a leading `+`, which Display never prints.
        if n.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = n.parse() {
                return Ok(n);
            }
        }
        Err(error(pos, ParsePlanErrorKind::BadClient(n)))
    }

    fn duration(&mut self) -> Result<Duration, ParsePlanError> {
        let (text, pos) = self.word("a duration")?;
        parse_duration(&text).ok_or_else(|| error(pos, ParsePlanErrorKind::BadDuration(text)))
    }

    /// `request` or an op name, then optionally `under "<prefix>"`.
    fn matcher(&mut self) -> Result<RequestMatcher, ParsePlanError> {
        let (word, pos) = self.word("\"request\" or an operation name")?;
        let op = match word.as_str() {
            "request" => None,
            name => Some(
                OpCode::ALL
                    .iter()
                    .copied()
                    .find(|op| format!("{op:?}") == name)
                    .ok_or_else(|| error(pos, ParsePlanErrorKind::UnknownOp(word.clone())))?,
            ),
        };
        let mut matcher = RequestMatcher { op, path_prefix: None };
        if self.peek_word() == Some("under") {
            self.next += 1;
            match self.tokens.get(self.next) {
                Some((Tok::Str(s), _)) => matcher.path_prefix = Some(s.clone()),
                _ => return Err(self.expected("a quoted path prefix")),
            }
            self.next += 1;
        }
        Ok(matcher)
    }

    fn error_code(&mut self) -> Result<ErrorCode, ParsePlanError> {
        let (name, pos) = self.word("an error code name")?;
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|c| c.name() == name)
            .ok_or_else(|| error(pos, ParsePlanErrorKind::UnknownErrorCode(name)))
    }
}

/// `digits [. digits] unit`, exactly (no rounding), or `None`.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let unit: u128 = match unit {
        "s" => 1_000_000_000,
        "ms" => 1_000_000,
        "us" => 1_000,
        "ns" => 1,
        _ => return None,
    };
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (number.contains('.') && !digits(frac)) || frac.len() > 9 {
        return None;
    }
    let scale = 10u128.pow(frac.len() as u32);
    let frac_value: u128 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
    // Exact only: a fraction finer than a nanosecond is refused.
    if (frac_value * unit) % scale != 0 {
        return None;
    }
    let nanos = whole.parse::<u64>().ok()? as u128 * unit + frac_value * unit / scale;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e: Result<FaultPlan, ParsePlanError>) -> (usize, usize, ParsePlanErrorKind) {
        let e = e.expect_err("should not parse");
        (e.line, e.column, e.kind)
    }

    #[test]
    fn durations_print_exactly_in_the_largest_unit() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(12), "12s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_micros(1250), "1.25ms"),
            (Duration::from_nanos(1250), "1.25us"),
            (Duration::from_nanos(7), "7ns"),
            (Duration::new(3, 1), "3.000000001s"),
            (Duration::MAX, "18446744073709551615.999999999s"),
        ];
        for (d, text) in cases {
            assert_eq!(Dur(d).to_string(), text);
            assert_eq!(parse_duration(text), Some(d), "{text}");
        }
        assert_eq!(parse_duration("1.50s"), Some(Duration::from_millis(1500)));
        for bad in ["", "s", "1", "1.s", ".5s", "1.5", "1m", "1.5.5s", "-1s", "+1s", "1.0000000001s", "0.5ns"]
        {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("18446744073709551616s"), None, "too long");
    }

    #[test]
    fn every_kind_prints_and_parses() {
        let text = "at 0s: expire client 0\n\
                    at 1s: expire client 1 now\n\
                    at 1.5s: drop connection of client 2\n\
                    at 2s: partition client 3 for 12s\n\
                    at 2s: pause all for 250ms\n\
                    at 3s: lose reply to next request\n\
                    at 3s: lose reply to next Create2 under \"/locks/\"\n\
                    at 4s: fail next request under \"/a \\\"b\\\"\\n\" with CONNECTIONLOSS\n\
                    at 4s: fail next SetData with NOAUTH\n\
                    at 5s: latency 100ms for 10s\n\
                    at 60s: restart";
        let plan: FaultPlan = text.parse().unwrap();
        assert_eq!(plan.len(), 11);
        assert_eq!(plan.to_string(), text);
        let kind = &plan.faults()[7].kind;
        let FaultKind::Fail { matcher, error } = kind else { panic!("{kind:?}") };
        assert_eq!((matcher.op, matcher.path_prefix.as_deref()), (None, Some("/a \"b\"\n")));
        assert_eq!(*error, ErrorCode::ConnectionLoss);
        // The one-line form, and indented or `;`-separated input with blank entries.
        assert_eq!(format!("{plan:#}").parse::<FaultPlan>().unwrap(), plan);
        assert!(!format!("{plan:#}").contains('\n'));
        let loose = "\n   at 1s: restart ;; at 0.5s:restart\n\n  at 2s : pause all for 1s  \n";
        assert_eq!(
            loose.parse::<FaultPlan>().unwrap().to_string(),
            "at 500ms: restart\nat 1s: restart\nat 2s: pause all for 1s"
        );
        assert_eq!("".parse::<FaultPlan>().unwrap(), FaultPlan::new());
        assert_eq!(FaultPlan::new().to_string(), "");
    }

    #[test]
    fn control_characters_in_prefixes_round_trip() {
        let m = RequestMatcher::any().path_prefix("/x\u{1}\u{7f};\t\"\\é");
        let plan = FaultPlan::new().at(Duration::ZERO, FaultKind::LoseReply { matcher: m });
        let text = plan.to_string();
        assert_eq!(text, "at 0s: lose reply to next request under \"/x\\u{1}\\u{7f};\\t\\\"\\\\é\"");
        assert_eq!(text.parse::<FaultPlan>().unwrap(), plan);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let expected = |expected, found: &str| ParsePlanErrorKind::Expected { expected, found: found.into() };
        assert_eq!(
            kind("at 1s: restart\nat 2x: restart".parse()),
            (2, 4, ParsePlanErrorKind::BadDuration("2x".into()))
        );
        assert_eq!(kind("restart".parse()), (1, 1, expected("\"at\"", "\"restart\"")));
        assert_eq!(kind("at 1s restart".parse()), (1, 7, expected("\":\"", "\"restart\"")));
        assert_eq!(kind("at 1s: partition client 2".parse()), (1, 26, expected("\"for\"", "end of input")));
        assert_eq!(
            kind("at 1s: partition client x for 1s".parse()),
            (1, 25, ParsePlanErrorKind::BadClient("x".into()))
        );
        assert_eq!(
            kind("at 1s: partition client +1 for 1s".parse()).2,
            ParsePlanErrorKind::BadClient("+1".into())
        );
        assert_eq!(
            kind("at 1s: fail next Create3 with NONODE".parse()).2,
            ParsePlanErrorKind::UnknownOp("Create3".into())
        );
        assert_eq!(
            kind("at 1s: fail next Create2 with NoNode".parse()).2,
            ParsePlanErrorKind::UnknownErrorCode("NoNode".into())
        );
        assert_eq!(kind("at 1s: explode".parse()).1, 8);
        assert_eq!(kind("at 1s: restart now".parse()), (1, 16, expected("a new line or \";\"", "\"now\"")));
        assert_eq!(
            kind("at 1s: lose reply to next request under \"/a".parse()).2,
            ParsePlanErrorKind::BadString("no closing quote")
        );
        assert_eq!(
            kind("at 1s: lose reply to next request under \"\\q\"".parse()).2,
            ParsePlanErrorKind::BadString("unknown escape")
        );
        for bad in ["\\u{110000}", "\\u{0000041}", "\\u{}", "\\u41"] {
            let text = format!("at 1s: lose reply to next request under \"{bad}\"");
            assert_eq!(kind(text.parse()).2, ParsePlanErrorKind::BadString("unknown escape"), "{bad}");
        }
        assert_eq!(
            kind("at 1s: lose reply to next request under /a".parse()).2,
            expected("a quoted path prefix", "\"/a\"")
        );
        let e = "at 1s: restart\n  at 2s: pause all for".parse::<FaultPlan>().unwrap_err();
        assert_eq!((e.line, e.column), (2, 23));
        assert_eq!(e.to_string(), "fault plan, line 2, column 23: expected a duration, found end of input");
    }
}
