//! The refund application (退押金申请) state machine: a table of allowed transitions, each with
//! the roles that may take it. Anything not in the table is a typed error.

use serde::{Deserialize, Serialize};

use crate::money::Fen;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Submitted,
    InReview,
    InfoRequested,
    AwaitingSecondApproval,
    Approved,
    Paying,
    PayoutFailed,
    Refunded,
    Rejected,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Submitted,
        Status::InReview,
        Status::InfoRequested,
        Status::AwaitingSecondApproval,
        Status::Approved,
        Status::Paying,
        Status::PayoutFailed,
        Status::Refunded,
        Status::Rejected,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::InfoRequested => "info_requested",
            Self::AwaitingSecondApproval => "awaiting_second_approval",
            Self::Approved => "approved",
            Self::Paying => "paying",
            Self::PayoutFailed => "payout_failed",
            Self::Refunded => "refunded",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Final states: nothing leaves them.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Refunded | Self::Rejected | Self::Cancelled)
    }

    /// Open states: a terminal has at most one application in them (also a partial unique
    /// index in the database, whose list must match this one).
    pub fn is_open(self) -> bool {
        !self.is_final()
    }
}

/// Who acts. `System` is Yajin itself: automatic approval and the payout worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Merchant,
    Reviewer,
    Approver,
    Finance,
    Admin,
    Support,
    /// An agent (代理商) who sold terminals: reads its own merchants' cases, decides nothing.
    Agent,
    System,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Merchant,
        Role::Reviewer,
        Role::Approver,
        Role::Finance,
        Role::Admin,
        Role::Support,
        Role::Agent,
        Role::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merchant => "merchant",
            Self::Reviewer => "reviewer",
            Self::Approver => "approver",
            Self::Finance => "finance",
            Self::Admin => "admin",
            Self::Support => "support",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Roles a staff account can hold.
    pub fn is_staff(self) -> bool {
        !matches!(self, Self::Merchant | Self::System)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Claim,
    RequestInfo,
    Supplement,
    /// A first approval below the four-eyes threshold: approved.
    Approve,
    /// A first approval at or above the threshold: a second approver must follow.
    ApproveFirstOfTwo,
    SecondApprove,
    Reject,
    AutoApprove,
    Cancel,
    StartPayout,
    ConfirmPayout,
    FailPayout,
    RetryPayout,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::Claim,
        Action::RequestInfo,
        Action::Supplement,
        Action::Approve,
        Action::ApproveFirstOfTwo,
        Action::SecondApprove,
        Action::Reject,
        Action::AutoApprove,
        Action::Cancel,
        Action::StartPayout,
        Action::ConfirmPayout,
        Action::FailPayout,
        Action::RetryPayout,
    ];
}

use Action as A;
use Role as R;
use Status as S;

/// The whole machine: (from, action) → (to, who may take it).
const TRANSITIONS: &[(Status, Action, Status, &[Role])] = &[
    (S::Submitted, A::Claim, S::InReview, &[R::Reviewer]),
    (S::Submitted, A::AutoApprove, S::Approved, &[R::System]),
    (S::Submitted, A::Cancel, S::Cancelled, &[R::Merchant]),
    (S::InReview, A::RequestInfo, S::InfoRequested, &[R::Reviewer]),
    (S::InReview, A::Approve, S::Approved, &[R::Reviewer]),
    (S::InReview, A::ApproveFirstOfTwo, S::AwaitingSecondApproval, &[R::Reviewer]),
    (S::InReview, A::Reject, S::Rejected, &[R::Reviewer]),
    (S::InReview, A::Cancel, S::Cancelled, &[R::Merchant]),
    (S::InfoRequested, A::Supplement, S::Submitted, &[R::Merchant]),
    (S::InfoRequested, A::Cancel, S::Cancelled, &[R::Merchant]),
    (S::AwaitingSecondApproval, A::SecondApprove, S::Approved, &[R::Approver]),
    (S::AwaitingSecondApproval, A::Reject, S::Rejected, &[R::Approver]),
    (S::Approved, A::StartPayout, S::Paying, &[R::System]),
    (S::Paying, A::ConfirmPayout, S::Refunded, &[R::System]),
    (S::Paying, A::FailPayout, S::PayoutFailed, &[R::System]),
    (S::PayoutFailed, A::RetryPayout, S::Paying, &[R::Finance, R::System]),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("an application that is {} cannot take {action:?}", from.as_str())]
    InvalidState { from: Status, action: Action },
    #[error("{} may not take {action:?}", role.as_str())]
    NotAllowed { role: Role, action: Action },
    #[error("the second approval must come from someone other than the first approver")]
    SameApprover,
}

impl TransitionError {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidState { .. } => "invalid_state",
            Self::NotAllowed { .. } => "forbidden",
            Self::SameApprover => "same_approver",
        }
    }
}

/// The state `action` by `role` leads to from `from`, or why it may not be taken.
pub fn transition(from: Status, action: Action, role: Role) -> Result<Status, TransitionError> {
    let (_, _, to, roles) = TRANSITIONS
        .iter()
        .find(|(f, a, _, _)| *f == from && *a == action)
        .ok_or(TransitionError::InvalidState { from, action })?;
    if !roles.contains(&role) {
        return Err(TransitionError::NotAllowed { role, action });
    }
    Ok(*to)
}

/// Every state an action can be taken from: the `WHERE state IN (…)` of its conditional update.
pub fn sources_of(action: Action) -> Vec<Status> {
    TRANSITIONS.iter().filter(|(_, a, _, _)| *a == action).map(|(f, _, _, _)| *f).collect()
}

/// Which approval a reviewer's or approver's "approve" is, given where the application stands.
pub fn approval_action(from: Status, refund: Fen, four_eyes_threshold: Fen) -> Action {
    match from {
        Status::AwaitingSecondApproval => Action::SecondApprove,
        _ if refund >= four_eyes_threshold => Action::ApproveFirstOfTwo,
        _ => Action::Approve,
    }
}

/// Four eyes: the second approver is never the first.
pub fn check_second_approver(first_approver: &str, second_approver: &str) -> Result<(), TransitionError> {
    if first_approver == second_approver {
        Err(TransitionError::SameApprover)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine of product.md, written out independently of the table.
    fn expected(from: Status, action: Action, role: Role) -> Option<Status> {
        use Action::*;
        use Role::*;
        use Status::*;
        match (from, action, role) {
            (Submitted, Claim, Reviewer) => Some(InReview),
            (Submitted, AutoApprove, System) => Some(Approved),
            (Submitted | InReview | InfoRequested, Cancel, Merchant) => Some(Cancelled),
            (InReview, RequestInfo, Reviewer) => Some(InfoRequested),
            (InReview, Approve, Reviewer) => Some(Approved),
            (InReview, ApproveFirstOfTwo, Reviewer) => Some(AwaitingSecondApproval),
            (InReview, Reject, Reviewer) => Some(Rejected),
            (InfoRequested, Supplement, Merchant) => Some(Submitted),
            (AwaitingSecondApproval, SecondApprove, Approver) => Some(Approved),
            (AwaitingSecondApproval, Reject, Approver) => Some(Rejected),
            (Approved, StartPayout, System) => Some(Paying),
            (Paying, ConfirmPayout, System) => Some(Refunded),
            (Paying, FailPayout, System) => Some(PayoutFailed),
            (PayoutFailed, RetryPayout, Finance | System) => Some(Paying),
            _ => None,
        }
    }

    #[test]
    fn every_state_action_role_triple_matches_the_spec() {
        let mut allowed = 0;
        for from in Status::ALL {
            for action in Action::ALL {
                for role in Role::ALL {
                    let got = transition(from, action, role);
                    match expected(from, action, role) {
                        Some(to) => {
                            allowed += 1;
                            assert_eq!(got, Ok(to), "{from:?} {action:?} {role:?}");
                        }
                        None => assert!(got.is_err(), "{from:?} {action:?} {role:?} gave {got:?}"),
                    }
                }
            }
        }
        assert_eq!(allowed, 17);
    }

    #[test]
    fn wrong_state_is_told_apart_from_wrong_role() {
        assert_eq!(
            transition(Status::Approved, Action::Cancel, Role::Merchant),
            Err(TransitionError::InvalidState { from: Status::Approved, action: Action::Cancel })
        );
        assert_eq!(
            transition(Status::AwaitingSecondApproval, Action::SecondApprove, Role::Reviewer),
            Err(TransitionError::NotAllowed { role: Role::Reviewer, action: Action::SecondApprove })
        );
    }

    #[test]
    fn final_states_have_no_way_out() {
        for from in Status::ALL.into_iter().filter(|s| s.is_final()) {
            for action in Action::ALL {
                for role in Role::ALL {
                    assert!(transition(from, action, role).is_err());
                }
            }
        }
    }

    #[test]
    fn approval_kind_follows_the_threshold() {
        let t = Fen::yuan(200);
        assert_eq!(approval_action(Status::InReview, Fen::yuan(299), t), Action::ApproveFirstOfTwo);
        assert_eq!(approval_action(Status::InReview, Fen::yuan(200), t), Action::ApproveFirstOfTwo);
        assert_eq!(approval_action(Status::InReview, Fen::yuan(99), t), Action::Approve);
        assert_eq!(approval_action(Status::AwaitingSecondApproval, Fen::yuan(299), t), Action::SecondApprove);
        assert_eq!(check_second_approver("st_1", "st_1"), Err(TransitionError::SameApprover));
        assert_eq!(check_second_approver("st_1", "st_2"), Ok(()));
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(sources_of(Action::Cancel), [Status::Submitted, Status::InReview, Status::InfoRequested]);
    }
}
