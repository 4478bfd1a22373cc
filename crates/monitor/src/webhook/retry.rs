//! When to try a delivery again, and how long to wait first.

use std::time::{Duration, SystemTime};

/// Retry settings of a webhook.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included).
    pub attempts: u32,
    /// Wait before the second attempt (before jitter); doubles each time.
    pub initial: Duration,
    /// Longest wait between attempts (before jitter).
    pub max: Duration,
    /// Longest `Retry-After` leakhound waits; a longer one ends the delivery.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based), "equal jitter": half of
    /// `min(max, initial·2ⁿ⁻¹)` plus a random part of the other half
    /// (`jitter` in 0..1), so watchers that failed together do not retry together.
    pub fn backoff(&self, n: u32, jitter: f64) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        let step = self.initial.saturating_mul(factor).min(self.max);
        step / 2 + step.mul_f64(0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// Whether an HTTP status is worth another attempt: 5xx, 408 (request
/// timeout) and 429 (too many requests). Any other 4xx is the request's
/// fault and would fail again.
pub fn retryable_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// A `Retry-After` value: delay seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let p = RetryPolicy::default();
        let lo: Vec<f64> = (1..=9).map(|n| p.backoff(n, 0.0).as_secs_f64()).collect();
        let hi: Vec<f64> = (1..=9).map(|n| p.backoff(n, 1.0).as_secs_f64()).collect();
        assert_eq!(lo, [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]);
        assert_eq!(hi, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
        for n in 1..=9 {
            let mid = p.backoff(n, 0.5);
            assert!(mid > p.backoff(n, 0.0) && mid < p.backoff(n, 1.0));
        }
        // Huge attempt numbers neither overflow nor pass the cap.
        assert_eq!(p.backoff(u32::MAX, 1.0), Duration::from_secs(30));
        assert_eq!(p.backoff(40, 2.0), Duration::from_secs(30));
    }

    #[test]
    fn which_statuses_are_retried() {
        for s in [500, 502, 503, 504, 408, 429] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        // 2015-10-21T07:28:30Z is 30 s after `now`.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
