//! The preserve function: see `firebreak_lambda::handlers::preserve`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    firebreak_lambda::run(firebreak_lambda::Function::Preserve).await
}
