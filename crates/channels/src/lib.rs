//! The outside world Yajin talks to, behind small traits: SMS gateways here; payout channels
//! join them when payouts are built.

pub mod sms;
