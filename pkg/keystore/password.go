package keystore

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MinPasswordLen is the shortest password vigil encrypts a new keystore
// with, staking-deposit-cli's minimum.
const MinPasswordLen = 8

// CheckNewPassword refuses a password too short for a new keystore.
func CheckNewPassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("the password must have at least %d characters", MinPasswordLen)
	}
	return nil
}

// processPassword applies EIP-2335 "Password requirements": NFKD
// normalisation, then removal of the C0 (U+0000–U+001F), DEL (U+007F) and C1
// (U+0080–U+009F) control code points, then UTF-8 encoding.
func processPassword(password string) []byte {
	return []byte(strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, norm.NFKD.String(password)))
}

func isControl(r rune) bool {
	return r <= 0x1f || (r >= 0x7f && r <= 0x9f)
}

// altProcessPassword reproduces the older normalisation of
// go-eth2-wallet-encryptor-keystorev4 (used by ethdo), which kept only the
// first code point of each NFKD segment (so "ü" became "u") and stripped only
// one-byte control characters. It is used solely to open keystores written
// that way; that library still falls back to it in the same manner.
func altProcessPassword(password string) []byte {
	var out []byte
	var it norm.Iter
	it.InitString(norm.NFKD, password)
	for !it.Done() {
		r, _ := utf8.DecodeRune(it.Next())
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], r)
		if n == 1 && isControl(r) {
			continue
		}
		out = norm.NFKD.Append(out, buf[:n]...)
	}
	return out
}
