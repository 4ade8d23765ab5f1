//! How strict the wire is about JSON's types: objects come as objects, nothing else; integers come as
//! integers, which JSON Schema says `9.0` also is ([`integer`]).
//!
//! serde's derived `Deserialize` for a struct also accepts a sequence of its fields in declaration order, so
//! `"intervalPeriod": [null, null]` would be read as an empty `intervalPeriod` and stored, a shape the 3.1
//! schema (`type: object`) forbids and no 3.1 client can read back. Types that clients send (structs, and
//! internally tagged enums) therefore derive their serde code with `#[serde(remote = "Self")]` (which makes
//! it inherent functions) and get their trait impls from [`objects_only!`], which deserializes from a map
//! only and otherwise forwards.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};

/// A type whose derived deserializer (`#[serde(remote = "Self")]`) reads it from the entries of a map.
pub trait FromObject<'de>: Sized {
    /// The name serde errors use ("an object (IntervalPeriod)").
    const NAME: &'static str;
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// The visitor [`objects_only!`] hands to `deserialize_map`: anything but a map is "invalid type".
pub struct ObjectVisitor<T>(pub PhantomData<T>);

impl<'de, T: FromObject<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object ({})", T::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

/// Implements `Deserialize` (from a JSON object only) and `Serialize` for structs whose derives carry
/// `#[serde(remote = "Self")]`. `deserialize_only: T` for types that derive no `Serialize`.
macro_rules! objects_only {
    (@de $t:ident) => {
        impl<'de> $crate::wire::strict::FromObject<'de> for $t {
            const NAME: &'static str = stringify!($t);
            fn from_map<A: serde::de::MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                $t::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map($crate::wire::strict::ObjectVisitor::<$t>(std::marker::PhantomData))
            }
        }
    };
    ($($t:ident),* $(,)? $(; deserialize_only: $($d:ident),* $(,)?)?) => {
        $(
            $crate::wire::strict::objects_only!(@de $t);

            impl serde::Serialize for $t {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    $t::serialize(self, s)
                }
            }
        )*
        $($( $crate::wire::strict::objects_only!(@de $d); )*)?
    };
}
pub(crate) use objects_only;

/// `#[serde(deserialize_with = "crate::wire::strict::integer")]`: an integer field that also takes a JSON
/// number with a zero fraction (`9.0`), which JSON Schema counts as an integer and clients that compute
/// with floating point send. Anything else that is not an integer in the field's range is refused.
pub fn integer<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<T, D::Error> {
    struct IntVisitor;
    impl Visitor<'_> for IntVisitor {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<i64, E> {
            Ok(n)
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<i64, E> {
            i64::try_from(n).map_err(|_| E::custom(format!("{n} is out of range")))
        }
        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<i64, E> {
            // Exactly representable integers only: |n| < 2^53.
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                Ok(n as i64)
            } else {
                Err(E::custom(format!("{n} is not an integer")))
            }
        }
    }
    let n = d.deserialize_any(IntVisitor)?;
    T::try_from(n).map_err(|_| serde::de::Error::custom(format!("{n} is out of range")))
}

/// [`integer`] for an optional field (with `#[serde(default)]`).
pub fn integer_option<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(d: D) -> Result<Option<T>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrap(#[serde(deserialize_with = "integer")] i64);
    match <Option<Wrap> as serde::Deserialize>::deserialize(d)? {
        None => Ok(None),
        Some(Wrap(n)) => T::try_from(n)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{n} is out of range"))),
    }
}
