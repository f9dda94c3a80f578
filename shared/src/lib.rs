//! The PVM domain, shared by the venue node and the cloud hub.
//!
//! Everything here is pure: no tokio, no SQL, no network. Time, randomness
//! and keys are inputs, so every rule can be tested and replayed.

pub mod auth;
pub mod bounds;
pub mod canonical;
pub mod cash;
pub mod displays;
pub mod down;
pub mod envelope;
pub mod event;
pub mod frame;
pub mod hlc;
pub mod players;
pub mod proxies;
pub mod resync;
pub mod secrets;
pub mod signing;
pub mod staff;
pub mod tournament;
pub mod venue;
pub mod verify;
pub mod web;
pub mod words;

pub use envelope::{Actor, Envelope, EnvelopeHeader, SCHEMA_VERSION};
pub use event::EventKind;
pub use hlc::{Hlc, HlcClock};
pub use verify::{verify_run, ChainStart, ChainVerifier, Problem};
