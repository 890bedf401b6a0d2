//! A small, realistic account on the emulator: Firebreak's own stack (the Object Lock evidence
//! bucket, the S1/S2 topics with a queue subscribed so pages can be read back) and the resources
//! the sample events are about.

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, IamInstanceProfileSpecification, InstanceType,
};
use aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use firebreak_core::Config;

use crate::moto::HOME_ACCOUNT;

/// Firebreak's resources in the security account.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Evidence bucket (Object Lock, versioned).
    pub bucket: String,
    /// S1 pager topic.
    pub pager_topic: String,
    /// S2 ticket topic.
    pub ticket_topic: String,
    /// A queue subscribed to both topics.
    pub queue_url: String,
}

/// Creates the stack.
pub async fn stack(sdk: &SdkConfig) -> Stack {
    let s3 = s3_client(sdk);
    let bucket = format!("firebreak-evidence-{HOME_ACCOUNT}");
    s3.create_bucket()
        .bucket(&bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create evidence bucket");
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    s3.put_object_lock_configuration()
        .bucket(&bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(90)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("object lock configuration");
    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let pager_topic = sns
        .create_topic()
        .name("firebreak-s1-pager")
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .unwrap()
        .to_string();
    let ticket_topic = sns
        .create_topic()
        .name("firebreak-s2-ticket")
        .send()
        .await
        .expect("topic")
        .topic_arn()
        .unwrap()
        .to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name("firebreak-pages")
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap()
        .to_string();
    let queue_arn = format!(
        "arn:aws:sqs:{}:{HOME_ACCOUNT}:firebreak-pages",
        crate::moto::REGION
    );
    for topic in [&pager_topic, &ticket_topic] {
        sns.subscribe()
            .topic_arn(topic)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .send()
            .await
            .expect("subscribe");
    }
    deny_policy(sdk).await;
    Stack {
        bucket,
        pager_topic,
        ticket_topic,
        queue_url,
    }
}

/// Firebreak's deny-all managed policy, as the template creates it in the security account and
/// infra/member-role.yaml in the member account.
pub async fn deny_policy(sdk: &SdkConfig) {
    let home = firebreak_aws::Clients::new(sdk);
    let member = firebreak_aws::sdk::accounts::member_clients(
        &home,
        "aws",
        crate::moto::MEMBER_ACCOUNT,
        "FirebreakMember",
        "seed",
    )
    .await
    .expect("enter the member account");
    let name = Config::default().accounts.deny_policy;
    for iam in [&home.iam, &member.iam] {
        iam.create_policy()
            .policy_name(&name)
            .policy_document(DENY_ALL)
            .send()
            .await
            .expect("create the deny-all policy");
        quarantine_profile(iam).await;
    }
}

/// The quarantine instance profile and its deny-all role, as the templates create them.
pub async fn quarantine_profile(iam: &aws_sdk_iam::Client) {
    let name = Config::default().accounts.quarantine_profile;
    role(iam, &name).await;
    iam.put_role_policy()
        .role_name(&name)
        .policy_name("DenyEverything")
        .policy_document(DENY_ALL)
        .send()
        .await
        .expect("the quarantine role's deny");
    iam.create_instance_profile()
        .instance_profile_name(&name)
        .send()
        .await
        .expect("the quarantine profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name(&name)
        .role_name(&name)
        .send()
        .await
        .expect("the quarantine profile's role");
}

/// The deny-all document of `infra/template.yaml`'s `FirebreakDenyAll`.
pub const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"DenyEverything","Effect":"Deny","Action":"*","Resource":"*"}]}"#;

/// The configuration of infra/firebreak.toml, pointed at this stack.
pub fn config(stack: &Stack) -> Config {
    let text = std::fs::read_to_string(crate::repo().join("infra/firebreak.toml"))
        .expect("infra/firebreak.toml");
    let mut config = Config::from_toml(&text).expect("valid config");
    config.stack.evidence_bucket = stack.bucket.clone();
    config.stack.pager_topic_arn = stack.pager_topic.clone();
    config.stack.ticket_topic_arn = stack.ticket_topic.clone();
    config
}

/// S3 client in path style (the emulator has no virtual hosts).
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// An IAM user with two access keys; returns their ids.
pub async fn user_with_two_keys(iam: &aws_sdk_iam::Client, name: &str) -> (String, String) {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .expect("create user");
    let mut keys = Vec::new();
    for _ in 0..2 {
        let k = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .expect("create key");
        keys.push(k.access_key().unwrap().access_key_id().to_string());
    }
    (keys[0].clone(), keys[1].clone())
}

/// A role that EC2 may assume.
pub async fn role(iam: &aws_sdk_iam::Client, name: &str) {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role()
        .role_name(name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect("create role");
}

/// The role's unique id (`AROA…`), the first part of its sessions' `aws:userid`.
pub async fn role_id(iam: &aws_sdk_iam::Client, name: &str) -> String {
    iam.get_role()
        .role_name(name)
        .send()
        .await
        .expect("get role")
        .role()
        .expect("a role")
        .role_id()
        .to_string()
}

/// A Lambda function that is never invoked (the emulator runs none without Docker): something
/// for a permission to be added to and removed from.
pub async fn function(sdk: &SdkConfig, name: &str, role_arn: &str) -> String {
    function_with(sdk, name, role_arn, &[]).await
}

/// The same, with `environment` (as a deployed function's configuration); its ARN.
pub async fn function_with(
    sdk: &SdkConfig,
    name: &str,
    role_arn: &str,
    environment: &[(String, String)],
) -> String {
    let mut variables = aws_sdk_lambda::types::Environment::builder();
    for (k, v) in environment {
        variables = variables.variables(k, v);
    }
    aws_sdk_lambda::Client::new(sdk)
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role_arn)
        .environment(variables.build())
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(b"never invoked".to_vec()))
                .build(),
        )
        .send()
        .await
        .expect("create function")
        .function_arn
        .expect("a function ARN")
}

/// The statuses of `user`'s access keys, sorted (`Active`, `Inactive`).
pub async fn key_statuses(iam: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    let keys = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("list keys");
    let mut out: Vec<String> = keys
        .access_key_metadata()
        .iter()
        .filter_map(|k| k.status().map(|s| s.as_str().to_string()))
        .collect();
    out.sort();
    out
}

/// A running instance with two volumes and an instance profile, in its own VPC.
#[derive(Debug, Clone)]
pub struct Server {
    /// Instance id.
    pub instance_id: String,
    /// Instance profile ARN.
    pub profile_arn: String,
    /// The role behind the profile.
    pub role: String,
    /// Its VPC.
    pub vpc_id: String,
    /// The group it started in.
    pub original_group: String,
}

/// Launches [`Server`].
pub async fn server(sdk: &SdkConfig, name: &str) -> Server {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let iam = aws_sdk_iam::Client::new(sdk);
    let role_name = format!("{name}-role");
    role(&iam, &role_name).await;
    let profile = iam
        .create_instance_profile()
        .instance_profile_name(format!("{name}-profile"))
        .send()
        .await
        .expect("profile");
    let profile_arn = profile.instance_profile().unwrap().arn().to_string();
    iam.add_role_to_instance_profile()
        .instance_profile_name(format!("{name}-profile"))
        .role_name(&role_name)
        .send()
        .await
        .expect("add role");
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.20.0.0/16")
        .send()
        .await
        .expect("vpc");
    let vpc_id = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.20.1.0/24")
        .send()
        .await
        .expect("subnet");
    let subnet_id = subnet.subnet().unwrap().subnet_id().unwrap().to_string();
    let group = ec2
        .create_security_group()
        .group_name(format!("{name}-web"))
        .description("web")
        .vpc_id(&vpc_id)
        .send()
        .await
        .expect("group");
    let original_group = group.group_id().unwrap().to_string();
    let image = ec2.describe_images().send().await.expect("images");
    // A Linux x86_64 image, like most servers (and what the memory tool runs on).
    let image_id = image
        .images()
        .iter()
        .find(|i| i.platform().is_none() && i.architecture().map(|a| a.as_str()) == Some("x86_64"))
        .or(image.images().first())
        .and_then(|i| i.image_id())
        .expect("the emulator ships AMIs")
        .to_string();
    let run = ec2
        .run_instances()
        .image_id(image_id)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .subnet_id(&subnet_id)
        .security_group_ids(&original_group)
        .iam_instance_profile(
            IamInstanceProfileSpecification::builder()
                .arn(&profile_arn)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/sda1")
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(8)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name("/dev/sdf")
                .ebs(
                    EbsBlockDevice::builder()
                        .volume_size(20)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("run instances");
    let instance_id = run
        .instances()
        .first()
        .and_then(|i| i.instance_id())
        .unwrap()
        .to_string();
    Server {
        instance_id,
        profile_arn,
        role: role_name,
        vpc_id,
        original_group,
    }
}
