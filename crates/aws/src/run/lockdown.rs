//! Emergency lockdown, by hand: "shut down user login" for a whole Cognito pool, or every
//! session of a role. Reported action by action, like any response.

use chrono::Utc;
use firebreak_core::{ActionOutcome, Config, Status};

use crate::sdk::clients::Clients;
use crate::sdk::error::{AwsError, SdkResultExt};
use crate::service::{cognito, iam};

fn outcome(index: usize, kind: &str, target: &str, status: Status) -> ActionOutcome {
    tracing::info!(action = kind, outcome = status.word(), "lockdown");
    ActionOutcome {
        index,
        kind: kind.to_string(),
        target: target.to_string(),
        status,
        at: Utc::now(),
        changes: Vec::new(),
    }
}

fn result(r: Result<String, AwsError>) -> Status {
    match r {
        Ok(detail) => Status::Done { detail },
        Err(e) => Status::Failed {
            code: e.code,
            message: e.message,
        },
    }
}

/// Stops self sign-up on the pool, then signs every user out.
pub async fn cognito_pool(c: &Clients, pool: &str, dry_run: bool) -> Vec<ActionOutcome> {
    let mut out = Vec::new();
    if dry_run {
        out.push(outcome(
            0,
            "cognito_stop_sign_up",
            pool,
            Status::DryRun {
                would: format!("set AllowAdminCreateUserOnly on {pool}"),
            },
        ));
    } else {
        out.push(outcome(
            0,
            "cognito_stop_sign_up",
            pool,
            result(cognito::stop_sign_up(&c.cognito, pool).await),
        ));
    }
    let mut token: Option<String> = None;
    loop {
        let page = match c
            .cognito
            .list_users()
            .user_pool_id(pool)
            .set_pagination_token(token.take())
            .send()
            .await
            .aws()
        {
            Ok(page) => page,
            Err(e) => {
                out.push(outcome(
                    out.len(),
                    "cognito_global_sign_out",
                    &format!("{pool}/*"),
                    Status::Failed {
                        code: e.code,
                        message: e.message,
                    },
                ));
                return out;
            }
        };
        for user in page.users() {
            let Some(name) = user.username() else {
                continue;
            };
            let target = format!("{pool}/{name}");
            let status = if dry_run {
                Status::DryRun {
                    would: format!("sign {name} out everywhere"),
                }
            } else {
                result(cognito::global_sign_out(&c.cognito, pool, name).await)
            };
            out.push(outcome(
                out.len(),
                "cognito_global_sign_out",
                &target,
                status,
            ));
        }
        match page.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    out
}

/// Revokes every session of a role issued before now; never a protected role.
pub async fn role(
    c: &Clients,
    config: &Config,
    account: &str,
    partition: &str,
    role: &str,
    dry_run: bool,
) -> Vec<ActionOutcome> {
    let arn = format!("arn:{partition}:iam::{account}:role/{role}");
    let status = if let Some(why) = config.protection(&arn) {
        Status::Skipped {
            why: format!("{arn} is {}: never contained", why.describe()),
        }
    } else if dry_run {
        Status::DryRun {
            would: format!("put {} on role {role}", iam::REVOKE_POLICY),
        }
    } else {
        result(iam::revoke_role_sessions(&c.iam, role, Utc::now()).await)
    };
    vec![outcome(0, "revoke_role_sessions", role, status)]
}
