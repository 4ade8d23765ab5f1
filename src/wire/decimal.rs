//! Exact decimals in request bodies: megawatts, prices, rates and factors.
//!
//! A decimal is sent as a string of at most 15 integer and 12 fractional digits (`"40"`, `"-12.5"`,
//! `"0.000001"`), or as a JSON integer of at most 15 digits. Both always fit `rust_decimal`'s 28 digits,
//! so nothing is rounded or overflows on the way in. A JSON number with a nonzero fraction is refused:
//! it has been through binary floating point by the time it arrives, and money is exact. [`PATTERN`] is both
//! what is checked and what the OpenAPI document declares ([`WireDecimal`]).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use utoipa::openapi::schema::{OneOfBuilder, SchemaType};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A decimal string.
pub const PATTERN: &str = r"^-?[0-9]{1,15}(\.[0-9]{1,12})?$";
/// The largest integer accepted as a JSON number (15 digits, like the string form).
const MAX_INTEGER: i64 = 999_999_999_999_999;

static RE: LazyLock<Option<regex::Regex>> = LazyLock::new(|| regex::Regex::new(PATTERN).ok());

/// Parses a decimal string against [`PATTERN`].
pub fn parse(s: &str) -> Result<Decimal, String> {
    let err = || format!("{s:?} is not a decimal of at most 15 integer and 12 fractional digits (e.g. \"40.5\")");
    if !RE.as_ref().is_some_and(|re| re.is_match(s)) {
        return Err(err());
    }
    Decimal::from_str(s).map_err(|_| err())
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a decimal string such as \"40.5\", or an integer")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Decimal, E> {
        parse(s).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Decimal, E> {
        if (-MAX_INTEGER..=MAX_INTEGER).contains(&n) {
            Ok(Decimal::from(n))
        } else {
            Err(E::custom(format!("{n} has more than 15 digits")))
        }
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Decimal, E> {
        i64::try_from(n)
            .map_err(|_| E::custom(format!("{n} has more than 15 digits")))
            .and_then(|n| self.visit_i64(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Decimal, E> {
        // An integer written with a zero fraction (`40.0`) is still the integer JSON Schema sees.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        if n.fract() == 0.0 && n.abs() <= MAX_INTEGER as f64 {
            return self.visit_i64(n as i64);
        }
        Err(E::custom(format!(
            "{n} is a binary floating-point number; send decimals as strings (\"{n}\") so they stay exact"
        )))
    }
}

/// `#[serde(deserialize_with = "crate::wire::decimal::de")]`.
pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalVisitor)
}

/// For `Option<Decimal>` (with `#[serde(default)]`): null or absent is `None`.
pub fn de_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrap(#[serde(deserialize_with = "de")] Decimal);
    Ok(<Option<Wrap> as serde::Deserialize>::deserialize(d)?.map(|w| w.0))
}

/// For `Vec<Decimal>`.
pub fn de_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Decimal>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrap(#[serde(deserialize_with = "de")] Decimal);
    Ok(<Vec<Wrap> as serde::Deserialize>::deserialize(d)?
        .into_iter()
        .map(|w| w.0)
        .collect())
}

/// Megawatts measured from telemetry are computed in binary floating point; a response writes them like
/// every other quantity, as a decimal string, rounded to the kilowatt (`48.0` → `"48"`, `12.3456` →
/// `"12.346"`). Not a number (never expected) is written as null.
/// `#[serde(serialize_with = "crate::wire::decimal::ser_measured")]`, schema `value_type = String`.
pub fn ser_measured<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    match measured(*v) {
        Some(d) => s.collect_str(&d),
        None => s.serialize_none(),
    }
}

/// [`ser_measured`] for `Option<f64>` (with `skip_serializing_if = "Option::is_none"`).
pub fn ser_measured_option<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v.and_then(measured) {
        Some(d) => s.collect_str(&d),
        None => s.serialize_none(),
    }
}

fn measured(v: f64) -> Option<Decimal> {
    Decimal::from_f64_retain(v).map(|d| {
        let d = d
            .round_dp_with_strategy(3, RoundingStrategy::MidpointAwayFromZero)
            .normalize();
        if d.is_zero() { Decimal::ZERO } else { d }
    })
}

/// The OpenAPI schema of a request decimal (`#[schema(value_type = WireDecimal)]`); responses write
/// decimals as plain strings.
pub struct WireDecimal;

impl PartialSchema for WireDecimal {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(Type::String))
                    .pattern(Some(PATTERN)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(Type::Integer))
                    .minimum(Some(-MAX_INTEGER as f64))
                    .maximum(Some(MAX_INTEGER as f64)),
            )
            .description(Some("An exact decimal: a string such as \"40.5\", or an integer"))
            .into()
    }
}

impl ToSchema for WireDecimal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_megawatts_are_decimal_strings_to_the_kilowatt() {
        #[derive(serde::Serialize)]
        struct M(#[serde(serialize_with = "ser_measured")] f64);
        for (v, text) in [
            (48.0, "\"48\""),
            (12.3456, "\"12.346\""),
            (0.1 + 0.2, "\"0.3\""),
            (-0.0004, "\"0\""),
            (-2.5, "\"-2.5\""),
            (f64::NAN, "null"),
        ] {
            assert_eq!(serde_json::to_string(&M(v)).unwrap(), text, "{v}");
        }
    }

    #[test]
    fn decimals_are_exact_or_refused() {
        for (text, value) in [
            ("\"40\"", "40"),
            ("\"-12.5\"", "-12.5"),
            ("7", "7"),
            ("40.0", "40"),
            ("\"0.000000000001\"", "0.000000000001"),
        ] {
            let d: Decimal = de(&mut serde_json::Deserializer::from_str(text)).unwrap();
            assert_eq!(d, Decimal::from_str(value).unwrap(), "{text}");
        }
        // Forms rust_decimal would take but round, misread or that are not in the pattern.
        for text in [
            "\"1e5\"",
            "\"1_000\"",
            "\"+5\"",
            "\".5\"",
            "\"5.\"",
            "\"\"",
            "\" 5\"",
            "\"0.0000000000001\"",
            "\"9999999999999999\"",
            "40.1",
            "1e400",
            "1e15",
            "1000000000000000",
            "null",
            "[]",
        ] {
            assert!(de(&mut serde_json::Deserializer::from_str(text)).is_err(), "{text}");
        }
    }
}
