//! `matrixai-node`: the MatrixAI chain node.

fn main() -> sc_cli::Result<()> {
	matrixai_node::command::run()
}
