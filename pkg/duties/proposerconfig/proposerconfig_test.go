package proposerconfig_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/proposerconfig"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

var (
	pkA  = phase0.BLSPubKey{0xa0}
	pkB  = phase0.BLSPubKey{0xb0}
	base = duties.ProposerConfig{FeeRecipient: bellatrix.ExecutionAddress{0x01}, GasLimit: 36_000_000}
)

func hexKey(pk phase0.BLSPubKey) string { return pubkey.Hex(pk) }

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantDef duties.ProposerConfig
		wantA   duties.ProposerConfig
		wantErr string
	}{
		{
			name: "teku and prysm format",
			file: `{"proposer_config": {"` + hexKey(pkA) + `": {"fee_recipient": "0x50155530FCE8a85ec7055A5F8b2bE214B3DaeFd3",
				"builder": {"enabled": true, "gas_limit": "45000000"}}},
				"default_config": {"fee_recipient": "0x000000000000000000000000000000000000dEaD", "builder": {"enabled": false}}}`,
			wantDef: duties.ProposerConfig{FeeRecipient: bellatrix.ExecutionAddress{18: 0xde, 19: 0xad}, GasLimit: 36_000_000},
			wantA: duties.ProposerConfig{FeeRecipient: bellatrix.ExecutionAddress{0x50, 0x15, 0x55, 0x30, 0xfc, 0xe8, 0xa8, 0x5e, 0xc7, 0x05,
				0x5a, 0x5f, 0x8b, 0x2b, 0xe2, 0x14, 0xb3, 0xda, 0xef, 0xd3}, GasLimit: 45_000_000, Builder: true},
		},
		{
			name:    "yaml, numbers as numbers, only a gas limit per key",
			file:    "proposer_config:\n  " + hexKey(pkA) + ":\n    gas_limit: 30000000\n",
			wantDef: base,
			wantA:   duties.ProposerConfig{FeeRecipient: base.FeeRecipient, GasLimit: 30_000_000},
		},
		{name: "unknown field", file: `{"default_config": {"fee_recipent": "0x01"}}`, wantErr: "fee_recipent"},
		{name: "bad key", file: `{"proposer_config": {"0x1234": {}}}`, wantErr: "has 2 bytes"},
		{name: "bad address", file: `{"default_config": {"fee_recipient": "0x1234"}}`, wantErr: "default_config fee_recipient"},
		{name: "zero address", file: `{"default_config": {"fee_recipient": "0x0000000000000000000000000000000000000000"}}`, wantErr: "burnt"},
		{name: "bad number", file: `{"default_config": {"gas_limit": "lots"}}`, wantErr: "not an unsigned integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := proposerconfig.Parse([]byte(tc.file), base)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, proposerconfig.ErrInvalid)
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantDef, c.For(pkB))
			require.Equal(t, tc.wantA, c.For(pkA))
		})
	}
}

func TestSourceReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proposer-config.json")
	write := func(s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o600)) }
	write(`{"proposer_config": {"` + hexKey(pkA) + `": {"fee_recipient": "0x00000000000000000000000000000000000000aa"}}}`)
	src, err := proposerconfig.NewSource(path, base, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, bellatrix.ExecutionAddress{19: 0xaa}, src.For(pkA).FeeRecipient)

	write(`{"proposer_config": {"` + hexKey(pkA) + `": {"fee_recipient": "0x00000000000000000000000000000000000000bb"}}}`)
	require.NoError(t, src.Reload())
	require.Equal(t, bellatrix.ExecutionAddress{19: 0xbb}, src.For(pkA).FeeRecipient)

	write(`{not json`)
	require.Error(t, src.Reload())
	require.Equal(t, bellatrix.ExecutionAddress{19: 0xbb}, src.For(pkA).FeeRecipient, "a bad file keeps the configuration in force")

	static, err := proposerconfig.NewSource("", base, nil)
	require.NoError(t, err)
	require.Equal(t, base, static.For(pkA))
	require.NoError(t, static.Reload())

	_, err = proposerconfig.NewSource(filepath.Join(t.TempDir(), "missing.json"), base, nil)
	require.ErrorContains(t, err, "read the proposer configuration")
}

func TestSourceReloadOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proposer-config.json")
	write := func(s string) { require.NoError(t, os.WriteFile(path, []byte(s), 0o600)) }
	recipient := func(b byte) string {
		return `{"proposer_config": {"` + hexKey(pkA) + `": {"fee_recipient": "0x00000000000000000000000000000000000000` + fmt.Sprintf("%02x", b) + `"}}}`
	}
	write(recipient(0xaa))
	src, err := proposerconfig.NewSource(path, base, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	hup := make(chan os.Signal)
	done := make(chan struct{})
	var changes atomic.Int32
	changed := make(chan struct{}, 4)
	go func() {
		defer close(done)
		src.ReloadOn(ctx, hup, func() { changes.Add(1); changed <- struct{}{} })
	}()

	// Each good reload is awaited through its change callback, so the file
	// is never rewritten under a reload still reading it.
	write(recipient(0xbb))
	for range 2 {
		hup <- syscall.SIGHUP
		<-changed
	}
	write(`{not json`)
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP
	// Stopping waits for the reload in progress: every reload after the bad
	// write read the bad file.
	cancel()
	<-done
	require.Equal(t, bellatrix.ExecutionAddress{19: 0xbb}, src.For(pkA).FeeRecipient, "a bad file keeps the configuration in force")
	require.Equal(t, int32(2), changes.Load(), "changed after each good reload, not after the bad ones")
}
