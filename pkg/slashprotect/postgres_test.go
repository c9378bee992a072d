package slashprotect_test

import (
	"os"
	"testing"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/slashprotect/slashprotecttest"
)

func TestMain(m *testing.M) {
	if runChild() {
		return
	}
	code := m.Run()
	testharness.StopPostgres()
	os.Exit(code)
}

func TestPostgresConformance(t *testing.T) {
	slashprotecttest.Run(t, slashprotecttest.Config{NewURL: testharness.Postgres, PropertySteps: 150})
}
