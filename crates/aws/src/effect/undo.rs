//! Undo: each recorded [`Change`] put back, in the incident's account and region. Only what
//! Firebreak recorded is undone; what is evidence (termination protection, snapshots) is kept.

use firebreak_core::record::release::Change;
use firebreak_core::{IncidentId, TagTarget};

use crate::effect::{IdentityCenter, isolation};
use crate::sdk::clients::Clients;
use crate::sdk::error::{AwsError, Undone};
use crate::service::{autoscaling, cognito, ec2, elb, iam, identity_center, lambda, s3};

/// Undoes one change in the incident's account and region; `deny_policy` names Firebreak's
/// deny-all managed policy, the only managed policy a release detaches.
///
/// A change made in Identity Center is undone where it was made: `ic` is Identity Center in the
/// change's account and region (release enters it for those changes only).
pub(crate) async fn undo(
    c: &Clients,
    ic: Option<&IdentityCenter>,
    id: &IncidentId,
    change: &Change,
    deny_policy: &str,
) -> Result<Undone, AwsError> {
    let tag = id.quarantine_tag();
    let at_identity_center = || {
        ic.ok_or_else(|| {
            AwsError::new("Internal", "Identity Center was not entered for its change")
        })
    };
    match change {
        Change::PermissionSetDenied {
            permission_set_arn,
            sid,
            original,
            ..
        } => {
            let ic = at_identity_center()?;
            identity_center::restore_policy(
                &ic.sso,
                &ic.instance,
                permission_set_arn,
                sid,
                original.as_deref(),
            )
            .await
        }
        Change::AccountAssignmentRemoved {
            permission_set_arn,
            target_account,
            user_id,
            ..
        } => {
            let ic = at_identity_center()?;
            identity_center::restore_assignment(
                &ic.sso,
                &ic.instance,
                permission_set_arn,
                target_account,
                user_id,
            )
            .await
        }
        Change::AccessKeyDeactivated {
            user_name,
            access_key_id,
        } => iam::reactivate_access_key(&c.iam, user_name, access_key_id).await,
        Change::UserPolicyPut {
            user_name,
            policy_name,
        } => iam::delete_user_policy(&c.iam, user_name, policy_name).await,
        Change::ManagedPolicyAttached {
            user_name,
            policy_arn,
        } => iam::detach_user_policy(&c.iam, user_name, policy_arn, deny_policy).await,
        Change::RolePolicyPut {
            role_name,
            policy_name,
        } => iam::delete_role_policy(&c.iam, role_name, policy_name).await,
        Change::CognitoUserDisabled {
            user_pool_id,
            username,
        } => cognito::enable_user(&c.cognito, user_pool_id, username).await,
        Change::CognitoSignUpStopped { user_pool_id } => {
            if cognito::set_admin_create_user_only(&c.cognito, user_pool_id, false).await? {
                Ok(Undone::Changed(
                    "self sign-up allowed again; every other pool setting carried over".into(),
                ))
            } else {
                Ok(Undone::Unchanged("self sign-up was already allowed".into()))
            }
        }
        Change::PublicAccessBlocked { bucket, original } => {
            s3::restore_public_access_block(&c.s3, bucket, original).await
        }
        Change::DetachedFromAutoScalingGroup {
            instance_id,
            group_name,
            ..
        } => autoscaling::reattach(&c.autoscaling, instance_id, group_name).await,
        Change::DeregisteredFromLoadBalancers {
            instance_id,
            target_groups,
            classic,
        } => elb::register_again(&c.elbv2, &c.elb, instance_id, target_groups, classic).await,
        Change::InstanceProfileReplaced {
            instance_id,
            original_arn,
            quarantine_arn,
        } => ec2::restore_profile(&c.ec2, instance_id, original_arn, quarantine_arn).await,
        Change::InstanceIsolated {
            instance_id,
            interfaces,
        } => isolation::restore_groups(&c.ec2, instance_id, interfaces).await,
        Change::IngressRevoked { group_id, rules } => {
            ec2::authorize_ingress(&c.ec2, group_id, rules).await
        }
        Change::ShareRemoved {
            resource,
            accounts,
            public,
        } => {
            crate::effect::modify_shares(c, resource, accounts, *public, true).await?;
            Ok(Undone::Changed(format!(
                "{} shared again with {:?}{}",
                resource.id(),
                accounts,
                if *public { " and everyone" } else { "" }
            )))
        }
        Change::LambdaPermissionRemoved {
            function_name,
            statement_id,
            grant,
        } => lambda::add_permission(&c.lambda, function_name, statement_id, grant).await,
        Change::LoginProfileDeleted { user_name } => Ok(Undone::Unchanged(format!(
            "a deleted password cannot be restored: give {user_name} a new one (aws iam create-login-profile --user-name {user_name} --password-reset-required)"
        ))),
        Change::Tagged { resource, volumes } => match resource {
            TagTarget::IamUser(u) => iam::untag_user(&c.iam, u, &tag).await,
            TagTarget::IamRole(r) => iam::untag_role(&c.iam, r, &tag).await,
            TagTarget::Bucket(b) => s3::untag_bucket(&c.s3, b, &tag).await,
            TagTarget::Instance(i) => {
                let mut resources = vec![i.clone()];
                resources.extend(volumes.iter().cloned());
                ec2::untag(&c.ec2, &resources, &tag).await
            }
        },
    }
}
