//! Alert rules: a condition must hold for a while before an alert fires;
//! it resolves as soon as the condition no longer holds. Pure state, no IO.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::config::{ActionKind, Metric, Op, RuleConfig};

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub metric: Metric,
    pub op: Op,
    pub threshold: f64,
    pub for_: Duration,
    pub severity: String,
    pub summary: String,
    pub actions: Vec<ActionKind>,
    pub targets: Option<Vec<String>>,
}

impl Rule {
    pub fn from_config(r: &RuleConfig, actions: Vec<ActionKind>) -> Rule {
        Rule {
            name: r.name.clone(),
            metric: r.metric,
            op: r.op,
            threshold: r.threshold,
            for_: r.for_.map(|d| d.0).unwrap_or_default(),
            severity: r.severity.clone(),
            summary: r.summary.clone().unwrap_or_else(|| {
                format!("{} {} {}", r.metric.as_str(), r.op.as_str(), r.threshold)
            }),
            actions,
            targets: r.targets.clone(),
        }
    }

    pub fn applies_to(&self, target: &str) -> bool {
        self.targets
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == target))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// An alert that started firing or resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub rule: String,
    pub target: String,
    pub status: Status,
    pub severity: String,
    pub summary: String,
    pub metric: Metric,
    pub op: Op,
    pub value: f64,
    pub threshold: f64,
    /// When the alert started firing (ms since the epoch).
    pub starts_at_ms: i64,
    /// When it resolved.
    pub ends_at_ms: Option<i64>,
    #[serde(skip)]
    pub actions: Vec<ActionKind>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Inactive,
    Pending { since_ms: i64 },
    Firing { since_ms: i64 },
}

/// Alert states of one target.
#[derive(Debug)]
pub struct Evaluator {
    target: String,
    rules: Vec<Rule>,
    states: HashMap<String, State>,
}

impl Evaluator {
    pub fn new(target: &str, rules: &[Rule]) -> Evaluator {
        let rules: Vec<Rule> = rules
            .iter()
            .filter(|r| r.applies_to(target))
            .cloned()
            .collect();
        Evaluator {
            target: target.to_owned(),
            states: rules
                .iter()
                .map(|r| (r.name.clone(), State::Inactive))
                .collect(),
            rules,
        }
    }

    /// Evaluates every rule at `now_ms` with the metric values from `value`
    /// (`None`: no data, the condition does not hold).
    pub fn evaluate(
        &mut self,
        now_ms: i64,
        value: impl Fn(Metric) -> Option<f64>,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let v = value(rule.metric);
            let holds = v.is_some_and(|v| rule.op.holds(v, rule.threshold));
            let state = self.states.get_mut(&rule.name).expect("state per rule");
            let transition = |status, since_ms, ends_at_ms| Transition {
                rule: rule.name.clone(),
                target: self.target.clone(),
                status,
                severity: rule.severity.clone(),
                summary: rule.summary.clone(),
                metric: rule.metric,
                op: rule.op,
                value: v.unwrap_or(f64::NAN),
                threshold: rule.threshold,
                starts_at_ms: since_ms,
                ends_at_ms,
                actions: rule.actions.clone(),
            };
            *state = match (*state, holds) {
                (State::Inactive, false) => State::Inactive,
                (State::Inactive, true) | (State::Pending { .. }, true)
                    if {
                        let since = match *state {
                            State::Pending { since_ms } => since_ms,
                            _ => now_ms,
                        };
                        now_ms - since >= rule.for_.as_millis() as i64
                    } =>
                {
                    out.push(transition(Status::Firing, now_ms, None));
                    State::Firing { since_ms: now_ms }
                }
                (State::Inactive, true) => State::Pending { since_ms: now_ms },
                (s @ State::Pending { .. }, true) => s,
                (State::Pending { .. }, false) => State::Inactive,
                (s @ State::Firing { .. }, true) => s,
                (State::Firing { since_ms }, false) => {
                    out.push(transition(Status::Resolved, since_ms, Some(now_ms)));
                    State::Inactive
                }
            };
        }
        out
    }

    /// Resolves every firing alert (the target went away, or the watcher stops).
    pub fn resolve_all(&mut self, now_ms: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let state = self.states.get_mut(&rule.name).expect("state per rule");
            if let State::Firing { since_ms } = *state {
                out.push(Transition {
                    rule: rule.name.clone(),
                    target: self.target.clone(),
                    status: Status::Resolved,
                    severity: rule.severity.clone(),
                    summary: rule.summary.clone(),
                    metric: rule.metric,
                    op: rule.op,
                    value: f64::NAN,
                    threshold: rule.threshold,
                    starts_at_ms: since_ms,
                    ends_at_ms: Some(now_ms),
                    actions: rule.actions.clone(),
                });
            }
            *state = State::Inactive;
        }
        out
    }

    /// Names and severities of the alerts firing now.
    pub fn firing(&self) -> Vec<(String, String)> {
        self.rules
            .iter()
            .filter(|r| matches!(self.states.get(&r.name), Some(State::Firing { .. })))
            .map(|r| (r.name.clone(), r.severity.clone()))
            .collect()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(for_s: u64) -> Rule {
        Rule {
            name: "High".into(),
            metric: Metric::HeapUsedRatio,
            op: Op::Gt,
            threshold: 0.85,
            for_: Duration::from_secs(for_s),
            severity: "critical".into(),
            summary: "high".into(),
            actions: vec![ActionKind::Log],
            targets: None,
        }
    }

    #[test]
    fn fires_after_for_and_resolves() {
        let mut e = Evaluator::new("api", &[rule(10)]);
        let at = |e: &mut Evaluator, t: i64, v: f64| e.evaluate(t * 1000, |_| Some(v));
        assert!(at(&mut e, 0, 0.9).is_empty());
        assert!(at(&mut e, 5, 0.95).is_empty());
        let f = at(&mut e, 10, 0.9);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Firing);
        assert_eq!(f[0].starts_at_ms, 10_000);
        assert_eq!(e.firing(), vec![("High".into(), "critical".into())]);
        assert!(at(&mut e, 15, 0.9).is_empty());
        let r = at(&mut e, 20, 0.5);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, Status::Resolved);
        assert_eq!(r[0].ends_at_ms, Some(20_000));
        assert!(e.firing().is_empty());
    }

    #[test]
    fn a_dip_restarts_the_for_period() {
        let mut e = Evaluator::new("api", &[rule(10)]);
        assert!(e.evaluate(0, |_| Some(0.9)).is_empty());
        assert!(e.evaluate(8_000, |_| Some(0.1)).is_empty());
        assert!(e.evaluate(12_000, |_| Some(0.9)).is_empty());
        assert!(e.evaluate(20_000, |_| Some(0.9)).is_empty());
        assert_eq!(e.evaluate(22_000, |_| Some(0.9)).len(), 1);
    }

    #[test]
    fn zero_for_fires_at_once_and_no_data_does_not_hold() {
        let mut e = Evaluator::new("api", &[rule(0)]);
        assert!(e.evaluate(0, |_| None).is_empty());
        assert_eq!(e.evaluate(1, |_| Some(1.0)).len(), 1);
        assert_eq!(e.resolve_all(2).len(), 1);
        assert!(e.firing().is_empty());
    }

    #[test]
    fn rules_can_be_limited_to_targets() {
        let mut r = rule(0);
        r.targets = Some(vec!["worker".into()]);
        assert!(
            Evaluator::new("api", std::slice::from_ref(&r))
                .rules()
                .is_empty()
        );
        assert_eq!(Evaluator::new("worker", &[r]).rules().len(), 1);
    }
}
