//! The page function: see `firebreak_lambda::handlers::page`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak_lambda::run(firebreak_lambda::Function::Page).await
}
