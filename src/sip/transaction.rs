//! SIP transactions (RFC 3261 §17, with RFC 6026's Accepted states): the
//! INVITE and non-INVITE client and server state machines and timers A–K
//! (plus L and M), as a sans-IO table.
//!
//! The table never reads the clock or touches a socket. The shell calls the
//! `on_*` methods with `now`, sends whatever [`Output::Transmit`] says, and calls
//! [`Transactions::handle_timeout`] at [`Transactions::poll_timeout`]. Each
//! transaction keeps its timers in a table of `Option<Instant>`; a heap
//! indexes them, and stale heap entries are skipped when popped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// RFC 3261 timer base values.
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    /// RTT estimate (500 ms).
    pub t1: Duration,
    /// Longest non-INVITE retransmit interval (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Identifies a transaction (RFC 3261 §17.1.3, §17.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey {
    /// The top Via branch (or a synthesised RFC 2543 key).
    pub branch: String,
    /// The top Via sent-by (server side); empty on the client side.
    pub sent_by: String,
    /// The method, with ACK mapped to INVITE.
    pub method: String,
}

impl TxKey {
    /// Key of a transaction; ACK and CANCEL keep their own method except ACK
    /// which matches the INVITE it acknowledges.
    pub fn new(branch: &str, sent_by: &str, method: &str) -> Self {
        let method = if method == "ACK" { "INVITE" } else { method };
        TxKey {
            branch: branch.to_string(),
            sent_by: sent_by.to_string(),
            method: method.to_string(),
        }
    }
}

/// Which of the four machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INVITE client transaction (§17.1.1).
    InviteClient,
    /// Non-INVITE client transaction (§17.1.2).
    NonInviteClient,
    /// INVITE server transaction (§17.2.1).
    InviteServer,
    /// Non-INVITE server transaction (§17.2.2).
    NonInviteServer,
}

/// Transaction states (figures 5–8 of RFC 3261, Accepted from RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Client INVITE sent, nothing heard.
    Calling,
    /// Non-INVITE request in progress.
    Trying,
    /// A provisional response was seen or sent.
    Proceeding,
    /// A final response was seen or sent; absorbing retransmissions.
    Completed,
    /// INVITE server: ACK received for a non-2xx final.
    Confirmed,
    /// INVITE: a 2xx passed; retransmissions go to the TU (RFC 6026).
    Accepted,
    /// Gone.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Timer {
    /// A / E / G: retransmission.
    Retransmit,
    /// B / F / H: transaction timeout.
    Timeout,
    /// D / I / J / K / L / M: linger before terminating.
    Linger,
}

const TIMERS: usize = 3;

fn slot(t: Timer) -> usize {
    match t {
        Timer::Retransmit => 0,
        Timer::Timeout => 1,
        Timer::Linger => 2,
    }
}

/// What a shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<D> {
    /// Send these bytes to `dest`.
    Transmit {
        /// Where to.
        dest: D,
        /// What.
        bytes: Arc<[u8]>,
    },
    /// Timer B/F (client: no final response) or H (server: no ACK) fired.
    Timeout {
        /// Which transaction.
        key: TxKey,
        /// Its kind.
        kind: Kind,
    },
    /// The transaction is gone.
    Terminated {
        /// Which transaction.
        key: TxKey,
    },
}

/// What to do with an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestDisposition<D> {
    /// A new transaction was created: pass the request to the TU.
    New,
    /// A retransmission: send the stored response, if any, and drop it.
    Retransmission(Option<Output<D>>),
    /// An ACK for a non-2xx final response, absorbed.
    AckAbsorbed,
    /// An ACK that matches no transaction (a 2xx ACK): pass to the TU.
    AckForTu,
}

/// What to do with an incoming response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseDisposition<D> {
    /// Pass it to the TU.
    Deliver,
    /// A non-2xx final to an INVITE: pass to the TU, and build the ACK with
    /// [`Transactions::ack`] (the transaction retransmits it as needed).
    DeliverNeedsAck,
    /// A retransmitted final: resend the stored ACK, if any.
    Absorbed(Option<Output<D>>),
    /// No transaction: a stray response (drop it).
    Stray,
}

#[derive(Debug)]
struct Tx<D> {
    kind: Kind,
    state: State,
    reliable: bool,
    dest: D,
    /// Client: the request; server: the last response.
    last: Option<Arc<[u8]>>,
    /// INVITE client: the ACK for a non-2xx final.
    ack: Option<Arc<[u8]>>,
    interval: Duration,
    timers: [Option<Instant>; TIMERS],
}

/// The transaction table of one endpoint.
#[derive(Debug)]
pub struct Transactions<D> {
    cfg: TimerConfig,
    /// Keyed with foldhash: SipHash over three strings per lookup was 7 %
    /// of the registrar's CPU; foldhash is still seeded per process.
    txs: HashMap<TxKey, Tx<D>, foldhash::fast::RandomState>,
    heap: BinaryHeap<Reverse<(Instant, Timer, TxKey)>>,
}

impl<D: Clone> Transactions<D> {
    /// An empty table.
    pub fn new(cfg: TimerConfig) -> Self {
        Transactions {
            cfg,
            txs: HashMap::default(),
            heap: BinaryHeap::new(),
        }
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The state of a transaction.
    pub fn state(&self, key: &TxKey) -> Option<State> {
        self.txs.get(key).map(|t| t.state)
    }

    fn arm(&mut self, key: &TxKey, timer: Timer, at: Instant) {
        if let Some(tx) = self.txs.get_mut(key) {
            tx.timers[slot(timer)] = Some(at);
            self.heap.push(Reverse((at, timer, key.clone())));
        }
    }

    fn disarm(&mut self, key: &TxKey, timer: Timer) {
        if let Some(tx) = self.txs.get_mut(key) {
            tx.timers[slot(timer)] = None;
        }
    }

    fn t64(&self) -> Duration {
        self.cfg.t1 * 64
    }

    // ---------------------------------------------------------------- server

    /// A request arrived for `key` (`method` as in the request line).
    pub fn on_request(
        &mut self,
        now: Instant,
        key: &TxKey,
        method: &str,
        reliable: bool,
        dest: D,
    ) -> RequestDisposition<D> {
        if let Some(tx) = self.txs.get_mut(key) {
            if method == "ACK" {
                return match (tx.kind, tx.state) {
                    (Kind::InviteServer, State::Completed) => {
                        tx.state = State::Confirmed;
                        tx.timers = [None; TIMERS];
                        let linger = if reliable {
                            Duration::ZERO
                        } else {
                            self.cfg.t4
                        };
                        self.arm(key, Timer::Linger, now + linger);
                        RequestDisposition::AckAbsorbed
                    }
                    (Kind::InviteServer, State::Confirmed) => RequestDisposition::AckAbsorbed,
                    _ => RequestDisposition::AckForTu,
                };
            }
            // Retransmitted request: answer with the last response (none in Trying).
            let out = match tx.state {
                State::Proceeding | State::Completed => {
                    tx.last.clone().map(|bytes| Output::Transmit {
                        dest: tx.dest.clone(),
                        bytes,
                    })
                }
                _ => None,
            };
            return RequestDisposition::Retransmission(out);
        }
        if method == "ACK" {
            return RequestDisposition::AckForTu;
        }
        let kind = if method == "INVITE" {
            Kind::InviteServer
        } else {
            Kind::NonInviteServer
        };
        let state = if kind == Kind::InviteServer {
            State::Proceeding
        } else {
            State::Trying
        };
        self.txs.insert(
            key.clone(),
            Tx {
                kind,
                state,
                reliable,
                dest,
                last: None,
                ack: None,
                interval: self.cfg.t1,
                timers: [None; TIMERS],
            },
        );
        RequestDisposition::New
    }

    /// The TU answers the request of server transaction `key` with `code`.
    /// Returns what to send (nothing if the transaction is gone or already final).
    pub fn respond(
        &mut self,
        now: Instant,
        key: &TxKey,
        code: u16,
        bytes: Vec<u8>,
    ) -> Option<Output<D>> {
        let t64 = self.t64();
        let (t1, t4) = (self.cfg.t1, self.cfg.t4);
        let tx = self.txs.get_mut(key)?;
        if !matches!(tx.state, State::Trying | State::Proceeding) {
            return None;
        }
        let bytes: Arc<[u8]> = bytes.into();
        tx.last = Some(bytes.clone());
        let out = Output::Transmit {
            dest: tx.dest.clone(),
            bytes,
        };
        let reliable = tx.reliable;
        match (tx.kind, code) {
            (_, 100..=199) => tx.state = State::Proceeding,
            (Kind::InviteServer, 200..=299) => {
                // RFC 6026: Accepted absorbs INVITE retransmissions for 64*T1;
                // 2xx retransmission is the TU's (dialog's) job.
                tx.state = State::Accepted;
                tx.last = None;
                self.arm(key, Timer::Linger, now + t64);
            }
            (Kind::InviteServer, _) => {
                tx.state = State::Completed;
                if !reliable {
                    tx.interval = t1;
                    self.arm(key, Timer::Retransmit, now + t1);
                }
                self.arm(key, Timer::Timeout, now + t64);
            }
            (_, _) => {
                tx.state = State::Completed;
                let linger = if reliable { Duration::ZERO } else { t64 };
                let _ = t4;
                self.arm(key, Timer::Linger, now + linger);
            }
        }
        Some(out)
    }

    // ---------------------------------------------------------------- client

    /// The TU sends a request in a new client transaction.
    pub fn send_request(
        &mut self,
        now: Instant,
        key: TxKey,
        method: &str,
        bytes: Vec<u8>,
        reliable: bool,
        dest: D,
    ) -> Output<D> {
        let kind = if method == "INVITE" {
            Kind::InviteClient
        } else {
            Kind::NonInviteClient
        };
        let bytes: Arc<[u8]> = bytes.into();
        let state = if kind == Kind::InviteClient {
            State::Calling
        } else {
            State::Trying
        };
        self.txs.insert(
            key.clone(),
            Tx {
                kind,
                state,
                reliable,
                dest: dest.clone(),
                last: Some(bytes.clone()),
                ack: None,
                interval: self.cfg.t1,
                timers: [None; TIMERS],
            },
        );
        if !reliable {
            self.arm(&key, Timer::Retransmit, now + self.cfg.t1);
        }
        self.arm(&key, Timer::Timeout, now + self.t64());
        Output::Transmit { dest, bytes }
    }

    /// A response arrived for client transaction `key`.
    pub fn on_response(&mut self, now: Instant, key: &TxKey, code: u16) -> ResponseDisposition<D> {
        let t64 = self.t64();
        let (t2, t4) = (self.cfg.t2, self.cfg.t4);
        let Some(tx) = self.txs.get_mut(key) else {
            return ResponseDisposition::Stray;
        };
        let reliable = tx.reliable;
        match (tx.kind, tx.state, code) {
            (Kind::InviteClient, State::Calling | State::Proceeding, 100..=199) => {
                tx.state = State::Proceeding;
                tx.timers[slot(Timer::Retransmit)] = None;
                ResponseDisposition::Deliver
            }
            (Kind::InviteClient, State::Calling | State::Proceeding, 200..=299) => {
                tx.state = State::Accepted;
                tx.timers = [None; TIMERS];
                self.arm(key, Timer::Linger, now + t64);
                ResponseDisposition::Deliver
            }
            (Kind::InviteClient, State::Accepted, 200..=299) => ResponseDisposition::Deliver,
            (Kind::InviteClient, State::Calling | State::Proceeding, _) if code >= 300 => {
                tx.state = State::Completed;
                tx.timers = [None; TIMERS];
                let d = if reliable {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32).max(t64)
                };
                self.arm(key, Timer::Linger, now + d);
                ResponseDisposition::DeliverNeedsAck
            }
            (Kind::InviteClient, State::Completed, _) if code >= 300 => {
                let out = tx.ack.clone().map(|bytes| Output::Transmit {
                    dest: tx.dest.clone(),
                    bytes,
                });
                ResponseDisposition::Absorbed(out)
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding, 100..=199) => {
                if tx.state == State::Trying && !reliable {
                    tx.interval = t2;
                }
                tx.state = State::Proceeding;
                ResponseDisposition::Deliver
            }
            (Kind::NonInviteClient, State::Trying | State::Proceeding, _) if code >= 200 => {
                tx.state = State::Completed;
                tx.timers = [None; TIMERS];
                let k = if reliable { Duration::ZERO } else { t4 };
                self.arm(key, Timer::Linger, now + k);
                ResponseDisposition::Deliver
            }
            _ => ResponseDisposition::Absorbed(None),
        }
    }

    /// Stores the ACK the TU built for a non-2xx final; returns it to send.
    pub fn ack(&mut self, key: &TxKey, bytes: Vec<u8>) -> Option<Output<D>> {
        let tx = self.txs.get_mut(key)?;
        let bytes: Arc<[u8]> = bytes.into();
        tx.ack = Some(bytes.clone());
        Some(Output::Transmit {
            dest: tx.dest.clone(),
            bytes,
        })
    }

    // ---------------------------------------------------------------- timers

    /// When [`Transactions::handle_timeout`] should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, timer, key))) = self.heap.peek() {
            let live = self
                .txs
                .get(key)
                .is_some_and(|tx| tx.timers[slot(*timer)] == Some(*at));
            if live {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output<D>>) {
        while let Some(Reverse((at, timer, key))) = self.heap.peek().cloned() {
            if at > now {
                break;
            }
            self.heap.pop();
            let live = self
                .txs
                .get(&key)
                .is_some_and(|tx| tx.timers[slot(timer)] == Some(at));
            if !live {
                continue;
            }
            self.disarm(&key, timer);
            self.fire(now, &key, timer, out);
        }
    }

    fn terminate(&mut self, key: &TxKey, out: &mut Vec<Output<D>>) {
        if self.txs.remove(key).is_some() {
            out.push(Output::Terminated { key: key.clone() });
        }
    }

    fn fire(&mut self, now: Instant, key: &TxKey, timer: Timer, out: &mut Vec<Output<D>>) {
        let (t2, t1) = (self.cfg.t2, self.cfg.t1);
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        match timer {
            Timer::Retransmit => {
                // A (INVITE client, doubling without cap), E (non-INVITE
                // client, capped at T2; T2 once Proceeding), G (INVITE server
                // final, capped at T2).
                let resend = match (tx.kind, tx.state) {
                    (Kind::InviteClient, State::Calling) => {
                        tx.interval *= 2;
                        true
                    }
                    (Kind::NonInviteClient, State::Trying) => {
                        tx.interval = (tx.interval * 2).min(t2);
                        true
                    }
                    (Kind::NonInviteClient, State::Proceeding) => {
                        tx.interval = t2;
                        true
                    }
                    (Kind::InviteServer, State::Completed) => {
                        tx.interval = (tx.interval * 2).min(t2);
                        true
                    }
                    _ => false,
                };
                if resend {
                    if let Some(bytes) = tx.last.clone() {
                        out.push(Output::Transmit {
                            dest: tx.dest.clone(),
                            bytes,
                        });
                    }
                    let next = now + tx.interval;
                    self.arm(key, Timer::Retransmit, next);
                }
                let _ = t1;
            }
            Timer::Timeout => {
                // B, F (client, no final) and H (server, no ACK).
                let kind = tx.kind;
                out.push(Output::Timeout {
                    key: key.clone(),
                    kind,
                });
                self.terminate(key, out);
            }
            Timer::Linger => self.terminate(key, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type T = Transactions<u8>;

    fn key(m: &str) -> TxKey {
        TxKey::new("z9hG4bK1", "a:5060", m)
    }

    fn sent(out: &[Output<u8>]) -> usize {
        out.iter()
            .filter(|o| matches!(o, Output::Transmit { .. }))
            .count()
    }

    /// Runs the table to `until`, collecting outputs with their times.
    fn run(t: &mut T, start: Instant, until: Duration) -> Vec<(Duration, Output<u8>)> {
        let mut log = Vec::new();
        while let Some(at) = t.poll_timeout() {
            if at > start + until {
                break;
            }
            let mut out = Vec::new();
            t.handle_timeout(at, &mut out);
            log.extend(out.into_iter().map(|o| (at - start, o)));
        }
        log
    }

    #[test]
    fn non_invite_server_absorbs_retransmissions_then_timer_j_ends_it() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = key("REGISTER");
        assert_eq!(
            t.on_request(now, &k, "REGISTER", false, 1),
            RequestDisposition::New
        );
        // retransmission in Trying: nothing to send yet
        assert_eq!(
            t.on_request(now, &k, "REGISTER", false, 1),
            RequestDisposition::Retransmission(None)
        );
        assert!(t.respond(now, &k, 200, b"200".to_vec()).is_some());
        match t.on_request(now, &k, "REGISTER", false, 1) {
            RequestDisposition::Retransmission(Some(Output::Transmit { bytes, .. })) => {
                assert_eq!(&*bytes, b"200")
            }
            other => panic!("{other:?}"),
        }
        // a second final is refused
        assert!(t.respond(now, &k, 500, b"500".to_vec()).is_none());
        let log = run(&mut t, now, Duration::from_secs(60));
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].0, Duration::from_secs(32));
        assert!(t.is_empty());
    }

    #[test]
    fn over_tcp_timer_j_is_zero() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = key("OPTIONS");
        t.on_request(now, &k, "OPTIONS", true, 1);
        t.respond(now, &k, 200, b"x".to_vec());
        let log = run(&mut t, now, Duration::from_secs(1));
        assert_eq!(log[0].0, Duration::ZERO);
    }

    #[test]
    fn invite_server_retransmits_final_with_timer_g_until_ack() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = key("INVITE");
        t.on_request(now, &k, "INVITE", false, 1);
        t.respond(now, &k, 486, b"486".to_vec());
        let log = run(&mut t, now, Duration::from_millis(3600));
        let times: Vec<u128> = log.iter().map(|(d, _)| d.as_millis()).collect();
        assert_eq!(times, vec![500, 1500, 3500]);
        // the ACK stops G and H; Timer I (T4) ends it
        let at = now + Duration::from_millis(3600);
        assert_eq!(
            t.on_request(at, &k, "ACK", false, 1),
            RequestDisposition::AckAbsorbed
        );
        assert_eq!(t.state(&k), Some(State::Confirmed));
        let log = run(&mut t, now, Duration::from_secs(100));
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].0, Duration::from_millis(8600));
        assert!(matches!(log[0].1, Output::Terminated { .. }));
    }

    #[test]
    fn invite_server_without_ack_times_out_with_timer_h() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = key("INVITE");
        t.on_request(now, &k, "INVITE", false, 1);
        t.respond(now, &k, 404, b"404".to_vec());
        let log = run(&mut t, now, Duration::from_secs(100));
        let retrans: Vec<u128> = log
            .iter()
            .filter(|(_, o)| matches!(o, Output::Transmit { .. }))
            .map(|(d, _)| d.as_millis())
            .collect();
        // 0.5, 1.5, 3.5, then every 4 s (capped at T2) until 32 s
        assert_eq!(&retrans[..4], &[500, 1500, 3500, 7500]);
        assert!(retrans.iter().all(|&ms| ms < 32_000));
        assert!(log.iter().any(|(d, o)| *d == Duration::from_secs(32)
            && matches!(
                o,
                Output::Timeout {
                    kind: Kind::InviteServer,
                    ..
                }
            )));
        assert!(t.is_empty());
    }

    #[test]
    fn invite_server_2xx_accepted_absorbs_invite_retransmissions_for_64_t1() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = key("INVITE");
        t.on_request(now, &k, "INVITE", false, 1);
        t.respond(now, &k, 180, b"180".to_vec());
        t.respond(now, &k, 200, b"200".to_vec());
        assert_eq!(t.state(&k), Some(State::Accepted));
        assert_eq!(
            t.on_request(now, &k, "INVITE", false, 1),
            RequestDisposition::Retransmission(None)
        );
        assert_eq!(
            t.on_request(now, &k, "ACK", false, 1),
            RequestDisposition::AckForTu
        );
        let log = run(&mut t, now, Duration::from_secs(100));
        assert_eq!(log[0].0, Duration::from_secs(32));
    }

    #[test]
    fn invite_client_timer_a_doubles_and_timer_b_times_out() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = TxKey::new("z9hG4bKc", "", "INVITE");
        t.send_request(now, k.clone(), "INVITE", b"INV".to_vec(), false, 2);
        let log = run(&mut t, now, Duration::from_secs(40));
        let times: Vec<u128> = log
            .iter()
            .filter(|(_, o)| matches!(o, Output::Transmit { .. }))
            .map(|(d, _)| d.as_millis())
            .collect();
        assert_eq!(times, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert!(matches!(log.last().unwrap().1, Output::Terminated { .. }));
        assert!(log.iter().any(|(d, o)| *d == Duration::from_secs(32)
            && matches!(
                o,
                Output::Timeout {
                    kind: Kind::InviteClient,
                    ..
                }
            )));
    }

    #[test]
    fn invite_client_non_2xx_needs_ack_and_resends_it_on_retransmission_timer_d() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = TxKey::new("z9hG4bKc", "", "INVITE");
        t.send_request(now, k.clone(), "INVITE", b"INV".to_vec(), false, 2);
        assert_eq!(t.on_response(now, &k, 100), ResponseDisposition::Deliver);
        assert_eq!(
            t.on_response(now, &k, 486),
            ResponseDisposition::DeliverNeedsAck
        );
        assert!(t.ack(&k, b"ACK".to_vec()).is_some());
        match t.on_response(now, &k, 486) {
            ResponseDisposition::Absorbed(Some(Output::Transmit { bytes, .. })) => {
                assert_eq!(&*bytes, b"ACK")
            }
            o => panic!("{o:?}"),
        }
        let log = run(&mut t, now, Duration::from_secs(40));
        assert_eq!(
            sent(&log.iter().map(|x| x.1.clone()).collect::<Vec<_>>()),
            0,
            "provisional stopped timer A"
        );
        assert_eq!(log.last().unwrap().0, Duration::from_secs(32));
    }

    #[test]
    fn non_invite_client_timer_e_caps_at_t2_and_timer_k_lingers() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = TxKey::new("z9hG4bKo", "", "OPTIONS");
        t.send_request(now, k.clone(), "OPTIONS", b"OPT".to_vec(), false, 2);
        let log = run(&mut t, now, Duration::from_millis(12000));
        let times: Vec<u128> = log.iter().map(|(d, _)| d.as_millis()).collect();
        assert_eq!(times, vec![500, 1500, 3500, 7500, 11500]);
        let at = now + Duration::from_secs(12);
        assert_eq!(t.on_response(at, &k, 200), ResponseDisposition::Deliver);
        assert_eq!(
            t.on_response(at, &k, 200),
            ResponseDisposition::Absorbed(None)
        );
        let log = run(&mut t, now, Duration::from_secs(100));
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].0, Duration::from_secs(17), "Timer K = T4");
    }

    #[test]
    fn non_invite_client_without_answer_times_out_with_timer_f() {
        let mut t = T::new(TimerConfig::default());
        let now = Instant::now();
        let k = TxKey::new("z9hG4bKo", "", "OPTIONS");
        t.send_request(now, k.clone(), "OPTIONS", b"OPT".to_vec(), true, 2);
        let log = run(&mut t, now, Duration::from_secs(100));
        assert_eq!(
            sent(&log.iter().map(|x| x.1.clone()).collect::<Vec<_>>()),
            0,
            "no retransmission over TCP"
        );
        assert!(matches!(
            log[0].1,
            Output::Timeout {
                kind: Kind::NonInviteClient,
                ..
            }
        ));
        assert_eq!(log[0].0, Duration::from_secs(32));
    }

    #[test]
    fn stray_responses_are_reported() {
        let mut t = T::new(TimerConfig::default());
        assert_eq!(
            t.on_response(Instant::now(), &key("BYE"), 200),
            ResponseDisposition::Stray
        );
    }
}
