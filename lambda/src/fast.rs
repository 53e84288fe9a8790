//! The scanner's fast path: a reading as devices send it — no escapes, no schema problem, no repeated key,
//! numbers without exponent — compacted and checked in one tight walk. Anything else (a syntax error, the end of
//! input, an escape, `NaN`, a duplicate, a problem to report) makes it give up, and [`crate::scan`], the full
//! scanner, scans the reading again from its start: every verdict and every byte of an unusual reading is the
//! full scanner's, and a usual one comes out exactly as the full scanner writes it (`crate::differential` holds
//! the two side by side).
//!
//! The input is padded ([`PAD`] zero bytes after the text): a zero is no JSON token and ends every loop here
//! (a zero in the text itself is a syntax error or a control character in a string, which the full scanner
//! reports), so the walk reads eight bytes at a time without checking where the text ends.

use crate::scan::{Key, ReadingOutcome, Scan, Scanner, classify, other_key_bit};
use crate::schema::MEASURES;
use crate::time::{HourCache, parse_utc_ms_cached};

/// Zero bytes after the text: more than the fast path ever reads past a byte it has looked at (16).
pub(crate) const PAD: usize = 64;

/// How deep the fast path follows nested values (the full scanner takes over below, up to its own limit).
const MAX_DEPTH: usize = 16;

/// Text followed by [`PAD`] zero bytes: only [`Padded::new`] makes one, so the walk may read past the text.
#[derive(Clone, Copy)]
pub(crate) struct Padded<'a>(&'a [u8]);

impl<'a> Padded<'a> {
    /// `bytes` as text and padding; `None` unless it ends in [`PAD`] zero bytes.
    pub(crate) fn new(bytes: &'a [u8]) -> Option<Self> {
        let text = bytes.len().checked_sub(PAD)?;
        bytes[text..].iter().all(|&b| b == 0).then_some(Padded(bytes))
    }

    pub(crate) fn text(self) -> &'a [u8] {
        &self.0[..self.0.len() - PAD]
    }

    /// The same text without its first `n` bytes (`n` at most the text's length).
    pub(crate) fn skip(self, n: usize) -> Self {
        assert!(n <= self.text().len(), "skipping past the text");
        Padded(&self.0[n..])
    }
}

/// Appends `PAD` zero bytes to `bytes`, so [`Padded::new`] takes it.
pub(crate) fn pad(bytes: &mut Vec<u8>) {
    bytes.resize(bytes.len() + PAD, 0);
}

/// A reading the fast path accepted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Clean {
    /// The offset just after the reading's closing `}`.
    pub(crate) end: usize,
    /// `TIME` as a UTC instant, when present (it is always valid in a clean reading).
    pub(crate) time: Option<i64>,
}

/// The reading at the scanner's position (its `{`, after [`Scanner::next_reading`]), by the fast path when it
/// takes it, else by the full scanner from the reading's start: the outcome, the bytes appended to `out` and the
/// scanner's position after it are the full scanner's either way.
pub(crate) fn reading_or_full(
    text: Padded<'_>,
    scanner: &mut Scanner<'_>,
    hours: &mut HourCache,
    out: &mut Vec<u8>,
) -> Scan<ReadingOutcome> {
    let start = out.len();
    match reading(text, scanner.i, hours, out) {
        Some(clean) => {
            scanner.i = clean.end;
            Ok(ReadingOutcome { problem: None, duplicate_keys: false, time: clean.time })
        }
        None => {
            out.truncate(start);
            scanner.reading(out)
        }
    }
}

/// Scans the reading whose `{` is at `at` in `text`, appending it compacted to `out` (`hours`: the hour of the
/// last `TIME` read, see [`HourCache`]). `None`: not a clean reading; `out` may then hold part of it, and the
/// caller cuts it off.
#[inline(never)]
pub(crate) fn reading(text: Padded<'_>, at: usize, hours: &mut HourCache, out: &mut Vec<u8>) -> Option<Clean> {
    assert!(text.text().get(at) == Some(&b'{'), "a reading starts at its `{{`");
    // What the walk writes is at most what it reads, and it writes at most 15 bytes past that (see `flush`).
    out.reserve(text.0.len() - at);
    let mut walk = Walk { b: text.0, i: at + 1, run: at, out };
    let mut fields = 0u32;
    let mut other_keys = 0u64;
    let mut time = None;
    walk.space();
    if walk.at() == b'}' {
        walk.i += 1;
        walk.flush();
        return Some(Clean { end: walk.i, time });
    }
    loop {
        if walk.at() != b'"' {
            return None;
        }
        let key_start = walk.i + 1;
        walk.string()?;
        let name = &walk.b[key_start..walk.i - 1];
        let (key, known) = walk.key(key_start, name.len());
        if known == 0 {
            let bit = other_key_bit(name);
            if other_keys & bit != 0 {
                return None;
            }
            other_keys |= bit;
        } else if fields & known != 0 {
            return None;
        }
        fields |= known;
        walk.colon()?;
        let value_start = walk.i;
        match key {
            Key::Other if walk.at() == b'"' => walk.string()?,
            Key::Other => walk.value(1)?,
            Key::Measure(_) => match walk.at() {
                b'-' | b'0'..=b'9' => walk.number()?,
                b'n' => walk.literal(b"null")?,
                _ => return None,
            },
            Key::DeviceId if walk.at() == b'"' => walk.string()?,
            Key::Seq if walk.at().is_ascii_digit() => {
                walk.number()?;
                // Digits only (no sign, fraction) and at most 19 of them: a u64. Longer ones the full scanner parses.
                let digits = &walk.b[value_start..walk.i];
                if digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
            }
            Key::Time if walk.at() == b'"' => {
                walk.string()?;
                time = Some(parse_utc_ms_cached(&walk.b[value_start + 1..walk.i - 1], hours)?);
            }
            _ => return None,
        }
        if walk.separated_key() {
            continue;
        }
        walk.space();
        match walk.at() {
            b',' => {
                walk.i += 1;
                walk.space();
            }
            b'}' => {
                walk.i += 1;
                walk.flush();
                return Some(Clean { end: walk.i, time });
            }
            _ => return None,
        }
    }
}

const fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// The walk over one reading. Its invariant, which makes the unchecked reads sound: `i` never passes the end of
/// the text. Every step past a byte first finds that byte to be a JSON token, and the padding's zeros are none,
/// so a loop stops at the text's end at the latest; every read is then within 16 bytes of `i` (or of `run`,
/// which is at most `i`), inside the [`PAD`] zero bytes that follow the text.
struct Walk<'a, 'o> {
    /// The text and its padding.
    b: &'a [u8],
    i: usize,
    /// Start of the bytes not yet copied to `out` (whitespace outside strings is never copied).
    run: usize,
    out: &'o mut Vec<u8>,
}

/// [`Walk::key`] on a name alone (for the test that holds it to [`classify`]).
#[cfg(test)]
pub(crate) fn key_of(name: &[u8]) -> (Key, u32) {
    let mut b = name.to_vec();
    pad(&mut b);
    let walk = Walk { b: &b, i: 0, run: 0, out: &mut Vec::new() };
    walk.key(0, name.len())
}

/// Up to eight bytes of a name as one little-endian word, the bytes after it zero.
const fn word(name: &[u8]) -> u64 {
    let mut w = 0;
    let mut i = name.len();
    while i > 0 {
        i -= 1;
        w = w << 8 | name[i] as u64;
    }
    w
}

// The schema's names as the key walk loads them (a name of the same length and bytes is the same name).
const P: u64 = word(b"P");
const T: u64 = word(b"T");
const CO: u64 = word(b"CO");
const RH: u64 = word(b"RH");
const SEQ: u64 = word(b"seq");
const NO2: u64 = word(b"NO2");
const AQI: u64 = word(b"AQI");
const TIME: u64 = word(b"TIME");
const PM01: u64 = word(b"PM01");
const PM10: u64 = word(b"PM10");
const ECO2: u64 = word(b"eCO2");
const TVOC: u64 = word(b"TVOC");
const PM2_5: u64 = word(b"PM2_5");
const DEVICE_I: u64 = word(b"device_i");
const USER_INP: u64 = word(b"USER_INP");

/// `: ` and `, "` as [`Walk::eight`] loads them.
const COLON_SPACE: u64 = word(b": ");
const SEPARATED_KEY: u64 = word(b", \"");

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

impl Walk<'_, '_> {
    #[inline(always)]
    fn at(&self) -> u8 {
        debug_assert!(self.i < self.b.len());
        // SAFETY: `i` is within the text (the invariant above), and the text is inside `b`.
        unsafe { *self.b.get_unchecked(self.i) }
    }

    /// The eight bytes from `i`, the first in the lowest byte.
    #[inline(always)]
    fn eight(&self) -> u64 {
        debug_assert!(self.i + 8 <= self.b.len());
        // SAFETY: `i` is within the text and [`PAD`] >= 8 bytes follow it in `b`.
        u64::from_le(unsafe { self.b.as_ptr().add(self.i).cast::<u64>().read_unaligned() })
    }

    /// Copies what was scanned since the last whitespace, sixteen bytes at a time.
    #[inline(always)]
    fn flush(&mut self) {
        let n = self.i - self.run;
        let len = self.out.len();
        debug_assert!(self.out.capacity() >= len + n + 15 && self.i + 15 < self.b.len());
        // SAFETY: reads end at most 15 bytes past `i`, inside the padding; writes end at most 15 bytes past the
        // `n` bytes appended, within the capacity `reading` reserved (the walk appends at most what it reads, and
        // it reserved what remains of the text and its padding). `set_len` covers only the `n` bytes copied.
        unsafe {
            let (src, dst) = (self.b.as_ptr().add(self.run), self.out.as_mut_ptr().add(len));
            let mut k = 0;
            loop {
                dst.add(k).cast::<[u8; 16]>().write_unaligned(src.add(k).cast::<[u8; 16]>().read_unaligned());
                k += 16;
                if k >= n {
                    break;
                }
            }
            self.out.set_len(len + n);
        }
        self.run = self.i;
    }

    /// Skips whitespace, leaving it out of the output.
    #[inline(always)]
    fn space(&mut self) {
        if is_space(self.at()) {
            self.flush();
            self.i += 1;
            while is_space(self.at()) {
                self.i += 1;
            }
            self.run = self.i;
        }
    }

    /// After a value, `, "` (as `json.dumps` writes it between fields) in one look: when it is there, the walk
    /// stands at the next key's `"`. Anything else is left to be read a byte at a time.
    #[inline(always)]
    fn separated_key(&mut self) -> bool {
        if self.eight() & 0xFF_FFFF != SEPARATED_KEY {
            return false;
        }
        self.i += 1;
        self.flush();
        self.i += 1;
        self.run = self.i;
        true
    }

    /// `:` between a key and its value, with any whitespace around it.
    #[inline(always)]
    fn colon(&mut self) -> Option<()> {
        // `: ` (as `json.dumps` writes it) then no more whitespace, in one look.
        let w = self.eight();
        if w & 0xFFFF == COLON_SPACE && !is_space((w >> 16) as u8) {
            self.i += 1;
            self.flush();
            self.i += 1;
            self.run = self.i;
            return Some(());
        }
        if self.at() != b':' {
            self.space();
            if self.at() != b':' {
                return None;
            }
        }
        self.i += 1;
        self.space();
        Some(())
    }

    /// The key of `len` bytes at `at` (no escapes) classified as [`classify`] does, from one 8-byte load for the
    /// schema's usual names.
    #[inline(always)]
    fn key(&self, at: usize, len: usize) -> (Key, u32) {
        debug_assert!(at + len < self.b.len() && at + 16 <= self.b.len());
        // SAFETY: the key ends inside the text, which [`PAD`] >= 16 bytes follow.
        let word = |at: usize| u64::from_le(unsafe { self.b.as_ptr().add(at).cast::<u64>().read_unaligned() });
        let w = word(at);
        let head = |n: usize| w & (u64::MAX >> (64 - 8 * n));
        match len {
            1..=5 => match head(len) {
                P => (Key::Measure(MEASURES[9]), 1 << 9),
                T => (Key::Measure(MEASURES[10]), 1 << 10),
                CO => (Key::Measure(MEASURES[2]), 1 << 2),
                RH => (Key::Measure(MEASURES[11]), 1 << 11),
                SEQ => (Key::Seq, 1 << 14),
                NO2 => (Key::Measure(MEASURES[1]), 1 << 1),
                AQI => (Key::Measure(MEASURES[6]), 1 << 6),
                TIME => (Key::Time, 1 << 12),
                PM01 => (Key::Measure(MEASURES[3]), 1 << 3),
                PM10 => (Key::Measure(MEASURES[5]), 1 << 5),
                ECO2 => (Key::Measure(MEASURES[7]), 1 << 7),
                TVOC => (Key::Measure(MEASURES[8]), 1 << 8),
                PM2_5 => (Key::Measure(MEASURES[4]), 1 << 4),
                _ => (Key::Other, 0),
            },
            9 if w == DEVICE_I && self.b[at + 8] == b'd' => (Key::DeviceId, 1 << 13),
            10 if w == USER_INP && self.b[at + 8..at + 10] == *b"UT" => (Key::Measure(MEASURES[0]), 1),
            // The reserved names are refused anyway: the full scanner's classification.
            9 | 10 | 13 | 17 | 21 => classify(&self.b[at..at + len]),
            _ => (Key::Other, 0),
        }
    }

    /// A string without escapes (the next byte is `"`), eight bytes at a time.
    #[inline(always)]
    fn string(&mut self) -> Option<()> {
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        self.i += 1;
        loop {
            let w = self.eight();
            let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
            let special = zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | control;
            if special != 0 {
                self.i += (special.trailing_zeros() / 8) as usize;
                break;
            }
            self.i += 8;
        }
        // A backslash or a control character (the padding's zero included): the full scanner's business.
        (self.at() == b'"').then(|| self.i += 1)
    }

    /// A number without exponent, of at most 300 bytes (the full scanner checks longer ones against f64).
    #[inline(always)]
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.at() == b'-' {
            self.i += 1;
        }
        match self.at() {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.at() == b'.' {
            self.i += 1;
            let fraction = self.i;
            self.digits();
            if self.i == fraction {
                return None;
            }
        }
        // An exponent is left to the full scanner: no separator follows the digits, so the walk gives up there.
        (self.i - start <= 300).then_some(())
    }

    /// Skips ASCII digits, eight at a time.
    #[inline(always)]
    fn digits(&mut self) {
        loop {
            // A digit is 0-9 after the XOR; adding 0x76 sets bit 7 of anything above 9 (a carry out of a byte
            // that is no digit only spoils the bytes after it, and only the first one counts).
            let t = self.eight() ^ (ONES * u64::from(b'0'));
            let other = (t.wrapping_add(ONES * 0x76) | t) & HIGH;
            if other != 0 {
                self.i += (other.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
    }

    /// `true`, `false` or `null` (the padding's zeros match none of them).
    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (&self.b[self.i..end] == word).then(|| self.i = end)
    }

    /// Any value of a field this schema does not know, nested at most [`MAX_DEPTH`] deep.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.at() {
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'{' if depth < MAX_DEPTH => self.container(depth, b'}', true),
            b'[' if depth < MAX_DEPTH => self.container(depth, b']', false),
            _ => None,
        }
    }

    fn container(&mut self, depth: usize, close: u8, object: bool) -> Option<()> {
        self.i += 1;
        self.space();
        if self.at() == close {
            self.i += 1;
            return Some(());
        }
        loop {
            if object {
                if self.at() != b'"' {
                    return None;
                }
                self.string()?;
                self.colon()?;
            }
            self.value(depth + 1)?;
            self.space();
            match self.at() {
                b',' => {
                    self.i += 1;
                    self.space();
                }
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}
