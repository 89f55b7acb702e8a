//! The web UI's API types are generated (openapi-typescript) from
//! `artifacts/indexer-openapi.json`; this test regenerates that document from the API and fails
//! when the committed file is stale. `UPDATE_OPENAPI=1 cargo test -p matrixai-indexer --test
//! openapi` rewrites it.

use matrixai_indexer::api::ApiDoc;
use std::path::Path;
use utoipa::OpenApi;

#[test]
fn committed_openapi_document_matches_the_api() {
    let document = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
        + "\n";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/indexer-openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &document).expect("artifacts/ is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == document,
        "{} is stale or missing: run `UPDATE_OPENAPI=1 cargo test -p matrixai-indexer --test openapi` and commit it",
        path.display()
    );
}
