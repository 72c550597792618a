//! The outside world Yajin talks to, behind small traits: SMS gateways, and the payout
//! channel that pays refunds and collects debts (with its message signatures).

pub mod gateway;
pub mod payout;
pub mod signature;
pub mod sms;
