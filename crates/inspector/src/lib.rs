//! Talking to Node's V8 inspector (Chrome DevTools Protocol over WebSocket).
//!
//! * [`target`]: find a process's inspector by URL, port or PID (loopback only
//!   unless allowed; SIGUSR1 activation only after checking it is safe).
//! * [`launch`]: start `node app.js` with `--inspect=127.0.0.1:0`.
//! * [`cdp::Session`]: commands and events over one WebSocket.
//! * [`snapshot`], [`profile`]: heap snapshots streamed in chunks (and allocation
//!   tracking for them), sampling heap profiles ([`profile::SamplingProfile::to_pprof`]
//!   writes one in pprof's format; [`estimate`]: what its counts mean).

pub mod cdp;
mod error;
pub mod estimate;
pub mod launch;
mod pprof_export;
pub mod profile;
pub mod snapshot;
pub mod target;

pub use cdp::Session;
pub use error::{Error, Result};
