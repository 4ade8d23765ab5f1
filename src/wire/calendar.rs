//! The wire form of a site's weekly availability: days of the week, times of day, windows. Their rules
//! (which minutes of the week a window covers) are in `crate::flex::calendar`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// JSON objects only (see crate::wire::strict).
super::strict::objects_only!(Window);

/// Days of the week, as windows name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Self::Mon,
        Self::Tue,
        Self::Wed,
        Self::Thu,
        Self::Fri,
        Self::Sat,
        Self::Sun,
    ];

    pub fn index(self) -> u32 {
        self as u32
    }

    pub fn from_chrono(d: chrono::Weekday) -> Self {
        Self::ALL[d.num_days_from_monday() as usize]
    }
}

/// A time of day `HH:MM` (00:00..=24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(u32);

impl TimeOfDay {
    pub fn minutes(self) -> u32 {
        self.0
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || format!("{s:?} is not a time of day HH:MM (00:00 to 24:00)");
        let (h, m) = s.split_once(':').ok_or_else(err)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(err());
        }
        let h: u32 = h.parse().map_err(|_| err())?;
        let m: u32 = m.parse().map_err(|_| err())?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return Err(err());
        }
        Ok(Self(h * 60 + m))
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for TimeOfDay {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"))
            .examples([serde_json::json!("06:00")])
            .into()
    }
}
impl ToSchema for TimeOfDay {}

/// A weekly availability window in the site's time zone: on each of `days`, from `from` to `to`. A window
/// whose `to` is not after `from` runs past midnight into the next day (22:00–06:00); `from` = `to` is the
/// whole day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct Window {
    /// The days the window starts on; all seven when absent.
    #[serde(default = "all_days")]
    pub days: Vec<Weekday>,
    pub from: TimeOfDay,
    pub to: TimeOfDay,
}

fn all_days() -> Vec<Weekday> {
    Weekday::ALL.to_vec()
}
