//! Query parameters. Each operation that takes any declares one struct (`Deserialize` + `IntoParams`): it
//! is what [`from_query`] fills and what the OpenAPI document shows, so a bound is written once, in a type
//! here, and both enforced and documented from there.
//!
//! As in the OpenADR 3.1 specification's `form` style with `explode`, a repeated key (`targets=a&targets=b`,
//! also `targets[]=a`) gives an array; a repeated single-valued key keeps its last value; unknown keys
//! are ignored; a key given with an empty value is given, and must be valid.

use std::collections::HashMap;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IntoDeserializer, Visitor};
use utoipa::openapi::{ArrayBuilder, ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

mod operations;

pub use operations::*;

use super::settlement::{Channel, Format, MeterFormat};
use super::{Name, ObjectType, Page};

/// Most values one array parameter (`targets`) may have.
pub const MAX_VALUES: usize = 50;

/// The page size of OpenADR lists: the largest `limit` (OpenADR 3.1 `limit` parameter, 0..=50), and the
/// default (the specification leaves it to the server).
pub const MAX_LIMIT: i64 = 50;

/// Fills `T` from a query string; the error names the parameter (`query parameter limit: must be …`).
pub fn from_query<T: DeserializeOwned>(qs: &str) -> Result<T, String> {
    // By key, so a query of thousands of keys costs one pass (the URL's length is the only bound).
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in form_urlencoded::parse(qs.as_bytes()) {
        let key = k.strip_suffix("[]").unwrap_or(&k).to_owned();
        groups.entry(key).or_default().push(v.into_owned());
    }
    let map = de::value::MapDeserializer::<_, de::value::Error>::new(groups.into_iter().map(|(k, v)| (k, Values(v))));
    serde_path_to_error::deserialize(map).map_err(|e| {
        let path = e.path().to_string();
        let why = e.into_inner().to_string();
        match why.strip_prefix("missing field ") {
            Some(name) => format!("query parameter {name} is required"),
            None => format!("query parameter {path}: {why}"),
        }
    })
}

/// The values of one key: the last for a single value, all for an array.
struct Values(Vec<String>);

impl<'de> IntoDeserializer<'de, de::value::Error> for Values {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for Values {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_string(self.0.pop().unwrap_or_default())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_seq(de::value::SeqDeserializer::new(self.0.into_iter()))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        mut self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self.0.pop().unwrap_or_default().into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct tuple tuple_struct map struct identifier ignored_any
    }
}

/// A whole number in `0..=MAX` read from its text, with a message naming the bounds.
fn bounded<'de, D: Deserializer<'de>>(d: D, max: i64) -> Result<i64, D::Error> {
    let s = String::deserialize(d)?;
    match s.parse::<i64>() {
        Ok(n) if (0..=max).contains(&n) => Ok(n),
        _ => Err(de::Error::custom(format!("must be an integer in 0..={max}, got {s:?}"))),
    }
}

fn integer_schema(max: i64, description: String) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(max))
        .description(Some(description))
        .into()
}

/// `skip`: how many objects of the list to pass over (default 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skip(pub i64);

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded(d, i64::from(i32::MAX)).map(Self)
    }
}

impl PartialSchema for Skip {
    fn schema() -> RefOr<Schema> {
        integer_schema(
            i64::from(i32::MAX),
            "Objects of the list to pass over (default 0).".into(),
        )
    }
}
impl ToSchema for Skip {}

/// `limit`: most objects in the answer, `0..=MAX`, default `MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit<const MAX: i64>(pub i64);

impl<const MAX: i64> Default for Limit<MAX> {
    fn default() -> Self {
        Self(MAX)
    }
}

impl<'de, const MAX: i64> Deserialize<'de> for Limit<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        bounded(d, MAX).map(Self)
    }
}

impl<const MAX: i64> PartialSchema for Limit<MAX> {
    fn schema() -> RefOr<Schema> {
        integer_schema(MAX, format!("Most objects in the answer (default and maximum {MAX})."))
    }
}
impl<const MAX: i64> ToSchema for Limit<MAX> {}

/// `limit` of an OpenADR list.
pub type ListLimit = Limit<MAX_LIMIT>;
/// `targets`: target values, any of which an object must have.
pub type Targets = Values50<Name>;
/// `objects`: object types.
pub type ObjectTypes = Values50<ObjectType>;

/// A page from its `skip` and `limit`.
pub fn page<const MAX: i64>(skip: Option<Skip>, limit: Option<Limit<MAX>>) -> Page {
    Page {
        skip: skip.unwrap_or_default().0,
        limit: limit.unwrap_or_default().0,
    }
}

/// A UTC calendar day, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub chrono::NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map(Self)
            .map_err(|_| de::Error::custom(format!("must be a date, YYYY-MM-DD, got {s:?}")))
    }
}

impl PartialSchema for Day {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Date,
            )))
            .into()
    }
}
impl ToSchema for Day {}

/// A true/false parameter (`true`/`false`, any case, or `1`/`0`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Self(true)),
            "false" | "0" => Ok(Self(false)),
            _ => Err(de::Error::custom(format!("must be true or false, got {s:?}"))),
        }
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Boolean).into()
    }
}
impl ToSchema for Flag {}

/// Values of an array parameter, sorted and without repeats (their order means nothing, and the read
/// cache keys on them), at most [`MAX_VALUES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values50<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de> + Ord> Deserialize<'de> for Values50<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Vec::<T>::deserialize(d)?;
        v.sort_unstable();
        v.dedup();
        if v.len() > MAX_VALUES {
            return Err(de::Error::custom(format!(
                "at most {MAX_VALUES} values, got {}",
                v.len()
            )));
        }
        Ok(Self(v))
    }
}

impl<T: ToSchema> PartialSchema for Values50<T> {
    fn schema() -> RefOr<Schema> {
        // The values' schema by reference: it is a component of the document already.
        let items = utoipa::openapi::Ref::from_schema_name(T::name());
        ArrayBuilder::new().items(items).max_items(Some(MAX_VALUES)).into()
    }
}
impl<T: ToSchema> ToSchema for Values50<T> {}

impl<T> Values50<T> {
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl Values50<Name> {
    /// The values as text, `None` when there are none.
    pub fn into_strings(this: Option<Self>) -> Option<Vec<String>> {
        let v: Vec<String> = this?.0.into_iter().map(Name::into_string).collect();
        (!v.is_empty()).then_some(v)
    }
}

/// A value with more than one accepted spelling (`greenbutton`, `GreenButton`, `espi`), read by its own
/// `parse`: the one place its spellings are listed.
pub trait Spelled: Sized + ToSchema {
    /// What the value may be, for the error message.
    const EXPECTED: &'static str;
    fn parse(s: &str) -> Option<Self>;
}

/// A [`Spelled`] query value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spelling<T>(pub T);

impl<'de, T: Spelled> Deserialize<'de> for Spelling<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        T::parse(&s)
            .map(Self)
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not {}", T::EXPECTED)))
    }
}

impl<T: Spelled> PartialSchema for Spelling<T> {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::Ref::from_schema_name(T::name()).into()
    }
}
impl<T: Spelled> ToSchema for Spelling<T> {}

impl Spelled for Channel {
    const EXPECTED: &'static str = "delivered, received or net";
    fn parse(s: &str) -> Option<Self> {
        Channel::parse(s)
    }
}

impl Spelled for Format {
    const EXPECTED: &'static str = "json, csv or xml";
    fn parse(s: &str) -> Option<Self> {
        Format::parse(s)
    }
}

impl Spelled for MeterFormat {
    const EXPECTED: &'static str = "csv or greenbutton";
    fn parse(s: &str) -> Option<Self> {
        MeterFormat::parse(s)
    }
}

/// `channel`: which way the energy flowed.
pub type ChannelParam = Spelling<Channel>;
/// `format` of an export.
pub type FormatParam = Spelling<Format>;
/// `format` of a meter-data file.
pub type MeterFormatParam = Spelling<MeterFormat>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_targets_form_one_sorted_array_and_unknown_keys_are_ignored() {
        let q: ProgramQuery = from_query("targets=g2&targets=g1&unknown=1&targets%5B%5D=g1").unwrap();
        assert_eq!(
            Values50::into_strings(q.targets),
            Some(vec!["g1".to_owned(), "g2".to_owned()])
        );
    }

    #[test]
    fn limits_are_enforced_with_the_parameter_named() {
        for bad in ["limit=51", "limit=-1", "skip=-1", "limit=x", "limit="] {
            let e = from_query::<PageQuery>(bad).unwrap_err();
            let name = bad.split('=').next().unwrap();
            assert!(e.starts_with(&format!("query parameter {name}: ")), "{bad}: {e}");
        }
        let q: PageQuery = from_query("skip=3&limit=0").unwrap();
        assert_eq!(q.page(), Page { skip: 3, limit: 0 });
        assert_eq!(from_query::<PageQuery>("").unwrap().page(), Page { skip: 0, limit: 50 });
        assert_eq!(
            from_query::<PageQuery>("limit=1&limit=7").unwrap().page().limit,
            7,
            "the last value counts"
        );
    }

    #[test]
    fn an_array_parameter_takes_at_most_fifty_values() {
        let qs: Vec<String> = (0..51).map(|i| format!("targets=t{i}")).collect();
        let e = from_query::<VenQuery>(&qs.join("&")).unwrap_err();
        assert!(e.contains("targets") && e.contains("at most 50"), "{e}");
    }

    #[test]
    fn a_missing_required_parameter_and_a_bad_day_are_named() {
        assert_eq!(
            from_query::<MeterDaysQuery>("to=2026-07-01").unwrap_err(),
            "query parameter `from` is required"
        );
        let e = from_query::<MeterDaysQuery>("from=2026-07-01&to=July").unwrap_err();
        assert_eq!(e, "query parameter to: must be a date, YYYY-MM-DD, got \"July\"");
    }

    #[test]
    fn identifiers_flags_and_object_types_are_checked() {
        assert!(
            from_query::<EventQuery>("programID=a/b")
                .unwrap_err()
                .starts_with("query parameter programID:")
        );
        assert!(
            from_query::<EventQuery>("active=maybe")
                .unwrap_err()
                .starts_with("query parameter active:")
        );
        assert_eq!(
            from_query::<EventQuery>("active=TRUE").unwrap().active,
            Some(Flag(true))
        );
        let q: SubscriptionQuery = from_query("objects=EVENT&objects=PROGRAM").unwrap();
        assert_eq!(q.objects.unwrap().0.len(), 2);
        assert!(
            from_query::<SubscriptionQuery>("objects=NOPE")
                .unwrap_err()
                .starts_with("query parameter objects")
        );
    }
}
