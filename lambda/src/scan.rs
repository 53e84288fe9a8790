//! A single-pass JSON scanner for readings: validates the syntax (RFC 8259, as strict as serde_json), checks
//! the schema's field types, and writes the reading compacted (whitespace outside strings removed) — all in one
//! walk over the bytes, with no allocation and no number conversion on the common path.
//!
//! Two things real devices send are kept rather than failed: a measure that is `NaN`, `Infinity` or
//! `-Infinity` (Python's `json.dumps` of a failed float reading) is written as `null`; and a reading with a key
//! twice is written with each key once, holding the last value (what `json.loads` and serde do), the schema
//! checked on that. Duplicates are found on the hot path with one bit per known field and a 64-bit filter for
//! the other keys; the rewrite, which compares the names, runs only for a reading that may have them.
//!
//! Why not serde_json: a visitor over `serde_json::Deserializer` plus a second compaction pass measured
//! ~110 MB/s on the benchmark event; this walk is what reaches the Lambda's throughput target. The property
//! tests check it accepts exactly what serde_json accepts.
//!
//! This is the full scanner: [`crate::fast`] takes a usual reading first, and leaves anything else to it.

use crate::schema::{ARRIVAL_FIELD, MEASURES, PAYLOAD_FIELD, Problem, READING_TIME_FIELD};
use crate::time::parse_utc_ms;

/// serde_json's recursion limit: deeper input is rejected rather than overflowing the stack.
const MAX_DEPTH: usize = 128;

/// Bytes that end the fast path inside a string: `"`, `\` and control characters.
const STRING_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Why scanning stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fail {
    /// Not JSON at this byte offset.
    Syntax(usize),
    /// The input ends inside a value.
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Boolean,
    Null,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Null => "null",
        }
    }
}

/// A field name of a reading, classified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Key {
    Measure(&'static str),
    Time,
    DeviceId,
    Seq,
    Reserved(&'static str),
    Other,
}

/// The key's class, and for a known field its bit in a per-reading mask (0 for any other key).
pub(crate) fn classify(name: &[u8]) -> (Key, u32) {
    match name {
        b"TIME" => (Key::Time, 1 << 12),
        b"device_id" => (Key::DeviceId, 1 << 13),
        b"seq" => (Key::Seq, 1 << 14),
        b"USER_INPUT" => (Key::Measure(MEASURES[0]), 1),
        b"NO2" => (Key::Measure(MEASURES[1]), 1 << 1),
        b"CO" => (Key::Measure(MEASURES[2]), 1 << 2),
        b"PM01" => (Key::Measure(MEASURES[3]), 1 << 3),
        b"PM2_5" => (Key::Measure(MEASURES[4]), 1 << 4),
        b"PM10" => (Key::Measure(MEASURES[5]), 1 << 5),
        b"AQI" => (Key::Measure(MEASURES[6]), 1 << 6),
        b"eCO2" => (Key::Measure(MEASURES[7]), 1 << 7),
        b"TVOC" => (Key::Measure(MEASURES[8]), 1 << 8),
        b"P" => (Key::Measure(MEASURES[9]), 1 << 9),
        b"T" => (Key::Measure(MEASURES[10]), 1 << 10),
        b"RH" => (Key::Measure(MEASURES[11]), 1 << 11),
        n if n == ARRIVAL_FIELD.as_bytes() => (Key::Reserved(ARRIVAL_FIELD), 1 << 15),
        n if n == PAYLOAD_FIELD.as_bytes() => (Key::Reserved(PAYLOAD_FIELD), 1 << 16),
        n if n == READING_TIME_FIELD.as_bytes() => (Key::Reserved(READING_TIME_FIELD), 1 << 17),
        _ => (Key::Other, 0),
    }
}

pub(crate) struct Scanner<'a> {
    b: &'a [u8],
    pub(crate) i: usize,
    /// Start of the bytes not yet copied to the output: only whitespace runs interrupt a copy, so a compact
    /// reading is copied with one `memcpy`.
    run_start: usize,
}

/// One bit of a 64-bit filter for a key that is not a known field, from its length and first and last bytes:
/// a reading's few such keys rarely share one, and a shared bit only sends the reading to the rewrite, which
/// compares the names themselves.
#[inline(always)]
pub(crate) fn other_key_bit(name: &[u8]) -> u64 {
    let (first, last) = (name.first().copied().unwrap_or(0), name.last().copied().unwrap_or(0));
    let mix = (name.len() as u64) ^ (u64::from(first) << 8) ^ (u64::from(last) << 16);
    1 << (mix.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

/// What one reading held besides its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ReadingOutcome {
    /// The first schema problem (of the values that count: the last of a duplicated key).
    pub(crate) problem: Option<Problem>,
    /// The reading had a key more than once (written once, with its last value).
    pub(crate) duplicate_keys: bool,
    /// `TIME` as a UTC instant (milliseconds since the Unix epoch), when present and valid.
    pub(crate) time: Option<i64>,
}

pub(crate) type Scan<T> = Result<T, Fail>;

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Scanner { b: text.as_bytes(), i: 0, run_start: 0 }
    }

    /// Skips whitespace (leaving it out of the output); false at the end of input.
    #[inline]
    pub(crate) fn more(&mut self, out: &mut Vec<u8>) -> bool {
        if let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            out.extend_from_slice(&self.b[self.run_start..self.i]);
            while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
                self.i += 1;
            }
            self.run_start = self.i;
        }
        self.i < self.b.len()
    }

    /// Between readings: skips whitespace (never copied); false at the end of input.
    pub(crate) fn next_reading(&mut self) -> bool {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
        self.run_start = self.i;
        self.i < self.b.len()
    }

    /// Copies what was scanned since the last whitespace.
    fn flush(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.b[self.run_start..self.i]);
        self.run_start = self.i;
    }

    #[inline]
    fn peek(&self) -> Scan<u8> {
        self.b.get(self.i).copied().ok_or(Fail::Eof)
    }

    fn expect(&mut self, out: &mut Vec<u8>, c: u8) -> Scan<()> {
        self.more(out);
        match self.peek()? {
            x if x == c => {
                self.i += 1;
                Ok(())
            }
            _ => Err(Fail::Syntax(self.i)),
        }
    }

    /// Scans one top-level reading (after [`Scanner::next_reading`], the next byte is `{`), writing it
    /// compacted to `out` (non-finite measures as `null`, a duplicated key once with its last value).
    /// Returns the first schema problem found, if any; the syntax is always checked to the end.
    pub(crate) fn reading(&mut self, out: &mut Vec<u8>) -> Scan<ReadingOutcome> {
        // After `next_reading`, nothing of this reading is pending: it starts at the end of `out`.
        let out_start = out.len();
        let mut problem = None;
        let mut fields = 0u32;
        let mut other_keys = 0u64;
        let mut maybe_duplicate = false;
        let mut time = None;
        self.i += 1;
        self.more(out);
        if self.peek()? == b'}' {
            self.i += 1;
            self.flush(out);
            return Ok(ReadingOutcome::default());
        }
        loop {
            self.more(out);
            if self.peek()? != b'"' {
                return Err(Fail::Syntax(self.i));
            }
            let (start, end, escaped) = self.string()?;
            let (key, known) = if escaped {
                // Rare: a field name written with escapes; decode it to classify, and let the rewrite (which
                // compares decoded names) decide whether it repeats another.
                let name = serde_json::from_slice::<String>(&self.b[start..end]).map_err(|_| Fail::Syntax(start))?;
                maybe_duplicate = true;
                classify(name.as_bytes())
            } else {
                let name = &self.b[start + 1..end - 1];
                let (key, known) = classify(name);
                if known == 0 {
                    let bit = other_key_bit(name);
                    maybe_duplicate |= other_keys & bit != 0;
                    other_keys |= bit;
                }
                (key, known)
            };
            // A known field is one bit of a mask; other keys go by fingerprint.
            maybe_duplicate |= fields & known != 0;
            fields |= known;
            self.expect(out, b':')?;
            self.more(out);
            let value_start = self.i;
            // Only a measure may hold Python's non-finite tokens, and they start with `N`, `I` or `-I`.
            let kind = match key {
                Key::Measure(_) if self.at_non_finite() && self.non_finite(out) => Kind::Null,
                _ => self.value(out, 1)?,
            };
            let found = match key {
                Key::Other => None,
                Key::Reserved(field) => Some(Problem::Reserved(field)),
                Key::Measure(field) => {
                    (kind != Kind::Number && kind != Kind::Null).then_some(Problem::NotANumber(field, kind.name()))
                }
                Key::DeviceId => (kind != Kind::String).then_some(Problem::BadDeviceId),
                Key::Seq => {
                    let text = std::str::from_utf8(&self.b[value_start..self.i]).unwrap_or("");
                    let unsigned = text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u64>().is_ok();
                    (kind != Kind::Number || !unsigned).then_some(Problem::BadSeq)
                }
                Key::Time => {
                    time = if kind == Kind::String { self.time_of(value_start) } else { None };
                    time.is_none().then_some(Problem::BadTime)
                }
            };
            if problem.is_none() {
                problem = found;
            }
            self.more(out);
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.flush(out);
                    let outcome = ReadingOutcome { problem, duplicate_keys: false, time };
                    return Ok(if maybe_duplicate { dedup_keys(out, out_start).unwrap_or(outcome) } else { outcome });
                }
                _ => return Err(Fail::Syntax(self.i)),
            }
        }
    }

    /// Whether the value here starts like `NaN`, `Infinity` or `-Infinity` (a number or `null` never does).
    #[inline(always)]
    fn at_non_finite(&self) -> bool {
        match self.b.get(self.i) {
            Some(b'N' | b'I') => true,
            Some(b'-') => self.b.get(self.i + 1) == Some(&b'I'),
            _ => false,
        }
    }

    #[cold]
    fn non_finite(&mut self, out: &mut Vec<u8>) -> bool {
        let rest = &self.b[self.i..];
        let len = match rest.first() {
            Some(b'N') if rest.starts_with(b"NaN") => 3,
            Some(b'I') if rest.starts_with(b"Infinity") => 8,
            Some(b'-') if rest.starts_with(b"-Infinity") => 9,
            _ => return false,
        };
        self.flush(out);
        out.extend_from_slice(b"null");
        self.i += len;
        self.run_start = self.i;
        true
    }

    /// The instant of the `TIME` string just scanned from `start`, if it is a timestamp.
    fn time_of(&self, start: usize) -> Option<i64> {
        let raw = &self.b[start..self.i];
        let inner = &raw[1..raw.len() - 1];
        if inner.contains(&b'\\') {
            serde_json::from_slice::<String>(raw).ok().and_then(|s| parse_utc_ms(s.as_bytes()))
        } else {
            parse_utc_ms(inner)
        }
    }

    /// Scans any JSON value at the current position, writing it compacted.
    pub(crate) fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Scan<Kind> {
        if depth > MAX_DEPTH {
            return Err(Fail::Syntax(self.i));
        }
        match self.peek()? {
            b'"' => self.string().map(|_| Kind::String),
            b'{' => {
                self.container(out, depth, b'}', true)?;
                Ok(Kind::Object)
            }
            b'[' => {
                self.container(out, depth, b']', false)?;
                Ok(Kind::Array)
            }
            b't' => self.literal(b"true", Kind::Boolean),
            b'f' => self.literal(b"false", Kind::Boolean),
            b'n' => self.literal(b"null", Kind::Null),
            b'-' | b'0'..=b'9' => self.number().map(|_| Kind::Number),
            _ => Err(Fail::Syntax(self.i)),
        }
    }

    fn container(&mut self, out: &mut Vec<u8>, depth: usize, close: u8, object: bool) -> Scan<()> {
        self.i += 1;
        self.more(out);
        if self.peek()? == close {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.more(out);
            if object {
                if self.peek()? != b'"' {
                    return Err(Fail::Syntax(self.i));
                }
                self.string()?;
                self.expect(out, b':')?;
                self.more(out);
            }
            self.value(out, depth + 1)?;
            self.more(out);
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Fail::Syntax(self.i)),
            }
        }
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Scan<Kind> {
        let end = self.i + word.len();
        match self.b.get(self.i..end) {
            Some(s) if s == word => {
                self.i = end;
                Ok(kind)
            }
            _ if self.b.len() < end && word.starts_with(&self.b[self.i..]) => Err(Fail::Eof),
            _ => Err(Fail::Syntax(self.i)),
        }
    }

    /// Scans a string (the next byte is `"`); returns its span (quotes included) and whether it has escapes.
    fn string(&mut self) -> Scan<(usize, usize, bool)> {
        let start = self.i;
        let mut escaped = false;
        self.i += 1;
        loop {
            self.skip_plain_string_bytes();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Ok((start, self.i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => self.unicode_escape()?,
                        _ => return Err(Fail::Syntax(self.i)),
                    }
                }
                _ => return Err(Fail::Syntax(self.i)),
            }
        }
    }

    /// Advances to the next `"`, `\` or control character, eight bytes at a time (SWAR).
    #[inline]
    fn skip_plain_string_bytes(&mut self) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // Bit 7 of each byte of the result is set where that byte is zero (exact for the lowest one).
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
            let special = zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | control;
            if special != 0 {
                self.i += (special.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while self.i < self.b.len() && !STRING_SPECIAL[self.b[self.i] as usize] {
            self.i += 1;
        }
    }

    /// After `\u`: four hex digits; a high surrogate must be followed by `\u` and a low one.
    fn unicode_escape(&mut self) -> Scan<()> {
        let code = self.hex4()?;
        match code {
            0xDC00..=0xDFFF => Err(Fail::Syntax(self.i - 4)),
            0xD800..=0xDBFF => {
                if self.b.get(self.i..self.i + 2).is_none() {
                    return Err(Fail::Eof);
                }
                if &self.b[self.i..self.i + 2] != b"\\u" {
                    return Err(Fail::Syntax(self.i));
                }
                self.i += 1;
                match self.hex4()? {
                    0xDC00..=0xDFFF => Ok(()),
                    _ => Err(Fail::Syntax(self.i - 4)),
                }
            }
            _ => Ok(()),
        }
    }

    /// Reads `uXXXX` (the `u` included) and returns the code unit.
    fn hex4(&mut self) -> Scan<u32> {
        self.i += 1;
        let mut code = 0;
        for _ in 0..4 {
            let digit = (self.peek()? as char).to_digit(16).ok_or(Fail::Syntax(self.i))?;
            code = code * 16 + digit;
            self.i += 1;
        }
        Ok(code)
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    #[inline]
    fn number(&mut self) -> Scan<()> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return Err(Fail::Syntax(self.i)),
        }
        let mut plain = true;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.peek().map_or(Fail::Eof, |_| Fail::Syntax(self.i)));
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            plain = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.peek().map_or(Fail::Eof, |_| Fail::Syntax(self.i)));
            }
        }
        let text = &self.b[start..self.i];
        // Like serde_json, refuse numbers beyond f64's range: every consumer downstream parses them.
        if !plain || text.len() > 300 {
            let finite = std::str::from_utf8(text).ok().and_then(|t| t.parse::<f64>().ok()).is_some_and(f64::is_finite);
            if !finite {
                return Err(Fail::Syntax(start));
            }
        }
        Ok(())
    }
}

/// 1-based line and column of a byte offset, for error messages.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = 1 + memchr::memchr_iter(b'\n', before).count();
    let column = offset - memchr::memrchr(b'\n', before).map_or(0, |p| p + 1) + 1;
    (line, column)
}

/// A byte range of a reading.
type Span = (usize, usize);

/// The fields of a compact reading: (decoded key, key span, value span), in order of appearance.
fn fields(reading: &str) -> Option<Vec<(String, Span, Span)>> {
    let mut scanner = Scanner::new(reading);
    let mut sink = Vec::new();
    let mut fields = Vec::new();
    scanner.i = 1;
    if reading.as_bytes().get(1) == Some(&b'}') {
        return Some(fields);
    }
    loop {
        let (key_start, key_end, _) = scanner.string().ok()?;
        let key: String = serde_json::from_slice(&reading.as_bytes()[key_start..key_end]).ok()?;
        scanner.i += 1; // ':' (the reading is compact)
        let value_start = scanner.i;
        scanner.value(&mut sink, 1).ok()?;
        fields.push((key, (key_start, key_end), (value_start, scanner.i)));
        match reading.as_bytes().get(scanner.i) {
            Some(b',') => scanner.i += 1,
            _ => return Some(fields),
        }
    }
}

/// Leaves `key` out of the compact reading at `out[start..]` (after [`Scanner::reading`], each key is there
/// once): the field and one comma beside it are cut in place, the other fields are not touched.
pub(crate) fn remove_key(out: &mut Vec<u8>, start: usize, key: &str) {
    if memchr::memmem::find(&out[start..], key.as_bytes()).is_none() {
        return;
    }
    if let Some((from, to)) = field_span(&out[start..], key) {
        out.drain(start + from..start + to);
    }
}

/// The bytes of `key`'s field in a compact reading, with one comma beside it.
fn field_span(reading: &[u8], key: &str) -> Option<(usize, usize)> {
    let text = std::str::from_utf8(reading).ok()?;
    let mut scanner = Scanner::new(text);
    let mut sink = Vec::new();
    scanner.i = 1;
    if reading.get(1) == Some(&b'}') {
        return None;
    }
    loop {
        let field_start = scanner.i;
        let (key_start, key_end, escaped) = scanner.string().ok()?;
        let name = &reading[key_start + 1..key_end - 1];
        let matches = if escaped {
            serde_json::from_slice::<String>(&reading[key_start..key_end]).ok()? == key
        } else {
            name == key.as_bytes()
        };
        scanner.i += 1; // ':' (the reading is compact)
        scanner.value(&mut sink, 1).ok()?;
        let comma = reading.get(scanner.i) == Some(&b',');
        if matches {
            return Some(match (comma, field_start > 1) {
                (true, _) => (field_start, scanner.i + 1),
                (false, true) => (field_start - 1, scanner.i),
                (false, false) => (field_start, scanner.i),
            });
        }
        if !comma {
            return None;
        }
        scanner.i += 1;
    }
}

/// Rewrites the compact reading at `out[start..]` with each key once, at its first place, holding its last
/// value, and checks the schema on the result. `None` when no key was in fact repeated (a fingerprint match
/// of different keys): the reading stays as it is.
#[cold]
#[inline(never)]
fn dedup_keys(out: &mut Vec<u8>, start: usize) -> Option<ReadingOutcome> {
    let reading = std::str::from_utf8(&out[start..]).ok()?.to_owned();
    let mut fields = fields(&reading)?;
    if fields.is_empty() {
        return None;
    }
    let mut kept: Vec<usize> = Vec::with_capacity(fields.len());
    let mut repeated = false;
    for i in 0..fields.len() {
        match kept.iter().position(|&k| fields[k].0 == fields[i].0) {
            // The first place keeps its key; the last value replaces the earlier one.
            Some(at) => {
                repeated = true;
                let first = kept[at];
                fields[first].2 = fields[i].2;
            }
            None => kept.push(i),
        }
    }
    if !repeated {
        return None;
    }
    let bytes = reading.as_bytes();
    let mut rewritten = Vec::with_capacity(bytes.len());
    rewritten.push(b'{');
    for (n, &i) in kept.iter().enumerate() {
        if n > 0 {
            rewritten.push(b',');
        }
        let (_, (ks, ke), (vs, ve)) = &fields[i];
        rewritten.extend_from_slice(&bytes[*ks..*ke]);
        rewritten.push(b':');
        rewritten.extend_from_slice(&bytes[*vs..*ve]);
    }
    rewritten.push(b'}');
    let text = std::str::from_utf8(&rewritten).ok()?;
    let mut check = Scanner::new(text);
    check.next_reading();
    let mut checked = Vec::with_capacity(rewritten.len());
    let outcome = check.reading(&mut checked).ok()?;
    out.truncate(start);
    out.extend_from_slice(&checked);
    Some(ReadingOutcome { duplicate_keys: true, ..outcome })
}
