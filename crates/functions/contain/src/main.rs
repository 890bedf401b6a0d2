//! The contain function: see `firebreak_lambda::handlers::contain`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak_lambda::run(firebreak_lambda::Function::Contain).await
}
