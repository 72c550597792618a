//! Least privilege: what each staff role may do. Checked on every back-office endpoint; the
//! state machine's own role table (application.rs) is the second check on money-moving steps.

use serde::Serialize;

use crate::application::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the review queue and the evidence of applications.
    ReviewRead,
    /// Claim, approve (first), reject, request information.
    ReviewDecide,
    /// The second approval of a refund at or above the four-eyes threshold.
    SecondApprove,
    /// Read application timelines (no money).
    TimelineRead,
    /// Watch and retry payouts, reconcile.
    Payouts,
    /// Create deposit plan versions.
    ManagePlans,
    ManageStaff,
    ManageAnnouncements,
    ReadAudit,
    SupportInbox,
    ReadReports,
    /// Read merchants' attachments.
    ReadAttachments,
    /// An agent reads its own merchants, terminals and refund applications (masked).
    AgentRead,
}

impl Permission {
    pub const ALL: [Permission; 13] = [
        Permission::ReviewRead,
        Permission::ReviewDecide,
        Permission::SecondApprove,
        Permission::TimelineRead,
        Permission::Payouts,
        Permission::ManagePlans,
        Permission::ManageStaff,
        Permission::ManageAnnouncements,
        Permission::ReadAudit,
        Permission::SupportInbox,
        Permission::ReadReports,
        Permission::ReadAttachments,
        Permission::AgentRead,
    ];
}

/// Whether `role` holds `permission`.
pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission as P;
    use Role as R;
    matches!(
        (role, permission),
        (R::Reviewer, P::ReviewRead | P::ReviewDecide | P::TimelineRead | P::ReadAttachments)
            | (R::Approver, P::ReviewRead | P::SecondApprove | P::TimelineRead | P::ReadAttachments)
            | (R::Finance, P::Payouts | P::TimelineRead | P::ReadReports)
            | (
                R::Admin,
                P::ManagePlans
                    | P::ManageStaff
                    | P::ManageAnnouncements
                    | P::ReadAudit
                    | P::ReadReports
                    | P::SupportInbox
                    | P::TimelineRead
            )
            | (R::Support, P::SupportInbox | P::TimelineRead)
            | (R::Agent, P::AgentRead)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_review_powers_are_separated() {
        // Nobody outside review approves; the reviewer never gives the second approval.
        for role in Role::ALL {
            assert_eq!(allows(role, Permission::ReviewDecide), role == Role::Reviewer, "{role:?}");
            assert_eq!(allows(role, Permission::SecondApprove), role == Role::Approver, "{role:?}");
        }
        // Support reads timelines and answers tickets, and nothing that moves money.
        let support: Vec<Permission> = Permission::ALL.into_iter().filter(|p| allows(Role::Support, *p)).collect();
        assert_eq!(support, [Permission::TimelineRead, Permission::SupportInbox]);
        // An agent reads its own merchants and holds nothing else.
        let agent: Vec<Permission> = Permission::ALL.into_iter().filter(|p| allows(Role::Agent, *p)).collect();
        assert_eq!(agent, [Permission::AgentRead]);
        assert!(Role::ALL.into_iter().filter(|r| allows(*r, Permission::AgentRead)).eq([Role::Agent]));
        // Merchants and the system hold no staff permission.
        for p in Permission::ALL {
            assert!(!allows(Role::Merchant, p) && !allows(Role::System, p));
        }
    }
}
