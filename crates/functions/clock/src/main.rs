//! The clock function: see `firebreak_lambda::handlers::clock`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak_lambda::run(firebreak_lambda::Function::Clock).await
}
