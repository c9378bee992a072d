package keystore

import "github.com/herumi/bls-eth-go-binary/bls"

// wiper collects the buffers and BLS secret keys that hold secret material
// during one operation, so that a single deferred wipe clears all of them on
// every exit path, errors and panics included. Internal functions take one
// from their exported wrapper, which lets the tests check what was wiped.
//
// Go limits what this reaches: strings are immutable (passwords and
// mnemonics arrive as strings), and the standard library's HMAC, SHA-256,
// PBKDF2 and scrypt keep copies in internal state vigil cannot clear. Those
// copies stay in the heap until the garbage collector reuses the memory.
type wiper struct {
	bufs [][]byte
	keys []*bls.SecretKey
}

// buf registers b for wiping and returns it.
func (w *wiper) buf(b []byte) []byte {
	w.bufs = append(w.bufs, b)
	return b
}

// key registers k for wiping and returns it.
func (w *wiper) key(k *bls.SecretKey) *bls.SecretKey {
	w.keys = append(w.keys, k)
	return k
}

// wipe zeroes everything registered.
func (w *wiper) wipe() {
	for _, b := range w.bufs {
		clear(b)
	}
	for _, k := range w.keys {
		*k = bls.SecretKey{}
	}
}
