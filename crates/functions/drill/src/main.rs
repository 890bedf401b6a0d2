//! The drill function: see `firebreak_lambda::handlers::drill`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak_lambda::run(firebreak_lambda::Function::Drill).await
}
