//! Terminal orders (申请机具): a merchant applies for a terminal under a published plan, a
//! reviewer approves it, the merchant pays the deposit through the channel, the terminal ships
//! and is delivered, and it activates on its first transaction — when its plan snapshot is
//! fixed. Who may move an order, and from where, is this table and nothing else.

use serde::{Deserialize, Serialize};

use crate::application::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Submitted,
    Approved,
    /// The deposit is being collected through the channel.
    Paying,
    DepositPaid,
    Shipped,
    Delivered,
    Activated,
    /// Refused on delivery or sent back before its first transaction: the terminal is
    /// terminated, and the deposit comes back once the device is received.
    Returned,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        OrderStatus::Submitted,
        OrderStatus::Approved,
        OrderStatus::Paying,
        OrderStatus::DepositPaid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Activated,
        OrderStatus::Returned,
        OrderStatus::Rejected,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Approved => "approved",
            Self::Paying => "paying",
            Self::DepositPaid => "deposit_paid",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Activated => "activated",
            Self::Returned => "returned",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderAction {
    Approve,
    Reject,
    /// Only before the deposit is paid; after, the merchant refuses delivery or returns the
    /// device, and the ordinary termination refund applies.
    Cancel,
    Pay,
    PaymentSucceeded,
    /// The bank refused: the order is approved again, and the merchant may pay again.
    PaymentFailed,
    Ship,
    ConfirmDelivery,
    /// The merchant refuses the delivery or returns the terminal unused.
    Return,
    /// The first transaction (delivery need not have been confirmed).
    Activate,
}

/// Why an order cannot move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRefusal {
    /// Nobody in this role takes this step.
    NotAllowed,
    /// Not from the order's state.
    InvalidState,
}

/// Where `action` by `role` takes an order in `from`. The wrong person is told so before the
/// wrong moment.
pub fn order_transition(from: OrderStatus, action: OrderAction, role: Role) -> Result<OrderStatus, OrderRefusal> {
    use OrderAction as A;
    use OrderStatus as S;
    if role != role_of(action) {
        return Err(OrderRefusal::NotAllowed);
    }
    match (from, action) {
        (S::Submitted, A::Approve) => Ok(S::Approved),
        (S::Submitted, A::Reject) => Ok(S::Rejected),
        (S::Submitted | S::Approved, A::Cancel) => Ok(S::Cancelled),
        (S::Approved, A::Pay) => Ok(S::Paying),
        (S::Paying, A::PaymentSucceeded) => Ok(S::DepositPaid),
        (S::Paying, A::PaymentFailed) => Ok(S::Approved),
        (S::DepositPaid, A::Ship) => Ok(S::Shipped),
        (S::Shipped, A::ConfirmDelivery) => Ok(S::Delivered),
        (S::Shipped | S::Delivered, A::Activate) => Ok(S::Activated),
        (S::Shipped | S::Delivered, A::Return) => Ok(S::Returned),
        _ => Err(OrderRefusal::InvalidState),
    }
}

/// The one role that takes `action`.
fn role_of(action: OrderAction) -> Role {
    use OrderAction as A;
    match action {
        A::Approve | A::Reject | A::Ship => Role::Reviewer,
        A::Cancel | A::Pay | A::ConfirmDelivery | A::Return => Role::Merchant,
        A::PaymentSucceeded | A::PaymentFailed | A::Activate => Role::System,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderAction as A;
    use OrderStatus as S;

    const ACTIONS: [OrderAction; 10] = [
        A::Approve,
        A::Reject,
        A::Cancel,
        A::Pay,
        A::PaymentSucceeded,
        A::PaymentFailed,
        A::Ship,
        A::ConfirmDelivery,
        A::Return,
        A::Activate,
    ];

    #[test]
    fn the_happy_path_and_only_by_the_right_role() {
        let path = [
            (S::Submitted, A::Approve, Role::Reviewer, S::Approved),
            (S::Approved, A::Pay, Role::Merchant, S::Paying),
            (S::Paying, A::PaymentSucceeded, Role::System, S::DepositPaid),
            (S::DepositPaid, A::Ship, Role::Reviewer, S::Shipped),
            (S::Shipped, A::ConfirmDelivery, Role::Merchant, S::Delivered),
            (S::Delivered, A::Activate, Role::System, S::Activated),
        ];
        for (from, action, role, to) in path {
            assert_eq!(order_transition(from, action, role), Ok(to));
            for other in Role::ALL.into_iter().filter(|r| *r != role) {
                assert_eq!(
                    order_transition(from, action, other),
                    Err(OrderRefusal::NotAllowed),
                    "{other:?} {action:?}"
                );
            }
        }
    }

    #[test]
    fn nothing_is_collected_once_cancelled_and_nothing_cancelled_once_paid() {
        for from in [S::Paying, S::DepositPaid, S::Shipped, S::Delivered, S::Activated, S::Rejected, S::Cancelled] {
            assert_eq!(order_transition(from, A::Cancel, Role::Merchant), Err(OrderRefusal::InvalidState), "{from:?}");
        }
        for from in S::ALL.into_iter().filter(|s| *s != S::Approved) {
            assert_eq!(order_transition(from, A::Pay, Role::Merchant), Err(OrderRefusal::InvalidState), "{from:?}");
        }
        assert_eq!(
            order_transition(S::Paying, A::PaymentFailed, Role::System),
            Ok(S::Approved),
            "pay again after a refusal"
        );
    }

    #[test]
    fn final_states_stay_final_and_every_status_reads_back() {
        assert_eq!(order_transition(S::Delivered, A::Return, Role::Merchant), Ok(S::Returned));
        assert_eq!(
            order_transition(S::Activated, A::Return, Role::Merchant),
            Err(OrderRefusal::InvalidState),
            "used: ended by termination"
        );
        for from in [S::Activated, S::Returned, S::Rejected, S::Cancelled] {
            for action in ACTIONS {
                for role in Role::ALL {
                    assert!(order_transition(from, action, role).is_err(), "{from:?} {action:?} {role:?}");
                }
            }
        }
        for s in S::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
    }
}
