// Bootnodes of the MatrixAI testnet: one per authority, peer ids from `matrixai-node key generate-node-key`.
[
	"/dns/boot-1.testnet.matrixai.network/tcp/30333/p2p/12D3KooWB6BXp8HEkziXbHAZ1TPNj3eJESHTRDeZAa4aPeUFVbjK",
	"/dns/boot-2.testnet.matrixai.network/tcp/30333/p2p/12D3KooWSbddEErQcQhdrcfH4X8mQDH8nPqJB2Udtu7tqnLjvRFi",
	"/dns/boot-3.testnet.matrixai.network/tcp/30333/p2p/12D3KooWAmwJaqHFLigij6JMneLKkr5HnTYDnQV21jSSqWhLNjJr",
]
