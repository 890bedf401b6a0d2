//! The hunt function: see `firebreak_lambda::handlers::hunt`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak_lambda::run(firebreak_lambda::Function::Hunt).await
}
