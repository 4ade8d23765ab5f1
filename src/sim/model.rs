//! A flexible-load site as the simulator runs it: miners that curtail within seconds of an instruction
//! (after a response delay with jitter, ramping linearly), and optionally an AI load that bursts while the
//! site's controller offsets it with its miners to hold a power cap. Pure: time is a parameter.

use chrono::{DateTime, Utc};

/// How a site reacts to an instruction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behavior {
    /// Starts curtailing this long after it learns of the event (or at the event's start, if later).
    Responds { delay_secs: f64 },
    /// Reports telemetry but never changes its load.
    Unresponsive,
}

/// An event's instruction: hold the load at `level_mw` (an import limit, or a setpoint for load-up).
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// Tells instructions apart (an event, or one interval of a price event).
    pub key: String,
    /// The event it comes from (reports and acknowledgements name it).
    pub event_id: String,
    pub level_mw: f64,
    pub load_up: bool,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    /// When the site learned of it.
    pub seen: DateTime<Utc>,
}

/// The site.
#[derive(Debug, Clone)]
pub struct SiteModel {
    /// Miners' full draw, MW.
    pub mining_mw: f64,
    /// Peak of the AI load beside the miners, MW (0: a pure mining site).
    pub ai_mw: f64,
    /// The power cap the controller holds with an AI load (the site's maximum import), MW.
    pub cap_mw: f64,
    pub behavior: Behavior,
    /// Seconds from the start of curtailment to the new level.
    pub ramp_secs: f64,
    /// Noise of the miners' draw, as a share of it.
    pub noise: f64,
    pub seed: u64,
    pub instructions: Vec<Instruction>,
}

/// A small deterministic hash in [0, 1) of (seed, n).
pub(crate) fn unit(seed: u64, n: i64) -> f64 {
    let mut x = seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl SiteModel {
    /// When the site's controller takes an instruction in (and acknowledges it); `None`: never.
    pub fn reacts_at(&self, i: &Instruction) -> Option<DateTime<Utc>> {
        match self.behavior {
            Behavior::Unresponsive => None,
            Behavior::Responds { delay_secs } => {
                Some(i.seen + chrono::Duration::milliseconds((delay_secs * 1000.0) as i64))
            }
        }
    }

    /// When the site starts changing its load for an instruction: once it has reacted, not before the
    /// event starts.
    pub fn acts_at(&self, i: &Instruction) -> Option<DateTime<Utc>> {
        self.reacts_at(i).map(|r| r.max(i.start))
    }

    /// The AI load at `t`: bursts of a few tens of seconds between 40 % and 100 % of its peak.
    pub fn ai_at(&self, t: DateTime<Utc>) -> f64 {
        if self.ai_mw <= 0.0 {
            return 0.0;
        }
        let slot = t.timestamp().div_euclid(20);
        self.ai_mw * (0.4 + 0.6 * unit(self.seed ^ 0xA1, slot))
    }

    /// The miners' free-running draw at `t` (with noise).
    fn miners_free(&self, t: DateTime<Utc>) -> f64 {
        let n = unit(self.seed, t.timestamp()) * 2.0 - 1.0;
        self.mining_mw * (1.0 - self.noise + self.noise * n * 0.5)
    }

    /// The site's total draw at `t`, MW.
    pub fn load_at(&self, t: DateTime<Utc>) -> f64 {
        let ai = self.ai_at(t);
        // The controller holds the cap: miners take what the AI load leaves.
        let free = (ai + self.miners_free(t)).min(self.cap_mw.max(ai));
        let active = self
            .instructions
            .iter()
            .filter(|i| i.start <= t && i.end.is_none_or(|e| t < e))
            .filter_map(|i| self.acts_at(i).filter(|a| *a <= t).map(|a| (i, a)))
            .next_back();
        let Some((i, acts)) = active else { return free };
        let progress = if self.ramp_secs <= 0.0 {
            1.0
        } else {
            ((t - acts).num_milliseconds() as f64 / 1000.0 / self.ramp_secs).clamp(0.0, 1.0)
        };
        let target = if i.load_up {
            // Miners fill up to the setpoint, as far as they can.
            i.level_mw.min(ai + self.mining_mw)
        } else {
            // Miners give way until the site is under the limit; the AI load is not curtailed.
            i.level_mw.max(ai).min(free)
        };
        free + (target - free) * progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 7, 1, 16, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    fn miner(behavior: Behavior) -> SiteModel {
        SiteModel {
            mining_mw: 40.0,
            ai_mw: 0.0,
            cap_mw: 50.0,
            behavior,
            ramp_secs: 10.0,
            noise: 0.0,
            seed: 7,
            instructions: vec![Instruction {
                key: "e".into(),
                event_id: "e".into(),
                level_mw: 8.0,
                load_up: false,
                start: at(0),
                end: Some(at(600)),
                seen: at(-60),
            }],
        }
    }

    #[test]
    fn a_miner_curtails_after_its_delay_and_ramps_to_the_limit() {
        let m = miner(Behavior::Responds { delay_secs: 70.0 });
        assert_eq!(m.load_at(at(5)), 40.0, "learned at −60 s, acts at +10 s");
        assert_eq!(m.load_at(at(15)), 24.0, "half way down the 10 s ramp");
        assert_eq!(m.load_at(at(30)), 8.0);
        assert_eq!(m.load_at(at(700)), 40.0, "back after the event");
    }

    #[test]
    fn an_unresponsive_site_keeps_drawing() {
        let m = miner(Behavior::Unresponsive);
        assert_eq!(m.load_at(at(300)), 40.0);
        assert_eq!(m.acts_at(&m.instructions[0]), None);
    }

    #[test]
    fn an_ai_site_holds_its_cap_with_its_miners_and_under_a_limit() {
        let mut m = miner(Behavior::Responds { delay_secs: 0.0 });
        m.ai_mw = 20.0;
        m.cap_mw = 45.0;
        m.instructions[0].level_mw = 25.0;
        for s in (-300..0).step_by(7) {
            let (ai, load) = (m.ai_at(at(s)), m.load_at(at(s)));
            assert!((8.0 - 1e-9..=20.0 + 1e-9).contains(&ai));
            assert!(load <= 45.0 + 1e-9, "the cap holds while the AI load bursts: {load}");
        }
        for s in (20..600).step_by(7) {
            let load = m.load_at(at(s));
            assert!((load - 25.0).abs() < 1e-9, "miners give way to the 25 MW limit: {load}");
        }
    }
}
