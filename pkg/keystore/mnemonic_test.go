package keystore_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tyler-smith/go-bip39"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// TestWordListMatchesBIP39 checks the library's list against bip39/english.txt
// (eth-educators/ethstaker-deposit-cli, = bitcoin/bips BIP-39 english.txt).
func TestWordListMatchesBIP39(t *testing.T) {
	words := strings.Fields(string(readVector(t, "bip39/english.txt")))
	require.Len(t, words, 2048)
	require.Equal(t, words, bip39.GetWordList())
}

// TestSeedVectors uses bip39/mnemonic_vectors.json (trezor/python-mnemonic via
// ethstaker-deposit-cli), english cases, passphrase "TREZOR".
func TestSeedVectors(t *testing.T) {
	var vectors map[string][][3]string
	readJSON(t, "bip39/mnemonic_vectors.json", &vectors)
	require.NotEmpty(t, vectors["english"])
	for _, v := range vectors["english"] {
		entropy, mnemonic, seed := v[0], v[1], v[2]
		t.Run(entropy, func(t *testing.T) {
			require.NoError(t, keystore.ValidateMnemonic(mnemonic))
			got, err := keystore.Seed(mnemonic, "TREZOR")
			require.NoError(t, err)
			require.Equal(t, seed, hex.EncodeToString(got))
			// Stray whitespace and capitals must not change the seed.
			sloppy := "  " + strings.ToUpper(strings.ReplaceAll(mnemonic, " ", " \t\n ")) + "\n"
			got, err = keystore.Seed(sloppy, "TREZOR")
			require.NoError(t, err)
			require.Equal(t, seed, hex.EncodeToString(got))
		})
	}
}

func TestValidateMnemonic(t *testing.T) {
	const valid = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	tests := []struct {
		name     string
		mnemonic string
		wantErr  error
		wantWord *keystore.UnknownWordError
	}{
		{name: "valid", mnemonic: valid},
		{name: "valid with whitespace and case", mnemonic: "\tAbandon  abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon ABOUT\n"},
		{name: "empty", mnemonic: "", wantErr: keystore.ErrMnemonicLength},
		{name: "eleven words", mnemonic: strings.TrimSuffix(valid, " about"), wantErr: keystore.ErrMnemonicLength},
		{
			name:     "misspelt word",
			mnemonic: "abandon abandon abandn abandon abandon abandon abandon abandon abandon abandon abandon about",
			wantErr:  keystore.ErrMnemonicWord,
			wantWord: &keystore.UnknownWordError{Position: 3},
		},
		{name: "bad checksum", mnemonic: strings.Replace(valid, "about", "abandon", 1), wantErr: keystore.ErrMnemonicChecksum},
		{name: "swapped words", mnemonic: "about abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", wantErr: keystore.ErrMnemonicChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := keystore.ValidateMnemonic(tt.mnemonic)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantWord != nil {
				var uw *keystore.UnknownWordError
				require.ErrorAs(t, err, &uw)
				require.Equal(t, tt.wantWord, uw)
				require.Contains(t, err.Error(), "word 3")
				require.NotContains(t, err.Error(), "abandn", "a mnemonic word must never appear in an error")
			}
		})
	}
}

func TestNewMnemonic(t *testing.T) {
	a, err := keystore.NewMnemonic()
	require.NoError(t, err)
	b, err := keystore.NewMnemonic()
	require.NoError(t, err)
	require.Len(t, strings.Fields(a), 24)
	require.NoError(t, keystore.ValidateMnemonic(a))
	require.NotEqual(t, a, b)
}
