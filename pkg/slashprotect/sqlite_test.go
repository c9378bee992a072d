package slashprotect_test

import (
	"path/filepath"
	"testing"

	"github.com/vigil-eth/vigil/pkg/slashprotect/slashprotecttest"
)

func sqliteURL(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "slashing.db")
}

func TestSQLiteConformance(t *testing.T) {
	slashprotecttest.Run(t, slashprotecttest.Config{NewURL: sqliteURL, PropertySteps: 400})
}
