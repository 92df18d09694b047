//! veilink: privacy-preserving record linkage for measuring repeat victimisation.
//!
//! Police, care and victim-support agencies each register part of a victim's
//! story, and none of them may share names or dates of birth. veilink lets
//! each agency turn its registrations into keyed hashes on its own machine,
//! links those hashes across agencies into persons on a service that never
//! sees raw personal data, and measures from the linked registrations how many
//! victims are registered as a victim again within 1..7 years, and of what.
//! Every step is recorded in a tamper-evident log that auditors verify.
//!
//! # Layout
//!
//! Data flows one way, `encode → client → server → store → link → analysis`,
//! with `audit` beside the server recording each step (`docs/ARCHITECTURE.md`).
//!
//! - [`vocab`]: the v1 vocabulary (event types, roles, age bands, ...).
//! - [`encode`]: the agency side: schema, normalisation, keyed tokens and
//!   Bloom encodings, record refs (the only code that reads raw data).
//! - [`synth`]: the synthetic population with ground truth.
//! - [`wire`]: the wire form of records and batches, shared by client and server.
//! - [`pki`]: the development PKI and the principal → role policy.
//! - [`pb`]: the generated gRPC contract (`proto/veilink/v1`).
//! - [`client`]: gRPC clients for agencies, analysts, auditors and operators.
//! - [`server`]: the tonic services over mTLS, authorisation, wiring, shutdown.
//! - [`store`]: the sled store: trees, codecs, atomic durable commits.
//! - [`analysis`]: cohorts, incidents, Kaplan–Meier with Greenwood intervals,
//!   breakdowns, disclosure control, tables and plots.
//! - [`link`]: persons from records: blocking, Fellegi–Sunter with EM,
//!   guards, clustering, stable person ids, evaluation.
//! - [`audit`]: the RFC 9162 transparency log, checkpoints, proofs, verifier.
//! - [`cli`]: the `veilink` command line over all of the above.

#![warn(missing_docs)]

pub mod analysis;
pub mod audit;
pub mod cli;
pub mod client;
pub mod encode;
pub mod link;
pub mod pb;
pub mod pki;
pub mod server;
pub mod store;
pub mod synth;
pub mod vocab;
pub mod wire;
