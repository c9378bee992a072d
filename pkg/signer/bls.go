package signer

/*
// mclBnG2_mulCT is mcl's constant-time G2 scalar multiplication (mcl/bn.h),
// the one herumi's blsSign uses. The library is linked by
// github.com/herumi/bls-eth-go-binary; it is declared here with opaque
// pointers so that this package needs none of its headers.
void mclBnG2_mulCT(void *z, const void *x, const void *y);
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
)

// A BLS signature is sk·H(m). Hashing the signing root to G2 is most of the
// work (about 85% with herumi) and uses no secret, so a batch hashes its
// roots while the slashing database commits, and multiplies by the secret
// (the signature proper) only after the verdict is Allowed.

// hashToG2 is H(m) for a signing root, with the Ethereum ciphersuite's DST.
func hashToG2(root phase0.Root) (*bls.Sign, error) {
	h := bls.HashAndMapToSignature(root[:])
	if h == nil {
		return nil, errors.New("hash signing root to G2 failed")
	}
	return h, nil
}

// signHashed is sk·h, in constant time, serialised: the same signature as
// sk.SignByte(root) for h = hashToG2(root).
func signHashed(sk *bls.SecretKey, h *bls.Sign) phase0.BLSSignature {
	var out bls.Sign
	// bls.Sign and bls.SecretKey are single-field wrappers of mclBnG2 and
	// mclBnFr, so their addresses are the C values' addresses.
	C.mclBnG2_mulCT(unsafe.Pointer(&out), unsafe.Pointer(h), unsafe.Pointer(sk))
	var sig phase0.BLSSignature
	copy(sig[:], out.Serialize())
	return sig
}
