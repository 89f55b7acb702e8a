//! Rebuilds the generated client when the runtime metadata changes: the `subxt` macro reads
//! the file at compile time, and Cargo does not track files that macros read.
fn main() {
    println!("cargo::rerun-if-changed=../../artifacts/metadata.scale");
}
