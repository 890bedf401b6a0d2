//! The fault-injecting proxy in front of the emulator, through the real AWS SDK: it passes
//! requests through untouched, and each injected fault reaches the SDK as the error AWS would
//! give (read and retried by the SDK as such).

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use firebreak_testbed::faults::{FaultProxy, Faults};
use firebreak_testbed::moto::{Moto, sdk_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The emulator with the proxy in front of it.
async fn world(faults: Faults) -> (Moto, FaultProxy) {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, faults)
        .await
        .expect("start the proxy");
    (moto, proxy)
}

/// SDK configuration through the proxy, with `retry`.
async fn sdk(proxy: &FaultProxy, retry: RetryConfig) -> SdkConfig {
    sdk_for(&proxy.endpoint())
        .await
        .to_builder()
        .retry_config(retry)
        .build()
}

/// Standard retries with `attempts` attempts and a backoff short enough for a test.
fn standard(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(10))
}

fn s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Throttling on `rate` of the requests, with a fixed seed.
fn throttled(rate: f64) -> Faults {
    Faults {
        throttle: rate,
        seed: 7,
        ..Faults::none()
    }
}

#[tokio::test]
async fn without_faults_requests_pass_through() {
    let (_moto, proxy) = world(Faults::none()).await;
    let sdk = sdk(&proxy, RetryConfig::disabled()).await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    iam.create_user().user_name("alice").send().await.unwrap();
    let user = iam.get_user().user_name("alice").send().await.unwrap();
    assert_eq!(user.user().map(|u| u.user_name()), Some("alice"));

    // An in-memory body carries its checksum in a header, with a plain Content-Length; a body
    // streamed from a file goes `aws-chunked`, its checksum in a trailer.
    let s3 = s3(&sdk);
    s3.create_bucket().bucket("evidence").send().await.unwrap();
    let file = std::env::temp_dir().join(format!("faults-proxy-{}.bin", std::process::id()));
    std::fs::write(&file, [7u8; 100_000]).unwrap();
    let bodies = [
        ("small", ByteStream::from_static(b"{\"ok\":true}"), 11),
        ("big", ByteStream::from_path(&file).await.unwrap(), 100_000),
    ];
    for (key, body, len) in bodies {
        s3.put_object()
            .bucket("evidence")
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(body)
            .send()
            .await
            .unwrap();
        let got = s3
            .get_object()
            .bucket("evidence")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert!(got.checksum_sha256().is_some(), "{key}: no checksum");
        assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), len);
    }
    std::fs::remove_file(&file).unwrap();

    let c = proxy.counts();
    assert_eq!((c.requests, c.forwarded), (7, 7), "{c:?}");
    assert!(c.connections < c.requests, "kept alive: {c:?}");
}

#[tokio::test]
async fn chunked_request_bodies_are_forwarded() {
    let (_moto, proxy) = world(Faults::none()).await;
    let s3 = s3(&sdk(&proxy, RetryConfig::disabled()).await);
    s3.create_bucket().bucket("chunks").send().await.unwrap();
    // Unsigned, as the emulator allows: the default account, as the SDK's test credentials.
    let mut raw = tokio::net::TcpStream::connect(proxy.endpoint().trim_start_matches("http://"))
        .await
        .unwrap();
    raw.write_all(
        b"PUT /chunks/k HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let got = s3.get_object().bucket("chunks").key("k").send().await;
    let body = got.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(&body[..], b"hello world");
}

#[tokio::test]
async fn throttling_is_read_as_throttling_by_every_protocol() {
    let (_moto, proxy) = world(throttled(1.0)).await;
    let sdk = sdk(&proxy, RetryConfig::disabled()).await;
    // Each client's error code, as the SDK read it from the proxy's answer.
    macro_rules! code {
        ($request:expr) => {
            $request
                .send()
                .await
                .unwrap_err()
                .code()
                .map(str::to_string)
        };
    }
    let codes = [
        code!(aws_sdk_iam::Client::new(&sdk).list_users()),
        code!(aws_sdk_sts::Client::new(&sdk).get_caller_identity()),
        code!(aws_sdk_sns::Client::new(&sdk).list_topics()),
        code!(aws_sdk_ec2::Client::new(&sdk).describe_instances()),
        code!(s3(&sdk).list_buckets()),
        code!(aws_sdk_sqs::Client::new(&sdk).list_queues()),
        code!(aws_sdk_eventbridge::Client::new(&sdk).list_event_buses()),
        code!(
            aws_sdk_cognitoidentityprovider::Client::new(&sdk)
                .list_user_pools()
                .max_results(10)
        ),
    ];
    let want = [
        "Throttling",
        "Throttling",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "ThrottlingException",
        "ThrottlingException",
        "ThrottlingException",
    ];
    assert_eq!(codes, want.map(|c| Some(c.to_string())));
    assert_eq!(proxy.counts().forwarded, 0);
}

#[tokio::test]
async fn throttling_is_retried_by_the_standard_mode() {
    let (_moto, proxy) = world(throttled(1.0)).await;
    let once = aws_sdk_iam::Client::new(&sdk(&proxy, RetryConfig::disabled()).await);
    let err = once.get_user().user_name("bob").send().await.unwrap_err();
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    assert_eq!(proxy.counts().requests, 1);

    let thrice = aws_sdk_iam::Client::new(&sdk(&proxy, standard(3)).await);
    let err = thrice.get_user().user_name("bob").send().await.unwrap_err();
    assert_eq!(err.code(), Some("Throttling"), "{err:?}");
    let c = proxy.counts();
    assert_eq!((c.requests, c.throttled, c.forwarded), (4, 4, 0), "{c:?}");
}

#[tokio::test]
async fn server_errors_are_500_internal_error() {
    let faults = Faults {
        server_error: 1.0,
        ..Faults::none()
    };
    let (_moto, proxy) = world(faults).await;
    let iam = aws_sdk_iam::Client::new(&sdk(&proxy, RetryConfig::disabled()).await);
    let err = iam.list_users().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InternalError"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
}

#[tokio::test]
async fn resets_are_dispatch_io_errors() {
    let faults = Faults {
        reset: 1.0,
        ..Faults::none()
    };
    let (_moto, proxy) = world(faults).await;
    let iam = aws_sdk_iam::Client::new(&sdk(&proxy, RetryConfig::disabled()).await);
    let err = iam.list_users().send().await.unwrap_err();
    assert!(
        matches!(&err, SdkError::DispatchFailure(e) if e.is_io()),
        "{err:?}"
    );
    assert_eq!(proxy.counts().reset, 1);
}

#[tokio::test]
async fn hung_requests_time_out_at_the_attempt_timeout() {
    let faults = Faults {
        timeout: 1.0,
        ..Faults::none()
    };
    let (_moto, proxy) = world(faults).await;
    let sdk = sdk(&proxy, RetryConfig::disabled())
        .await
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build();
    let started = Instant::now();
    let err = aws_sdk_iam::Client::new(&sdk)
        .list_users()
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(proxy.counts().timed_out, 1);
}

#[tokio::test]
async fn under_throttling_the_state_matches_the_calls_that_succeeded() {
    let (_moto, proxy) = world(throttled(0.5)).await;
    let iam = aws_sdk_iam::Client::new(&sdk(&proxy, standard(5)).await);
    let mut created = Vec::new();
    for i in 0..20 {
        let name = format!("user-{i:02}");
        let result = iam
            .create_user()
            .path("/faults/")
            .user_name(&name)
            .send()
            .await;
        if result.is_ok() {
            created.push(name);
        }
    }
    assert!(proxy.counts().throttled > 0, "{:?}", proxy.counts());

    proxy.set_faults(Faults::none());
    let listed = iam
        .list_users()
        .path_prefix("/faults/")
        .send()
        .await
        .unwrap();
    let mut names: Vec<_> = listed
        .users()
        .iter()
        .map(|u| u.user_name().to_string())
        .collect();
    names.sort();
    assert_eq!(names, created);
}
