//! SIP counters for `/metrics`: responses sent, by status code. Counted
//! where every response is printed ([`super::message::ResponseBuilder`]),
//! so the stateless challenges of the UDP readers, the endpoint's
//! transaction responses and the 400s to unframeable input all show;
//! retransmissions of a stored response are not counted again.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Responses sent, indexed by status code - 100.
pub struct Responses([AtomicU64; 600]);

/// The process's response counters.
pub static RESPONSES: Responses = Responses([const { AtomicU64::new(0) }; 600]);

impl Responses {
    /// Counts one response with `code` (ignored outside 100-699).
    pub fn count(&self, code: u16) {
        if let Some(c) = code
            .checked_sub(100)
            .and_then(|i| self.0.get(usize::from(i)))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many responses with `code` were sent.
    pub fn get(&self, code: u16) -> u64 {
        code.checked_sub(100)
            .and_then(|i| self.0.get(usize::from(i)))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Prometheus text exposition (codes sent at least once).
    pub fn render(&self, out: &mut String) {
        let name = "dialroom_sip_responses_total";
        let _ = writeln!(
            out,
            "# HELP {name} SIP responses sent, by status code.\n# TYPE {name} counter"
        );
        for (i, c) in self.0.iter().enumerate() {
            let v = c.load(Ordering::Relaxed);
            if v > 0 {
                let _ = writeln!(out, "{name}{{code=\"{}\"}} {v}", i + 100);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_code_and_nonsense_codes_are_ignored() {
        let r = Responses([const { AtomicU64::new(0) }; 600]);
        r.count(200);
        r.count(200);
        r.count(486);
        r.count(42);
        r.count(7000);
        let mut s = String::new();
        r.render(&mut s);
        assert!(
            s.contains("dialroom_sip_responses_total{code=\"200\"} 2\n"),
            "{s}"
        );
        assert!(
            s.contains("dialroom_sip_responses_total{code=\"486\"} 1\n"),
            "{s}"
        );
        assert_eq!(s.matches("{code=").count(), 2, "{s}");
    }
}
