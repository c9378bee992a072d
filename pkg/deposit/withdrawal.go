package deposit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	e2util "github.com/wealdtech/go-eth2-util"
)

// WithdrawalType is the first byte of withdrawal credentials.
type WithdrawalType byte

// Withdrawal credential prefixes (consensus-specs phase0 BLS_WITHDRAWAL_PREFIX,
// capella ETH1_ADDRESS_WITHDRAWAL_PREFIX, electra COMPOUNDING_WITHDRAWAL_PREFIX).
const (
	WithdrawalBLS         WithdrawalType = 0x00
	WithdrawalExecution   WithdrawalType = 0x01
	WithdrawalCompounding WithdrawalType = 0x02
)

// ParseWithdrawalType parses "0x00", "0x01" or "0x02".
func ParseWithdrawalType(s string) (WithdrawalType, error) {
	switch strings.ToLower(s) {
	case "0x00", "00":
		return WithdrawalBLS, nil
	case "0x01", "01":
		return WithdrawalExecution, nil
	case "0x02", "02":
		return WithdrawalCompounding, nil
	}
	return 0, fmt.Errorf("withdrawal type %q: want 0x00, 0x01 or 0x02", s)
}

// String formats the type as "0x01".
func (t WithdrawalType) String() string { return fmt.Sprintf("0x%02x", byte(t)) }

// ExecutionAddress is a 20-byte execution-layer address.
type ExecutionAddress [20]byte

// ErrAddressChecksum is returned for a mixed-case address whose EIP-55
// checksum is wrong, which usually means a typo.
var ErrAddressChecksum = errors.New("execution address has a wrong EIP-55 checksum (mixed case): check it for typos")

// ParseExecutionAddress parses 0x and 40 hex digits. A mixed-case address
// must carry a valid EIP-55 checksum; all-lower or all-upper case is accepted.
func ParseExecutionAddress(s string) (ExecutionAddress, error) {
	var a ExecutionAddress
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || len(h) != 40 {
		return a, fmt.Errorf("execution address %q: want 0x and 40 hex digits", s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return a, fmt.Errorf("execution address %q: want 0x and 40 hex digits", s)
	}
	copy(a[:], b)
	if h != strings.ToLower(h) && h != strings.ToUpper(h) && a.String() != s {
		return a, fmt.Errorf("%s: %w", s, ErrAddressChecksum)
	}
	return a, nil
}

// String is the EIP-55 checksummed form.
func (a ExecutionAddress) String() string {
	lower := hex.EncodeToString(a[:])
	hash := e2util.Keccak256([]byte(lower))
	out := []byte(lower)
	for i, c := range out {
		nibble := hash[i/2] >> 4
		if i%2 == 1 {
			nibble = hash[i/2] & 0x0f
		}
		if c >= 'a' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// BLSWithdrawalCredentials are 0x00 credentials: BLS_WITHDRAWAL_PREFIX then
// sha256(withdrawal pubkey)[1:] (consensus-specs phase0 validator.md).
func BLSWithdrawalCredentials(withdrawalPubkey phase0.BLSPubKey) []byte {
	h := sha256.Sum256(withdrawalPubkey[:])
	h[0] = byte(WithdrawalBLS)
	return h[:]
}

// ExecutionWithdrawalCredentials are 0x01 or 0x02 credentials: the prefix,
// 11 zero bytes and the address.
func ExecutionWithdrawalCredentials(t WithdrawalType, addr ExecutionAddress) ([]byte, error) {
	if t != WithdrawalExecution && t != WithdrawalCompounding {
		return nil, fmt.Errorf("withdrawal type %s does not pay to an execution address", t)
	}
	wc := make([]byte, 32)
	wc[0] = byte(t)
	copy(wc[12:], addr[:])
	return wc, nil
}
