//! From one group's event log and its status before and after a quorum loss to the figures
//! the example prints: one JSON line per library and scenario, and a table.

use std::collections::BTreeSet;

use crate::peers::{Ev, Group, Lib, Snapshot, Stamped};

/// When the driver did what, in wall-clock µs since the epoch (the peers' clock).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline {
    /// Just before `kill_quorum`.
    pub(crate) down: i64,
    /// Just before `restart_all`.
    pub(crate) restart: i64,
    /// The first restarted member serves: the quorum is back.
    pub(crate) serving: i64,
    /// `restart_all` returned: every member serves, one leads.
    pub(crate) back: i64,
    /// Just before the last `status`.
    pub(crate) end: i64,
}

/// What one library did in one scenario.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) scenario: &'static str,
    pub(crate) lib: Lib,
    pub(crate) session_timeout_ms: u128,
    pub(crate) down_ms: u128,
    /// From `kill_quorum` to the quorum back.
    pub(crate) outage_ms: f64,
    /// From `restart_all`'s start to the quorum back, and to its return.
    pub(crate) restart_ms: f64,
    pub(crate) restart_all_ms: f64,
    /// Per participant at the end: `"same"` session as before, a `"new"` one, or `"none"`
    /// (not connected: no session to compare).
    pub(crate) sessions: Vec<&'static str>,
    pub(crate) leader_before: Option<usize>,
    pub(crate) leader_after: Option<usize>,
    /// The node of the participant that led before, before and after.
    pub(crate) node_before: Option<String>,
    pub(crate) node_after: Option<String>,
    /// From the quorum back (the first restarted member serving) until some participant was
    /// connected and leader in its library's view.
    pub(crate) leader_again_ms: Option<f64>,
    /// From the quorum's return until the participant that leads at the end (in its own view
    /// and on the server: its node is first) last became connected and leader.
    pub(crate) settled_ms: Option<f64>,
    /// The participant whose node is first on the server at the end.
    pub(crate) server_leader: Option<usize>,
    /// Whether the leader reported losing its leadership at any point after the quorum went.
    pub(crate) leader_stepped_down: bool,
    /// Participants other than the leader before that were elected after the quorum went.
    pub(crate) others_elected: BTreeSet<usize>,
    /// The library's own "lost" signals: our latch's `Lost`, Curator's and kazoo's `LOST`.
    pub(crate) lost_events: usize,
    /// How many participants say they lead at the end (more than one: a double leader).
    pub(crate) leaders_after: usize,
    /// How many of them own their node on the server (it exists, on their current session).
    pub(crate) leaders_owning_node: usize,
}

impl Outcome {
    pub(crate) fn new(
        (scenario, lib): (&'static str, Lib),
        (session_timeout_ms, down_ms): (u128, u128),
        t: Timeline,
        log: &[Stamped],
        before: &Snapshot,
        after: &Snapshot,
    ) -> Outcome {
        let leader_before = before.leader().map(|l| l.p);
        let leader_after = after.leader().map(|l| l.p);
        let node_of = |s: &Snapshot| leader_before.and_then(|p| s.parts.get(p)).and_then(|p| p.node.clone());
        let sessions = before
            .parts
            .iter()
            .zip(&after.parts)
            .map(|(b, a)| match &a.session {
                _ if !a.up => "none",
                Some(s) if b.session.as_ref() == Some(s) => "same",
                _ => "new",
            })
            .collect();
        let mut events: Vec<&Stamped> = log.iter().filter(|s| s.t_us <= t.end).collect();
        events.sort_by_key(|s| s.t_us);
        let during = || events.iter().filter(|s| s.t_us >= t.down).map(|s| &s.ev);
        let others_elected = during()
            .filter_map(|ev| match ev {
                Ev::Leader { p, leader: true, .. } if Some(*p) != leader_before => Some(*p),
                _ => None,
            })
            .collect();
        let leader_stepped_down =
            during().any(|ev| matches!(ev, Ev::Leader { p, leader: false, .. } if Some(*p) == leader_before));
        let lost_events = during()
            .filter(|ev| match ev {
                Ev::Latch { event, .. } => event == "Lost",
                Ev::Conn { state, .. } => state.eq_ignore_ascii_case("lost"),
                _ => false,
            })
            .count();
        let leaders_after = after.parts.iter().filter(|p| p.leader).count();
        let leaders_owning_node = after.parts.iter().filter(|p| p.leader && p.owned == Some(true)).count();
        let server_leader =
            after.parts.iter().find(|p| p.node.is_some() && p.node == after.first).map(|p| p.p);
        let real_leader = server_leader.filter(|&p| after.parts[p].leader);
        Outcome {
            scenario,
            lib,
            session_timeout_ms,
            down_ms,
            outage_ms: ms(t.serving - t.down),
            restart_ms: ms(t.serving - t.restart),
            restart_all_ms: ms(t.back - t.restart),
            sessions,
            leader_before,
            leader_after,
            node_before: node_of(before),
            node_after: node_of(after),
            leader_again_ms: leader_again(&events, t, None).map(|at| ms(at - t.serving)),
            settled_ms: real_leader
                .and_then(|p| leader_again(&events, t, Some(p)))
                .map(|at| ms(at - t.serving)),
            server_leader,
            leader_stepped_down,
            others_elected,
            lost_events,
            leaders_after,
            leaders_owning_node,
        }
    }

    /// The leader before leads after, with the same node, and nobody else was elected.
    pub(crate) fn kept_leadership(&self) -> bool {
        self.leader_before.is_some()
            && self.leader_after == self.leader_before
            && self.node_after == self.node_before
            && self.others_elected.is_empty()
    }

    pub(crate) fn json(&self) -> String {
        let opt = |v: Option<usize>| v.map_or("null".to_owned(), |v| v.to_string());
        let text = |v: &Option<String>| v.as_ref().map_or("null".to_owned(), |v| format!("\"{v}\""));
        let list = |items: Vec<String>| format!("[{}]", items.join(","));
        let fields = [
            ("scenario", format!("\"{}\"", self.scenario)),
            ("lib", format!("\"{}\"", self.lib.name())),
            ("session_timeout_ms", self.session_timeout_ms.to_string()),
            ("down_ms", self.down_ms.to_string()),
            ("outage_ms", format!("{:.0}", self.outage_ms)),
            ("restart_ms", format!("{:.0}", self.restart_ms)),
            ("restart_all_ms", format!("{:.0}", self.restart_all_ms)),
            ("sessions", list(self.sessions.iter().map(|s| format!("\"{s}\"")).collect())),
            ("leader_before", opt(self.leader_before)),
            ("leader_after", opt(self.leader_after)),
            ("node_before", text(&self.node_before)),
            ("node_after", text(&self.node_after)),
            ("leader_again_ms", millis(self.leader_again_ms)),
            ("settled_ms", millis(self.settled_ms)),
            ("server_leader", opt(self.server_leader)),
            ("leader_stepped_down", self.leader_stepped_down.to_string()),
            ("others_elected", list(self.others_elected.iter().map(usize::to_string).collect())),
            ("lost_events", self.lost_events.to_string()),
            ("leaders_after", self.leaders_after.to_string()),
            ("leaders_owning_node", self.leaders_owning_node.to_string()),
            ("kept_leadership", self.kept_leadership().to_string()),
        ];
        let fields: Vec<String> = fields.iter().map(|(key, value)| format!("\"{key}\":{value}")).collect();
        format!("{{{}}}", fields.join(","))
    }
}

/// The moment from `restart_all`'s start on (the state then included) at which some
/// participant (`who`: that one) is connected and leader in its library's view: the first
/// such moment, or for `who` the start of its last stretch up to the end.
fn leader_again(events: &[&Stamped], t: Timeline, who: Option<usize>) -> Option<i64> {
    let (mut up, mut leader) = (Vec::<bool>::new(), Vec::<bool>::new());
    let apply = |ev: &Ev, up: &mut Vec<bool>, leader: &mut Vec<bool>| {
        let (p, flag, set) = match ev {
            Ev::Conn { p, up: u, .. } => (*p, *u, &mut *up),
            Ev::Leader { p, leader: l, .. } => (*p, *l, &mut *leader),
            _ => return,
        };
        if set.len() <= p {
            set.resize(p + 1, false);
        }
        set[p] = flag;
    };
    let leads = |up: &[bool], leader: &[bool]| {
        let mut both = up.iter().zip(leader).enumerate().filter(|(_, (u, l))| **u && **l);
        both.any(|(p, _)| who.is_none_or(|w| w == p))
    };
    let (mut since, mut checked_start) = (None, false);
    for s in events {
        if s.t_us >= t.restart && !checked_start {
            checked_start = true;
            since = leads(&up, &leader).then_some(t.restart);
        }
        apply(&s.ev, &mut up, &mut leader);
        if s.t_us >= t.restart {
            since = match (since, leads(&up, &leader)) {
                (_, false) => None,
                (None, true) => Some(s.t_us),
                (kept, true) => kept,
            };
            if who.is_none() && since.is_some() {
                return since;
            }
        }
    }
    since
}

fn millis(v: Option<f64>) -> String {
    v.map_or("null".to_owned(), |v| format!("{v:.0}"))
}

fn ms(us: i64) -> f64 {
    us as f64 / 1e3
}

/// `g`'s events, one a line, in ms from the quorum loss, with the driver's steps among them.
pub(crate) fn timeline(scenario: &str, g: &Group, t: Timeline) -> String {
    let steps = [
        (t.down, "kill_quorum"),
        (t.restart, "restart_all"),
        (t.serving, "quorum back"),
        (t.back, "restart_all returned"),
        (t.end, "end"),
    ];
    let mut lines: Vec<(i64, String)> = steps.iter().map(|(at, what)| (*at, format!("--- {what}"))).collect();
    lines.extend(g.log.iter().map(|s| (s.t_us, format!("{:?}", s.ev))));
    lines.sort_by_key(|(at, _)| *at);
    let name = g.lib.name();
    lines
        .iter()
        .map(|(at, what)| format!("{scenario} {name:7} {:>+9.1} ms  {what}\n", ms(at - t.down)))
        .collect()
}

/// The human-readable summary of every outcome.
pub(crate) fn table(outcomes: &[Outcome]) -> String {
    const HEADER: [&str; 12] = [
        "scenario",
        "library",
        "outage",
        "sessions after",
        "leader before -> after (on the server)",
        "same node",
        "first leader after quorum back",
        "final leader after quorum back",
        "other elected",
        "leader stepped down",
        "lost events",
        "leaders at end (owning their node)",
    ];
    let row = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = row(HEADER.iter().map(|h| h.to_string()).collect());
    out += &row(vec!["---".to_owned(); HEADER.len()]);
    for o in outcomes {
        out += &row(cells(o));
    }
    out
}

/// One row of [`table`].
fn cells(o: &Outcome) -> Vec<String> {
    let count = |what| o.sessions.iter().filter(|s| **s == what).count();
    let mut sessions = format!("{}/{} same", count("same"), o.sessions.len());
    for what in ["new", "none"].into_iter().filter(|w| count(w) > 0) {
        sessions += &format!(", {} {what}", count(what));
    }
    let who = |p: Option<usize>| p.map_or("none".to_owned(), |p| format!("p{p}"));
    let time = |v: Option<f64>| v.map_or("never".to_owned(), |v| format!("{v:.0} ms"));
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let others: Vec<String> = o.others_elected.iter().map(|p| format!("p{p}")).collect();
    vec![
        format!("{} (down {} ms, timeout {} ms)", o.scenario, o.down_ms, o.session_timeout_ms),
        o.lib.name().to_owned(),
        format!("{:.0} ms", o.outage_ms),
        sessions,
        format!("{} -> {} ({})", who(o.leader_before), who(o.leader_after), who(o.server_leader)),
        yes(o.node_before.is_some() && o.node_after == o.node_before),
        time(o.leader_again_ms),
        time(o.settled_ms),
        if others.is_empty() { "none".to_owned() } else { others.join(" ") },
        yes(o.leader_stepped_down),
        o.lost_events.to_string(),
        format!("{} ({})", o.leaders_after, o.leaders_owning_node),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t_us: i64, ev: Ev) -> Stamped {
        Stamped { t_us, ev }
    }

    #[test]
    fn a_leader_is_back_when_it_is_both_connected_and_leading() {
        let t = Timeline { down: 10, restart: 20, serving: 30, back: 35, end: 100 };
        let conn = |p, up| Ev::Conn { p, state: String::new(), up, session: None };
        let lead = |p, leader| Ev::Leader { p, leader, node: None };
        let log = [
            at(1, conn(0, true)),
            at(2, lead(0, true)),
            at(11, conn(0, false)),
            at(25, conn(1, true)),
            at(40, conn(0, true)),
            at(50, lead(1, true)),
            at(60, conn(1, false)),
            at(70, conn(1, true)),
        ];
        let events: Vec<&Stamped> = log.iter().collect();
        // p0 never stopped leading (kazoo): back once it reconnects.
        assert_eq!(leader_again(&events, t, None), Some(40));
        assert_eq!(leader_again(&events, t, Some(1)), Some(70), "p1's last stretch");
        assert_eq!(leader_again(&events, t, Some(2)), None, "p2 never leads");
        let log = [at(1, conn(0, true)), at(2, lead(0, true)), at(11, lead(0, false)), at(25, lead(1, true))];
        let events: Vec<&Stamped> = log.iter().collect();
        assert_eq!(leader_again(&events, t, None), None, "p1 is not connected");
    }
}
