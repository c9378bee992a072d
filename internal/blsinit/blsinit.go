// Package blsinit initialises the herumi BLS library for Ethereum exactly once.
package blsinit

import (
	"fmt"
	"sync"

	"github.com/herumi/bls-eth-go-binary/bls"
)

var (
	once sync.Once
	err  error
)

// Init sets herumi up for BLS12-381 in Ethereum mode (the IETF hash-to-curve
// draft 07 ciphersuite the consensus specs use). It is safe to call from
// every constructor that needs BLS; only the first call does work.
func Init() error {
	once.Do(func() {
		if e := bls.Init(bls.BLS12_381); e != nil {
			err = fmt.Errorf("initialise BLS: %w", e)
			return
		}
		if e := bls.SetETHmode(bls.EthModeDraft07); e != nil {
			err = fmt.Errorf("set BLS Ethereum mode: %w", e)
		}
	})
	return err
}
