//! `--ui-dir`: the web UI's files on the API's origin, its pages routed to its `index.html`,
//! the API's own paths untouched; `--chain-spec`: the chain spec its light client starts from.

use matrixai_indexer::db::Database;
use matrixai_indexer::{Config, Indexer, RunError};

#[path = "../fixtures/synthetic.rs"]
mod synthetic;

async fn serve(ui_dir: &std::path::Path, data: &std::path::Path) -> String {
    let database = Database::open(&format!("sqlite://{}/index.db", data.display()))
        .await
        .unwrap();
    synthetic::serve(database, Some(ui_dir)).await
}

#[tokio::test]
async fn the_ui_is_served_beside_the_api() {
    let ui = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        ui.path().join("index.html"),
        "<!doctype html><title>MatrixAI</title>",
    )
    .unwrap();
    std::fs::create_dir(ui.path().join("assets")).unwrap();
    std::fs::write(ui.path().join("assets/index-1234.js"), "console.log(1)").unwrap();
    let base = serve(ui.path(), data.path()).await;
    let http = matrixai_chain::storage::http_client();
    let get = |path: &str| http.get(format!("{base}{path}")).send();

    for page in [
        "/",
        "/market",
        "/orders/0f8e2c1a-6d3b-4e5f-9a7b-1c2d3e4f5a6b",
    ] {
        let response = get(page).await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        assert!(
            response.text().await.unwrap().contains("<title>MatrixAI"),
            "{page}"
        );
    }
    let script = get("/assets/index-1234.js").await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert_eq!(script.text().await.unwrap(), "console.log(1)");

    let unknown = get("/api/no-such-endpoint").await.unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    let stats = get("/api/stats").await.unwrap();
    assert_eq!(stats.status(), 200);
    let no_spec = get("/api/chain-spec").await.unwrap();
    assert_eq!(no_spec.status(), 404);
    let body: serde_json::Value = no_spec.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("--chain-spec"),
        "{body}"
    );
}

fn base_config(data: &std::path::Path) -> Config {
    Config {
        node: "ws://127.0.0.1:9".into(),
        database: Some(format!("sqlite://{}/index.db", data.display())),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        max_lag: 10,
        batch_blocks: 512,
        ui_dir: None,
        chain_spec: None,
    }
}

#[tokio::test]
async fn the_chain_spec_is_served_as_given() {
    let data = tempfile::tempdir().unwrap();
    let spec = r#"{"name":"MatrixAI Development","id":"dev","bootNodes":["/ip4/127.0.0.1/tcp/30433/ws/p2p/12D3KooW"]}"#;
    let path = data.path().join("chain-spec.json");
    std::fs::write(&path, spec).unwrap();
    let indexer = Indexer::start(&Config {
        chain_spec: Some(path),
        ..base_config(data.path())
    })
    .await
    .unwrap();
    let response = matrixai_chain::storage::http_client()
        .get(format!("http://{}/api/chain-spec", indexer.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), spec);
    indexer.shutdown().await;
}

#[tokio::test]
async fn a_chain_spec_that_is_no_json_object_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    for (content, expected) in [("[1, 2]", "not a JSON object"), ("{\"name\":", "not JSON")] {
        let path = data.path().join("chain-spec.json");
        std::fs::write(&path, content).unwrap();
        let Err(error) = Indexer::start(&Config {
            chain_spec: Some(path),
            ..base_config(data.path())
        })
        .await
        else {
            panic!("an indexer started with {content:?} as its chain spec");
        };
        assert!(matches!(error, RunError::ChainSpec { .. }));
        assert!(error.to_string().contains(expected), "{error}");
    }
    let missing = Indexer::start(&Config {
        chain_spec: Some(data.path().join("none.json")),
        ..base_config(data.path())
    })
    .await;
    assert!(matches!(missing, Err(RunError::ChainSpec { .. })));
}

#[tokio::test]
async fn a_ui_dir_without_index_html_is_refused_at_start() {
    let ui = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        ui_dir: Some(ui.path().to_path_buf()),
        ..base_config(data.path())
    };
    let Err(error) = Indexer::start(&config).await else {
        panic!("an indexer started with an empty --ui-dir");
    };
    assert!(matches!(error, RunError::UiDir(_)));
    assert!(error.to_string().contains("npm run build"), "{error}");
}
