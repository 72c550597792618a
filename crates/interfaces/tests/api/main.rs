//! The HTTP API, in-process: a real server on a free port over a fresh database (SQLite and
//! PostgreSQL), seeded with the demo data set, driven over HTTP like any client.

mod admin;
mod agents;
mod applications;
mod attachments;
mod auth;
mod contract;
mod devices;
mod harness;
mod idempotency;
mod inbox;
mod journey;
mod keys;
mod language;
mod messages;
mod metrics;
mod operations;
mod orders;
mod payouts;
mod plans;
mod provisioning;
mod reconciliations;
mod review;
mod web;
