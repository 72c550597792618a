//! Rows of the business records, each module one table family. Every function takes the
//! caller's connection or transaction: the use case decides the transaction's bounds.

pub mod applications;
pub mod merchants;
pub mod outstanding;
pub mod plans;
pub mod staff;
pub mod terminals;
