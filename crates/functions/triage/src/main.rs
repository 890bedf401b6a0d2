//! The triage function: see `firebreak_lambda::handlers::triage`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak_lambda::run(firebreak_lambda::Function::Triage).await
}
