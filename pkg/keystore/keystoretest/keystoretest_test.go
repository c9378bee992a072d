package keystoretest_test

import (
	"testing"

	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
)

func TestFakeConformance(t *testing.T) {
	keystoretest.RunConformance(t, func(*testing.T) keystore.Store { return &keystoretest.Store{} })
}
