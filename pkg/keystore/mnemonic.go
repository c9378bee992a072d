package keystore

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tyler-smith/go-bip39"
	"golang.org/x/text/unicode/norm"
)

// mnemonicEntropyBits gives 24-word mnemonics, as the deposit CLIs generate.
const mnemonicEntropyBits = 256

// Errors returned by ValidateMnemonic, for callers that branch on them.
var (
	ErrMnemonicLength   = errors.New("mnemonic must have 12, 15, 18, 21 or 24 words")
	ErrMnemonicWord     = errors.New("word is not in the BIP-39 English word list")
	ErrMnemonicChecksum = errors.New("mnemonic checksum is wrong: a word is mistyped or the words are out of order")
)

// UnknownWordError names, by its position, the first word of a mnemonic that
// is not in the BIP-39 English list; it matches ErrMnemonicWord with
// errors.Is. The word itself is left out: even a misspelt word is part of
// the secret and must not reach logs or terminals' scrollback.
type UnknownWordError struct {
	// Position is 1-based, as an operator counts the words they wrote down.
	Position int
}

func (e *UnknownWordError) Error() string {
	return fmt.Sprintf("word %d is not in the BIP-39 English word list: check its spelling against your written copy", e.Position)
}

// Is makes errors.Is(err, ErrMnemonicWord) hold.
func (e *UnknownWordError) Is(target error) bool { return target == ErrMnemonicWord }

// NewMnemonic returns a fresh 24-word English BIP-39 mnemonic from crypto/rand.
func NewMnemonic() (string, error) {
	entropy, err := bip39.NewEntropy(mnemonicEntropyBits)
	if err != nil {
		return "", fmt.Errorf("read entropy: %w", err)
	}
	defer clear(entropy)
	m, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return "", fmt.Errorf("encode mnemonic: %w", err)
	}
	return m, nil
}

// NormalizeMnemonic NFKD-normalises a mnemonic (BIP-39), lower-cases it and
// joins its words with single spaces, so that pasted text with stray
// whitespace or capitals still works.
func NormalizeMnemonic(mnemonic string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKD.String(mnemonic))), " ")
}

// ValidateMnemonic checks the word count, that every word is in the English
// list (naming the first that is not) and the BIP-39 checksum.
func ValidateMnemonic(mnemonic string) error {
	words := strings.Fields(NormalizeMnemonic(mnemonic))
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return fmt.Errorf("%w, got %d", ErrMnemonicLength, len(words))
	}
	for i, w := range words {
		if _, ok := bip39.GetWordIndex(w); !ok {
			return &UnknownWordError{Position: i + 1}
		}
	}
	entropy, err := bip39.EntropyFromMnemonic(strings.Join(words, " "))
	clear(entropy) // the entropy is the mnemonic in binary: as secret as the words
	if err != nil {
		return ErrMnemonicChecksum
	}
	return nil
}

// Seed validates a mnemonic and returns its 64-byte BIP-39 seed for the
// optional passphrase (empty for none). Both are NFKD-normalised per BIP-39.
// The seed is as secret as the mnemonic: the caller clears it when done.
func Seed(mnemonic, passphrase string) ([]byte, error) {
	if err := ValidateMnemonic(mnemonic); err != nil {
		return nil, err
	}
	return bip39.NewSeed(NormalizeMnemonic(mnemonic), norm.NFKD.String(passphrase)), nil
}
