//! Settlement, as pure functions over plain data: reading meter data (CSV and Green Button),
//! baselines, the settlement of a site for a period, and statements with their exports. Imports neither
//! diesel nor actix; `service::settlement` loads the data, calls these, and stores what they return.
//!
//! Rounding, stated once: every intermediate value is an exact decimal (28 significant digits; a mean that
//! does not terminate is cut there). What a statement shows is rounded half away from zero: megawatts and
//! megawatt-hours to [`QTY_DP`] places, factors to [`FACTOR_DP`], money to [`MONEY_DP`] (cents) per line.
//! Totals are the exact sums of the rounded lines they total, so a statement always adds up.

pub mod baseline;
pub mod engine;
pub mod export;
pub mod meter;
pub mod rules;

pub use rust_decimal::Decimal;
use rust_decimal::RoundingStrategy;

/// Decimal places of MW and MWh on a statement.
pub const QTY_DP: u32 = 6;
/// Decimal places of performance factors and adjustment factors.
pub const FACTOR_DP: u32 = 6;
/// Decimal places of money.
pub const MONEY_DP: u32 = 2;

/// The one rounding rule, in words, for statements and the documentation.
pub const ROUNDING_RULE: &str = "exact decimal arithmetic; shown values rounded half away from zero: MW and MWh \
     to 6 places, factors to 6, money to 2 (cents always written) per line; totals are exact sums of the rounded lines";

pub fn qty(d: Decimal) -> Decimal {
    round(d, QTY_DP)
}

pub fn factor(d: Decimal) -> Decimal {
    round(d, FACTOR_DP)
}

/// Money, always with its cents written (`950.00`), as billing systems expect.
pub fn money(d: Decimal) -> Decimal {
    let mut m = d.round_dp_with_strategy(MONEY_DP, RoundingStrategy::MidpointAwayFromZero);
    m.rescale(MONEY_DP);
    m
}

fn round(d: Decimal, dp: u32) -> Decimal {
    d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
}

/// Whether an event asks for less load or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    Shed,
    LoadUp,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "SHED" => Some(Self::Shed),
            "LOAD_UP" => Some(Self::LoadUp),
            _ => None,
        }
    }

    /// What an event sent outside a dispatch asks of a site, by its payload types
    /// (docs/spec-decisions.md, "Events settled"): a cap on imports (`IMPORT_CAPACITY_LIMIT`) or a
    /// `SIMPLE` level asks for less load; a `DISPATCH_SETPOINT` alone, for more (as a load-up dispatch
    /// sends it). Other events (prices, for one) ask for nothing settlement pays for.
    pub fn of_payloads<'a>(types: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut setpoint = false;
        for t in types {
            match t {
                "IMPORT_CAPACITY_LIMIT" | "SIMPLE" => return Some(Self::Shed),
                "DISPATCH_SETPOINT" => setpoint = true,
                _ => {}
            }
        }
        setpoint.then_some(Self::LoadUp)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shed => "SHED",
            Self::LoadUp => "LOAD_UP",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn rounding_is_half_away_from_zero_at_the_stated_places() {
        assert_eq!(money(dec!(0.125)), dec!(0.13));
        assert_eq!(money(dec!(950)).to_string(), "950.00");
        assert_eq!(money(dec!(-0.125)), dec!(-0.13));
        assert_eq!(qty(dec!(50.25)), dec!(50.25));
        assert_eq!(qty(dec!(1) / dec!(3)), dec!(0.333333));
        assert_eq!(factor(dec!(39) / dec!(40)), dec!(0.975));
    }
}
