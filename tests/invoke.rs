//! `make invoke FN=<function> EVENT=<file>`: runs one function binary under the Lambda runtime
//! API against a fresh emulator with Firebreak's stack and the template's rules. For `triage` the
//! event is given as is; for the other functions it goes through triage first and the function
//! receives what EventBridge routes to it. Prints the answer, the logs, and what was routed.

use firebreak_tests::eventbridge::Taps;
use firebreak_tests::lambda::{Invoked, LambdaHost, function_env};
use firebreak_tests::moto::Moto;
use firebreak_tests::seed;

const BUS: &str = "firebreak-bus";

fn usage() -> ! {
    eprintln!("usage: firebreak-invoke triage|contain|preserve|page EVENT.json");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [function, file] = args.as_slice() else {
        usage()
    };
    let rule_target = match function.as_str() {
        "triage" => "TriageFunction",
        "contain" => "ContainFunction",
        "preserve" => "PreserveFunction",
        "page" => "PageFunction",
        _ => usage(),
    };
    let event = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{file}: {e}");
            std::process::exit(2)
        }
    };
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = seed::stack(&sdk).await;
    let taps = Taps::install(&sdk, BUS).await;
    let env = function_env(&moto, &moto.home_credentials().await, &stack, BUS);

    let payload = if function == "triage" {
        event
    } else {
        let triage = LambdaHost::start("triage", &env);
        match triage.invoke(&event) {
            Invoked::Ok(answer) => println!("triage answered {answer}"),
            Invoked::Failed(e) => {
                println!("triage failed: {e}");
                std::process::exit(1)
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
                return;
            }
        }
    };
    let host = LambdaHost::start(function, &env);
    let result = host.invoke(&payload);
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
    std::process::exit(code);
}
