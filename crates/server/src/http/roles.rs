//! Tenant roles: who may do what in a tenant. A role includes the ones below it
//! (`owner` > `admin` > `agent`).
//!
//! | Endpoint group | read | write |
//! | --- | --- | --- |
//! | conversations, messages, agent switch, customers | agent | agent |
//! | channels, channel blacklists | agent | admin |
//! | OAuth clients, members | admin | admin |
//! | giving or taking the admin or owner role | owner | owner |
//!
//! client_credentials tokens act with the `agent` role in their client's tenant.

use super::error::{ApiError, ErrorCode};
use super::extract::TenantScope;
use switchboard_core::Role;

/// The endpoint groups of the API, for `required_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Conversations,
    Messages,
    Customers,
    Channels,
    Blacklists,
    Clients,
    Members,
    /// Granting or removing the admin or owner role.
    Admins,
}

/// The least role that may read (`write == false`) or change a group.
pub fn required_role(group: Group, write: bool) -> Role {
    use Group::*;
    match (group, write) {
        (Conversations | Messages | Customers, _) => Role::Agent,
        (Channels | Blacklists, false) => Role::Agent,
        (Channels | Blacklists, true) => Role::Admin,
        (Clients | Members, _) => Role::Admin,
        (Admins, _) => Role::Owner,
    }
}

/// The least role that may change a member whose role is `current` to `new` (`None`:
/// remove them): admins manage agents, only owners touch admins and owners.
pub fn role_to_change_member(current: Role, new: Option<Role>) -> Role {
    if current >= Role::Admin || new.is_some_and(|r| r >= Role::Admin) {
        required_role(Group::Admins, true)
    } else {
        required_role(Group::Members, true)
    }
}

/// 403 `insufficient_role` unless the caller's role in the tenant is at least `needed`.
pub fn require_role(scope: &TenantScope, needed: Role) -> Result<(), ApiError> {
    if scope.role >= needed {
        Ok(())
    } else {
        Err(
            ApiError::new(ErrorCode::InsufficientRole).with_message(format!(
                "This request needs the {} role in this tenant; yours is {}.",
                needed.as_str(),
                scope.role.as_str()
            )),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_table() {
        assert_eq!(required_role(Group::Conversations, true), Role::Agent);
        assert_eq!(required_role(Group::Channels, false), Role::Agent);
        assert_eq!(required_role(Group::Channels, true), Role::Admin);
        assert_eq!(required_role(Group::Blacklists, true), Role::Admin);
        assert_eq!(required_role(Group::Clients, false), Role::Admin);
        assert_eq!(required_role(Group::Admins, true), Role::Owner);
        assert_eq!(role_to_change_member(Role::Agent, None), Role::Admin);
        assert_eq!(
            role_to_change_member(Role::Agent, Some(Role::Agent)),
            Role::Admin
        );
        assert_eq!(
            role_to_change_member(Role::Agent, Some(Role::Admin)),
            Role::Owner
        );
        assert_eq!(
            role_to_change_member(Role::Admin, Some(Role::Agent)),
            Role::Owner
        );
        assert_eq!(role_to_change_member(Role::Owner, None), Role::Owner);
    }
}
