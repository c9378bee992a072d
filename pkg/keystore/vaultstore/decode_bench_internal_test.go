package vaultstore

import "testing"

// BenchmarkDecodeKey measures the per-key CPU of Load after the HTTP
// exchange: JSON, hex, BLS deserialisation and the public-key check.
func BenchmarkDecodeKey(b *testing.B) {
	key := randomKey(b)
	put, err := encodePut(key)
	if err != nil {
		b.Fatal(err)
	}
	body := readBodyForBench(put)
	for b.Loop() {
		k, err := decodeKey(body, key.Pubkey)
		if err != nil {
			b.Fatal(err)
		}
		k.Zero()
	}
}
