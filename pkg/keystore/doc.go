// Package keystore holds vigil's validator keys: BIP-39 mnemonics, EIP-2333
// derivation along EIP-2334 paths, EIP-2335 keystores, and the Store
// interface behind which keys live (Vault or a local directory).
package keystore
