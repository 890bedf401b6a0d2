//! `make invoke FN=<function> EVENT=<file>`: runs one function binary under the Lambda runtime
//! API against a fresh emulator with Firebreak's stack and the template's rules. For `triage` the
//! event is given as is; for `contain`, `preserve` and `page` it goes through triage first and the
//! function receives what EventBridge routes to it. `clock` and `drill` receive the scheduled
//! event their schedules send (EVENT is not read); while the drill runs, the other four functions
//! run beside it and receive what the rules route, so its finding goes through the pipeline.
//! Prints the answer, the logs, and what was routed.

use firebreak_testbed::eventbridge::Taps;
use firebreak_testbed::lambda::{Invoked, LambdaHost, function_env};
use firebreak_testbed::moto::Moto;
use firebreak_testbed::seed;

const BUS: &str = "firebreak-bus";

fn usage() -> ! {
    eprintln!("usage: firebreak-invoke triage|contain|preserve|page|clock|drill EVENT.json");
    std::process::exit(2)
}

/// What EventBridge Scheduler sends a function on a schedule.
fn scheduled_event() -> String {
    serde_json::json!({
        "version": "0",
        "id": "5f0e6a2c-0000-4000-8000-000000000001",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": firebreak_testbed::moto::HOME_ACCOUNT,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": firebreak_testbed::moto::REGION,
        "resources": [],
        "detail": {}
    })
    .to_string()
}

/// Runs the drill function while the other four serve what the rules route, until it answers.
async fn drill_through_the_pipeline(
    env: &[(String, String)],
    taps: &Taps,
) -> (LambdaHost, Invoked) {
    let stages: Vec<(&str, LambdaHost)> = ["triage", "contain", "preserve", "page"]
        .into_iter()
        .map(|name| (name, LambdaHost::start(name, env)))
        .collect();
    let drill = std::sync::Arc::new(LambdaHost::start("drill", env));
    let running = {
        let drill = drill.clone();
        tokio::task::spawn_blocking(move || drill.invoke(&scheduled_event()))
    };
    while !running.is_finished() {
        for (target, rule, event) in taps.drain().await {
            let name = target.trim_end_matches("Function").to_lowercase();
            let Some((_, host)) = stages.iter().find(|(n, _)| *n == name) else {
                println!("== routed by {rule} to {target}, which is not served here");
                continue;
            };
            let answer = match host.invoke(&event.to_string()) {
                Invoked::Ok(answer) => answer.to_string(),
                Invoked::Failed(e) => format!("failed: {e}"),
            };
            println!("== {rule} -> {name}: {answer}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let result = match running.await {
        Ok(result) => result,
        Err(e) => Invoked::Failed(format!("the drill's invocation panicked: {e}")),
    };
    match std::sync::Arc::try_unwrap(drill) {
        Ok(host) => (host, result),
        Err(_) => unreachable!("the invocation finished and dropped its handle"),
    }
}

#[tokio::main]
async fn main() {
    // The emulator and the function hosts stop when `run`'s handles drop, before the exit.
    let code = run().await;
    std::process::exit(code)
}

async fn run() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (function, file) = match args.as_slice() {
        [function] => (function.as_str(), None),
        [function, file] => (function.as_str(), Some(file.as_str())),
        _ => usage(),
    };
    let rule_target = match function {
        "triage" => "TriageFunction",
        "contain" => "ContainFunction",
        "preserve" => "PreserveFunction",
        "page" => "PageFunction",
        "clock" | "drill" => "",
        _ => usage(),
    };
    let event = match (function, file) {
        ("clock" | "drill", _) => scheduled_event(),
        (_, None) => usage(),
        (_, Some(file)) => match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{file}: {e}");
                std::process::exit(2)
            }
        },
    };
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = seed::stack(&sdk).await;
    let taps = Taps::install(&sdk, BUS).await;
    let env = function_env(&moto, &moto.home_credentials().await, &stack, BUS);

    if function == "drill" {
        let (host, result) = drill_through_the_pipeline(&env, &taps).await;
        return finish(function, &host, result, &taps).await;
    }
    let payload = if matches!(function, "triage" | "clock") {
        event
    } else {
        let triage = LambdaHost::start("triage", &env);
        match triage.invoke(&event) {
            Invoked::Ok(answer) => println!("triage answered {answer}"),
            Invoked::Failed(e) => {
                println!("triage failed: {e}");
                return 1;
            }
        }
        let routed = taps.drain().await;
        match routed.into_iter().find(|(f, _, _)| f == rule_target) {
            Some((_, rule, e)) => {
                println!(
                    "EventBridge rule {rule} routes {} to {function}",
                    e["detail-type"]
                );
                e.to_string()
            }
            None => {
                println!("nothing was routed to {function}: triage opened no incident it acts on");
                return 0;
            }
        }
    };
    let host = LambdaHost::start(function, &env);
    let result = host.invoke(&payload);
    finish(function, &host, result, &taps).await
}

/// Prints the function's logs, its answer and what was routed: 0 when it answered, else 1.
async fn finish(function: &str, host: &LambdaHost, result: Invoked, taps: &Taps) -> i32 {
    println!("== {function} logs\n{}", host.logs().trim_end());
    let code = match result {
        Invoked::Ok(answer) => {
            println!(
                "== {function} answered\n{}",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            );
            0
        }
        Invoked::Failed(e) => {
            println!("== {function} failed\n{e}");
            1
        }
    };
    for (target, rule, e) in taps.drain().await {
        println!(
            "== routed by {rule} to {target}: {} {}",
            e["detail-type"], e["detail"]
        );
    }
    code
}
