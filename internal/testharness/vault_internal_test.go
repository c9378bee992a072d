package testharness

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The Vault binary's version and cache directory are spelled in three places:
// here, in scripts/build-vault.sh and in tools/vault/go.mod. If they drift, the
// suite either rebuilds Vault on every run or tests a binary other than the one
// the tools module pins.
func TestVaultBuildAgreesWithHarness(t *testing.T) {
	script, err := os.ReadFile("../../scripts/build-vault.sh")
	if err != nil {
		t.Fatalf("read build script: %v", err)
	}
	gomod, err := os.ReadFile("../../tools/vault/go.mod")
	if err != nil {
		t.Fatalf("read tools/vault/go.mod: %v", err)
	}
	s := string(script)
	for _, want := range []string{
		`version="` + VaultVersion + `"`,
		`vigil-tools/vault-$version-minimal"`,
		`-tags minimal`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("scripts/build-vault.sh lacks %q", want)
		}
	}
	if want := "vault-" + VaultVersion + "-minimal"; vaultCacheDir != want {
		t.Errorf("vaultCacheDir = %q, want %q", vaultCacheDir, want)
	}
	re := regexp.MustCompile(`(?m)^require github\.com/hashicorp/vault (v\S+)$`)
	m := re.FindSubmatch(gomod)
	if m == nil || string(m[1]) != VaultVersion {
		t.Errorf("tools/vault/go.mod does not require github.com/hashicorp/vault %s", VaultVersion)
	}
}
