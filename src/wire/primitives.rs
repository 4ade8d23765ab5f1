//! Constrained strings, times and durations of the OpenADR 3.1 wire format.
//!
//! Every newtype validates while it is deserialized ("parse, don't validate"), so a value of one of these
//! types is known to satisfy the spec's schema; a violation surfaces as a serde error the API turns into a 400.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// Declares a string newtype whose length (in characters) is bounded and, when `$pattern` is given, that
/// matches it, with serde and OpenAPI support. The one pattern string is both what is checked and what
/// the OpenAPI document declares (it must mean the same to the `regex` crate and to ECMA-262).
macro_rules! bounded_string {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr, $pattern:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MIN: usize = $min;
            pub const MAX: usize = $max;

            /// Checks `value` against the schema's constraints.
            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                let len = value.chars().count();
                if !($min..=$max).contains(&len) {
                    return Err(format!(
                        "{} must be {}..={} characters, got {}",
                        $what, $min, $max, len
                    ));
                }
                static PATTERN: std::sync::LazyLock<Option<regex::Regex>> =
                    std::sync::LazyLock::new(|| compile_pattern($pattern));
                if let Some(p) = PATTERN.as_ref().filter(|p| !p.is_match(&value)) {
                    return Err(format!("{} {:?} does not match {}", $what, value, p.as_str()));
                }
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(de::Error::custom)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some($min))
                    .max_length((($max) != usize::MAX).then_some($max))
                    .pattern($pattern)
                    .into()
            }
        }

        impl ToSchema for $name {}
    };
}

/// A pattern of [`bounded_string!`], compiled once. The patterns are constants of this file, each checked
/// by a test, so one that does not compile is a programming error: it then matches everything rather than
/// stopping the server, and the tests fail.
fn compile_pattern(pattern: Option<&str>) -> Option<regex::Regex> {
    pattern.and_then(|p| regex::Regex::new(p).ok())
}

bounded_string!(
    /// `objectID`: VTN-assigned, URL-safe, `^[a-zA-Z0-9_-]*$`, 1..128 characters.
    ObjectId, 1, 128, Some("^[a-zA-Z0-9_-]*$"), "objectID"
);
/// No text Sluice accepts holds U+0000: PostgreSQL cannot store it, and no name or label needs it
/// (docs/spec-decisions.md, "Where Sluice is stricter than the 3.1 yaml").
const NO_NUL: &str = r"^[^\x00]*$";

bounded_string!(
    /// A 1..128 character name or identifier: programName, venName, clientName, clientID, resourceName,
    /// target, valuesMap type, payloadType, units, readingType.
    Name, 1, 128, Some(NO_NUL), "value"
);
bounded_string!(
    /// Free text of any length: eventName, reportName, a string payload value.
    Text, 0, usize::MAX, Some(NO_NUL), "text"
);
bounded_string!(
    /// A site's free-form location (address, substation, load zone): at most 1000 characters.
    Location, 0, 1000, Some(NO_NUL), "location"
);
bounded_string!(
    /// A URI of 2..8000 characters (callbackUrl, programDescriptions URL, tokenURL): RFC 3986's scheme, a
    /// colon, and no whitespace or control characters.
    Uri, 2, 8000, Some(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f-\x9f]*$"), "URI"
);
bounded_string!(
    /// An ISO 4217 currency code such as `USD`.
    Currency, 3, 3, Some("^[A-Z]{3}$"), "currency"
);

impl Currency {
    pub fn usd() -> Self {
        Self("USD".into())
    }
}

impl ObjectId {
    /// A fresh VTN-assigned identifier: a UUIDv7, time-ordered so that ordering by id is creation order.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

/// A target string (1..128 characters).
pub type Target = Name;

/// An RFC 3339 timestamp, normalized to UTC.
///
/// Lenient on input: the spec's own "now" markers `0001-01-01` and `0001-01-01T00:00:00` carry no offset
/// and are accepted (as UTC), as is any RFC 3339 offset. Always written with `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireDateTime(pub DateTime<Utc>);

impl WireDateTime {
    /// The start value that means "now" (intervalPeriod description, UG §7).
    pub fn is_now_marker(&self) -> bool {
        self.0 == now_marker()
    }

    /// Parses a date-time of the years 0001 to 9999 (RFC 3339's four-digit years): anything further out
    /// is refused here, so that no time a client sends can overflow arithmetic or storage later.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = Self::parse_any(s).ok_or_else(|| format!("{s:?} is not an RFC 3339 date-time"))?;
        if !in_range(&t) {
            return Err(format!("{s:?} is outside the years 0001 to 9999"));
        }
        Ok(Self(t))
    }

    fn parse_any(s: &str) -> Option<DateTime<Utc>> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        // Lenient forms: a bare date, or a date-time without offset (both seen in the spec's examples).
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
            && let Some(t) = d.and_hms_opt(0, 0, 0)
        {
            return Some(Utc.from_utc_datetime(&t));
        }
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
            .map(|t| Utc.from_utc_datetime(&t))
    }
}

/// Whether `t` lies in the years 0001 to 9999, the range of every date-time Sluice accepts or computes
/// from what clients send (docs/spec-decisions.md, "Date-times and durations have bounds").
pub fn in_range(t: &DateTime<Utc>) -> bool {
    (1..=9999).contains(&chrono::Datelike::year(t))
}

/// `0001-01-01T00:00:00Z`, the spec's marker for "now".
pub fn now_marker() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Formats a time the way every response does: RFC 3339, UTC, `Z`, sub-seconds only when present.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl Serialize for WireDateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(&self.0))
    }
}

impl<'de> Deserialize<'de> for WireDateTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

impl PartialSchema for WireDateTime {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .description(Some("RFC 3339 date-time"))
            .into()
    }
}
impl ToSchema for WireDateTime {}

/// An ISO 8601 duration as the spec's pattern allows, kept exactly as it was sent (`PT1H` stays `PT1H`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireDuration {
    raw: String,
    negative: bool,
    years: u64,
    months: u64,
    /// Weeks are folded into days.
    days: u64,
    hours: u64,
    minutes: u64,
    /// Seconds in microseconds (the spec allows a decimal fraction of seconds).
    micros: u64,
}

impl WireDuration {
    /// `P9999Y`, the spec's "infinity".
    pub fn is_infinite(&self) -> bool {
        !self.negative && self.years >= 9999
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The spec's pattern `^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`
    /// with each number's digits bounded ([`DURATION_DIGITS`]): what [`WireDuration::parse`] accepts and
    /// the OpenAPI document declares.
    pub fn pattern() -> String {
        let [y, mo, d, h, mi, s, f] = DURATION_DIGITS.map(|(_, n)| n);
        format!(
            r"^(-?)P(?=\d|T\d)(?:(\d{{1,{y}}})Y)?(?:(\d{{1,{mo}}})M)?(?:(\d{{1,{d}}})([DW]))?(?:T(?:(\d{{1,{h}}})H)?(?:(\d{{1,{mi}}})M)?(?:(\d{{1,{s}}}(?:\.\d{{1,{f}}})?)S)?)?$"
        )
    }

    /// Parses what [`WireDuration::pattern`] matches, by hand (its look-ahead is not supported by the
    /// `regex` crate).
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || not_a_duration(s);
        let mut d = WireDuration {
            raw: s.to_owned(),
            negative: false,
            years: 0,
            months: 0,
            days: 0,
            hours: 0,
            minutes: 0,
            micros: 0,
        };
        let mut rest = s;
        if let Some(r) = rest.strip_prefix('-') {
            d.negative = true;
            rest = r;
        }
        rest = rest.strip_prefix('P').ok_or_else(err)?;
        // Look-ahead: P must be followed by a digit or by T and a digit.
        let first = rest.as_bytes().first().copied();
        let second = rest.as_bytes().get(1).copied();
        match (first, second) {
            (Some(c), _) if c.is_ascii_digit() => {}
            (Some(b'T'), Some(c)) if c.is_ascii_digit() => {}
            _ => return Err(err()),
        }
        let (date, time) = match rest.split_once('T') {
            Some((date, time)) => (date, Some(time)),
            None => (rest, None),
        };
        parse_date_part(s, date, &mut d)?;
        if let Some(time) = time {
            parse_time_part(s, time, &mut d)?;
        }
        Ok(d)
    }

    /// The duration as a chrono span. Years count as 365 days and months as 30 days (the spec gives no
    /// calendar for them); `None` for P9999Y-style infinity or on overflow.
    pub fn to_chrono(&self) -> Option<chrono::Duration> {
        if self.is_infinite() {
            return None;
        }
        let days = self
            .years
            .checked_mul(365)?
            .checked_add(self.months.checked_mul(30)?)?
            .checked_add(self.days)?;
        let secs = days
            .checked_mul(86_400)?
            .checked_add(self.hours.checked_mul(3600)?)?
            .checked_add(self.minutes.checked_mul(60)?)?;
        let micros = secs.checked_mul(1_000_000)?.checked_add(self.micros)?;
        let micros = i64::try_from(micros).ok()?;
        let span = chrono::Duration::microseconds(micros);
        Some(if self.negative { -span } else { span })
    }
}

/// `s` is not a duration: the message.
fn not_a_duration(s: &str) -> String {
    format!("{s:?} is not an ISO 8601 duration (e.g. PT1H, P1D, -PT5M)")
}

/// The date part of duration `s` (after `P`, before `T`) into `d`.
fn parse_date_part(s: &str, date: &str, d: &mut WireDuration) -> Result<(), String> {
    let err = || not_a_duration(s);
    // Optional Y, M, then D or W, in that order.
    let mut order = 0;
    let mut part = date;
    while !part.is_empty() {
        let digits = part.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let (num, tail) = part.split_at(digits);
        let n: u64 = num.parse().map_err(|_| err())?;
        let unit = tail.chars().next().ok_or_else(err)?;
        let rank = match unit {
            'Y' => 1,
            'M' => 2,
            'D' | 'W' => 3,
            _ => return Err(err()),
        };
        check_digits(s, if unit == 'W' { 'D' } else { unit }, digits)?;
        if rank <= order {
            return Err(err());
        }
        order = rank;
        match unit {
            'Y' => d.years = n,
            'M' => d.months = n,
            'D' => d.days = n,
            _ => d.days = n.checked_mul(7).ok_or_else(err)?,
        }
        part = &tail[1..];
    }
    Ok(())
}

/// The time part of duration `s` (after `T`) into `d`.
fn parse_time_part(s: &str, time: &str, d: &mut WireDuration) -> Result<(), String> {
    let err = || not_a_duration(s);
    let mut order = 0;
    let mut part = time;
    while !part.is_empty() {
        let digits = part.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if digits == 0 {
            return Err(err());
        }
        let (num, tail) = part.split_at(digits);
        let unit = tail.chars().next().ok_or_else(err)?;
        let rank = match unit {
            'H' => 1,
            'M' => 2,
            'S' => 3,
            _ => return Err(err()),
        };
        if rank <= order {
            return Err(err());
        }
        order = rank;
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        check_digits(s, if unit == 'M' { 'm' } else { unit }, whole.len())?;
        check_digits(s, '.', frac.len())?;
        if unit == 'S' {
            d.micros = parse_seconds_micros(num).ok_or_else(err)?;
        } else {
            if num.contains('.') {
                return Err(err());
            }
            let n: u64 = num.parse().map_err(|_| err())?;
            if unit == 'H' {
                d.hours = n;
            } else {
                d.minutes = n;
            }
        }
        part = &tail[1..];
    }
    Ok(())
}

/// Most digits of each number of a duration: years, months, days or weeks, hours, minutes, whole seconds,
/// fractional seconds. The longest finite duration they allow (P9998Y99999M999999WT9999999H…) is about
/// 43,600 years, so adding one to any date-time Sluice accepts stays within chrono's range and a
/// microsecond count within `i64` (docs/spec-decisions.md, "Date-times and durations have bounds").
const DURATION_DIGITS: [(char, usize); 7] = [('Y', 4), ('M', 5), ('D', 6), ('H', 7), ('m', 9), ('S', 11), ('.', 9)];

fn check_digits(s: &str, unit: char, digits: usize) -> Result<(), String> {
    match DURATION_DIGITS.iter().find(|(u, _)| *u == unit) {
        Some((_, max)) if digits > *max => Err(format!(
            "{s:?}: a duration's numbers have at most {max} digits here (P9999Y means infinity)"
        )),
        _ => Ok(()),
    }
}

fn parse_seconds_micros(num: &str) -> Option<u64> {
    let (whole, frac) = match num.split_once('.') {
        Some((w, f)) if !w.is_empty() && !f.is_empty() && !f.contains('.') => (w, f),
        Some(_) => return None,
        None => (num, ""),
    };
    let whole: u64 = whole.parse().ok()?;
    let mut micros_str: String = frac.chars().take(6).collect();
    while micros_str.len() < 6 {
        micros_str.push('0');
    }
    let frac: u64 = micros_str.parse().ok()?;
    whole.checked_mul(1_000_000)?.checked_add(frac)
}

impl fmt::Display for WireDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for WireDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for WireDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

impl PartialSchema for WireDuration {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("ISO 8601 duration, e.g. PT1H; P9999Y means infinity"))
            .pattern(Some(Self::pattern()))
            .into()
    }
}
impl ToSchema for WireDuration {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duration_pattern() {
        for ok in ["PT1H", "P9999Y", "-PT5M", "PT0S", "P1DT2H3M4.5S", "P2W", "P1Y2M3D"] {
            assert!(WireDuration::parse(ok).is_ok(), "{ok} should parse");
        }
        for bad in [
            "1 hour", "P0S", "P", "PT", "PT1.5H", "P1H", "PT1M1H", "P1D1Y", "", "--PT1H", "P1.5D",
        ] {
            assert!(WireDuration::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn duration_spans() {
        let d = WireDuration::parse("PT1H30M").unwrap();
        assert_eq!(d.to_chrono(), Some(chrono::Duration::minutes(90)));
        assert_eq!(
            WireDuration::parse("-PT5M").unwrap().to_chrono(),
            Some(chrono::Duration::minutes(-5))
        );
        assert_eq!(
            WireDuration::parse("PT0.25S").unwrap().to_chrono(),
            Some(chrono::Duration::milliseconds(250))
        );
        assert!(WireDuration::parse("P9999Y").unwrap().to_chrono().is_none());
        assert!(WireDuration::parse("P9999Y1D").unwrap().is_infinite());
        for huge in [
            "P10000Y",
            "P4000000D",
            "PT9999999999999H",
            "-P3650001D",
            "PT1.0000000001S",
        ] {
            assert!(WireDuration::parse(huge).is_err(), "{huge} should be refused");
        }
        // The longest the digit bounds allow still adds to any accepted date-time without overflow.
        let longest = WireDuration::parse("P9998Y99999M999999WT9999999H999999999M99999999999.999999999S").unwrap();
        let span = longest.to_chrono().unwrap();
        assert!(span < chrono::Duration::days(44_000 * 365), "{span}");
        let last = WireDateTime::parse("9999-12-31T23:59:59Z").unwrap().0;
        assert!(last.checked_add_signed(span).is_some() && last.checked_sub_signed(span).is_some());
    }

    #[test]
    fn now_marker_and_bad_dates() {
        assert!(WireDateTime::parse("0001-01-01T00:00:00Z").unwrap().is_now_marker());
        assert!(WireDateTime::parse("0001-01-01").unwrap().is_now_marker());
        assert!(WireDateTime::parse("0001-01-01T00:00:00").unwrap().is_now_marker());
        assert!(WireDateTime::parse("not-a-date").is_err());
        for far in [
            "-262143-01-01T00:00:00",
            "+262142-12-31T23:59:59",
            "+10000-01-01T00:00:00Z",
            "0000-12-31T23:59:59Z",
        ] {
            let e = WireDateTime::parse(far).unwrap_err();
            assert!(e.contains("0001 to 9999") || e.contains("RFC 3339"), "{far}: {e}");
        }
        assert!(WireDateTime::parse("9999-12-31T23:59:59.999999Z").is_ok());
        let t = WireDateTime::parse("2023-06-15T11:30:00+02:00").unwrap();
        assert_eq!(format_time(&t.0), "2023-06-15T09:30:00Z");
    }

    #[test]
    fn every_pattern_compiles_and_is_enforced() {
        assert!(Uri::parse("https://vtn.example/cb?x=1").is_ok());
        for bad in ["no-scheme", "1http://x", "https://x y", "https://x\u{85}"] {
            assert!(Uri::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Currency::parse("EUR").is_ok());
        assert!(Currency::parse("usd").is_err() && Currency::parse("USDT").is_err());
        assert!(Text::parse("").is_ok() && Text::parse("a\u{0}").is_err());
        assert!(Name::parse("west hub").is_ok() && Name::parse("\u{0}").is_err());
    }

    #[test]
    fn object_ids_are_url_safe() {
        assert!(ObjectId::parse("abc-DEF_09").is_ok());
        assert!(ObjectId::parse("a/b").is_err());
        assert!(ObjectId::parse("").is_err());
        assert!(ObjectId::parse("x".repeat(129)).is_err());
        let id = ObjectId::generate();
        assert!(ObjectId::parse(id.as_str()).is_ok());
    }

    proptest! {
        #[test]
        fn durations_round_trip_as_sent(neg in any::<bool>(), y in proptest::option::of(0u32..20000), m in proptest::option::of(0u32..100),
                                       d in proptest::option::of(0u32..1000), h in proptest::option::of(0u32..100),
                                       mi in proptest::option::of(0u32..100), s in proptest::option::of(0u32..100000), frac in proptest::option::of(0u32..1000)) {
            let mut text = String::new();
            if neg { text.push('-'); }
            text.push('P');
            if let Some(y) = y { text.push_str(&format!("{y}Y")); }
            if let Some(m) = m { text.push_str(&format!("{m}M")); }
            if let Some(d) = d { text.push_str(&format!("{d}D")); }
            let has_time = h.is_some() || mi.is_some() || s.is_some();
            if has_time {
                text.push('T');
                if let Some(h) = h { text.push_str(&format!("{h}H")); }
                if let Some(mi) = mi { text.push_str(&format!("{mi}M")); }
                if let Some(s) = s {
                    match frac { Some(f) => text.push_str(&format!("{s}.{f}S")), None => text.push_str(&format!("{s}S")) }
                }
            }
            // Each number within its digits (years at most 4: P9999Y is infinity).
            let bounded = y.unwrap_or(0) < 10_000;
            let valid = (y.is_some() || m.is_some() || d.is_some() || has_time) && bounded;
            let parsed = WireDuration::parse(&text);
            prop_assert_eq!(parsed.is_ok(), valid, "{}", text);
            if let Ok(parsed) = parsed {
                let json = serde_json::to_string(&parsed).unwrap();
                prop_assert_eq!(json, format!("\"{text}\""));
                let back: WireDuration = serde_json::from_str(&format!("\"{text}\"")).unwrap();
                prop_assert_eq!(back, parsed);
            }
        }

        #[test]
        fn object_id_accepts_exactly_the_spec_alphabet(s in "[a-zA-Z0-9_-]{1,128}", bad in "[^a-zA-Z0-9_-]") {
            prop_assert!(ObjectId::parse(s.clone()).is_ok());
            let joined = format!("{}{}", s, bad);
            prop_assert!(ObjectId::parse(joined).is_err());
        }

        #[test]
        fn names_bound_by_characters_not_bytes(n in 1usize..=128, c in any::<char>().prop_filter("NUL", |c| *c != '\0')) {
            let s: String = std::iter::repeat_n(c, n).collect();
            prop_assert!(Name::parse(s.clone()).is_ok());
            let with_nul = s + "\0";
            prop_assert!(Name::parse(with_nul).is_err());
            let long: String = std::iter::repeat_n(c, 129).collect();
            prop_assert!(Name::parse(long).is_err());
        }
    }
}
