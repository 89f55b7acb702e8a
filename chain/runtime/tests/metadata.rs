//! The off-chain client is generated (subxt codegen) from `artifacts/metadata.scale`; this test
//! regenerates that metadata from the runtime and fails when the committed file is stale.
//! `UPDATE_METADATA=1 cargo test -p matrixai-runtime --test metadata` rewrites it.

use std::path::Path;

/// V16 carries everything subxt 0.51 generates from (including view functions).
const METADATA_VERSION: u32 = 16;

#[test]
fn committed_metadata_matches_the_runtime() {
	// Storage parameters (`DisputeWindow`) are read when their constant's value is encoded.
	let metadata = sp_io::TestExternalities::default().execute_with(|| {
		matrixai_runtime::Runtime::metadata_at_version(METADATA_VERSION).expect("the runtime serves metadata V16")
	});
	let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/metadata.scale");
	if std::env::var_os("UPDATE_METADATA").is_some() {
		std::fs::write(&path, metadata.as_slice()).expect("artifacts/ is writable");
		return;
	}
	let committed = std::fs::read(&path).unwrap_or_default();
	assert!(
		committed.as_slice() == metadata.as_slice(),
		"{} is stale or missing: run `scripts/update-metadata.sh` and commit it",
		path.display()
	);
}
