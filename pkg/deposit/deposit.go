package deposit

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

// CLIVersion is written as deposit_cli_version. The launchpad rejects files
// from deposit CLIs older than it expects, so vigil writes the version of
// staking-deposit-cli whose format it reproduces.
const CLIVersion = "2.7.0"

// Amounts in Gwei (consensus-specs phase0 MAX_EFFECTIVE_BALANCE and electra
// MAX_EFFECTIVE_BALANCE_ELECTRA).
const (
	GweiPerETH           phase0.Gwei = 1_000_000_000
	MinActivationAmount              = 32 * GweiPerETH
	MaxCompoundingAmount             = 2048 * GweiPerETH
	DefaultAmount                    = MinActivationAmount
	domainDeposit                    = "\x03\x00\x00\x00"
)

// Errors that verification reports, for callers that branch on them.
var (
	ErrMalformed             = errors.New("malformed deposit data")
	ErrAmount                = errors.New("deposit amount out of range")
	ErrWithdrawalCredentials = errors.New("unsupported withdrawal credentials")
	ErrNetwork               = errors.New("deposit is for another network")
	ErrRootMismatch          = errors.New("deposit root does not match its contents")
	ErrSignature             = errors.New("deposit signature is not valid for the pubkey")
)

// Data is one entry of a deposit data file, as staking-deposit-cli writes it:
// hex without 0x, amount in Gwei.
type Data struct {
	// Amount is in Gwei; a plain uint64 because the file carries a JSON
	// number, where phase0.Gwei would marshal as a string.
	Pubkey                string `json:"pubkey"`
	WithdrawalCredentials string `json:"withdrawal_credentials"`
	Amount                uint64 `json:"amount"`
	Signature             string `json:"signature"`
	DepositMessageRoot    string `json:"deposit_message_root"`
	DepositDataRoot       string `json:"deposit_data_root"`
	ForkVersion           string `json:"fork_version"`
	NetworkName           string `json:"network_name"`
	DepositCLIVersion     string `json:"deposit_cli_version"`
}

// AmountRange is the range Verify accepts for withdrawal credentials of type
// t: exactly 32 ETH for 0x00 and 0x01 (anything above is never effective),
// 32–2048 ETH for compounding 0x02 (EIP-7251).
func AmountRange(t WithdrawalType) (lo, hi phase0.Gwei, err error) {
	switch t {
	case WithdrawalBLS, WithdrawalExecution:
		return MinActivationAmount, MinActivationAmount, nil
	case WithdrawalCompounding:
		return MinActivationAmount, MaxCompoundingAmount, nil
	}
	return 0, 0, fmt.Errorf("%w: prefix %s", ErrWithdrawalCredentials, t)
}

// CheckAmount refuses an amount outside AmountRange, in words an operator
// understands.
func CheckAmount(t WithdrawalType, amount phase0.Gwei) error {
	lo, hi, err := AmountRange(t)
	if err != nil {
		return err
	}
	if amount < lo || amount > hi {
		if lo == hi {
			return fmt.Errorf("%w: %d Gwei for %s credentials, which must be exactly %d Gwei (32 ETH)", ErrAmount, amount, t, lo)
		}
		return fmt.Errorf("%w: %d Gwei for %s credentials, want %d–%d Gwei (32–2048 ETH)", ErrAmount, amount, t, lo, hi)
	}
	return nil
}

// New signs a deposit of amount for key with the given withdrawal
// credentials on network, and verifies the result before returning it.
func New(key *keystore.Key, withdrawalCredentials []byte, amount phase0.Gwei, network Network) (*Data, error) {
	if len(withdrawalCredentials) != 32 {
		return nil, fmt.Errorf("%w: withdrawal credentials are %d bytes, want 32", ErrWithdrawalCredentials, len(withdrawalCredentials))
	}
	if err := CheckAmount(WithdrawalType(withdrawalCredentials[0]), amount); err != nil {
		return nil, err
	}
	msg := &phase0.DepositMessage{PublicKey: key.Pubkey, WithdrawalCredentials: withdrawalCredentials, Amount: amount}
	msgRoot, err := msg.HashTreeRoot()
	if err != nil {
		return nil, fmt.Errorf("deposit message root: %w", err)
	}
	signingRoot, err := SigningRoot(msgRoot, network.GenesisForkVersion)
	if err != nil {
		return nil, err
	}
	var sig phase0.BLSSignature
	copy(sig[:], key.Secret.SignByte(signingRoot[:]).Serialize())
	dd := &phase0.DepositData{PublicKey: key.Pubkey, WithdrawalCredentials: withdrawalCredentials, Amount: amount, Signature: sig}
	ddRoot, err := dd.HashTreeRoot()
	if err != nil {
		return nil, fmt.Errorf("deposit data root: %w", err)
	}
	d := &Data{
		Pubkey:                hex.EncodeToString(key.Pubkey[:]),
		WithdrawalCredentials: hex.EncodeToString(withdrawalCredentials),
		Amount:                uint64(amount),
		Signature:             hex.EncodeToString(sig[:]),
		DepositMessageRoot:    hex.EncodeToString(msgRoot[:]),
		DepositDataRoot:       hex.EncodeToString(ddRoot[:]),
		ForkVersion:           hex.EncodeToString(network.GenesisForkVersion[:]),
		NetworkName:           network.Name,
		DepositCLIVersion:     CLIVersion,
	}
	if err := Verify(d, &network); err != nil {
		return nil, fmt.Errorf("verify new deposit for %s: %w", d.Pubkey, err)
	}
	return d, nil
}

// Domain is compute_domain(DOMAIN_DEPOSIT, fork_version, Root()): deposits
// are valid across forks, so they use the genesis fork version and a zero
// genesis validators root (consensus-specs phase0 validator.md).
func Domain(genesisForkVersion phase0.Version) (phase0.Domain, error) {
	fd := &phase0.ForkData{CurrentVersion: genesisForkVersion}
	root, err := fd.HashTreeRoot()
	if err != nil {
		return phase0.Domain{}, fmt.Errorf("fork data root: %w", err)
	}
	var d phase0.Domain
	copy(d[:4], domainDeposit)
	copy(d[4:], root[:28])
	return d, nil
}

// SigningRoot is compute_signing_root(deposit_message, deposit domain).
func SigningRoot(messageRoot phase0.Root, genesisForkVersion phase0.Version) (phase0.Root, error) {
	domain, err := Domain(genesisForkVersion)
	if err != nil {
		return phase0.Root{}, err
	}
	sd := &phase0.SigningData{ObjectRoot: messageRoot, Domain: domain}
	root, err := sd.HashTreeRoot()
	if err != nil {
		return phase0.Root{}, fmt.Errorf("signing root: %w", err)
	}
	return root, nil
}

// Verify checks one entry: field encodings, amount for its credential type,
// fork version and network name (when network is not nil), both roots
// recomputed, and the BLS signature over the deposit message.
func Verify(d *Data, network *Network) error {
	if err := blsinit.Init(); err != nil {
		return err
	}
	pubkey, err := fixedHex(d.Pubkey, 48, "pubkey")
	if err != nil {
		return err
	}
	wc, err := fixedHex(d.WithdrawalCredentials, 32, "withdrawal_credentials")
	if err != nil {
		return err
	}
	sigBytes, err := fixedHex(d.Signature, 96, "signature")
	if err != nil {
		return err
	}
	msgRoot, err := fixedHex(d.DepositMessageRoot, 32, "deposit_message_root")
	if err != nil {
		return err
	}
	dataRoot, err := fixedHex(d.DepositDataRoot, 32, "deposit_data_root")
	if err != nil {
		return err
	}
	forkBytes, err := fixedHex(d.ForkVersion, 4, "fork_version")
	if err != nil {
		return err
	}
	fork := phase0.Version(forkBytes)
	if network != nil {
		if fork != network.GenesisForkVersion {
			return fmt.Errorf("%w: fork_version %s, but %s's genesis fork version is %x", ErrNetwork, d.ForkVersion, network.Name, network.GenesisForkVersion[:])
		}
		if d.NetworkName != network.Name {
			return fmt.Errorf("%w: network_name %q, want %q", ErrNetwork, d.NetworkName, network.Name)
		}
	}
	if err := CheckAmount(WithdrawalType(wc[0]), phase0.Gwei(d.Amount)); err != nil {
		return err
	}
	if wt := WithdrawalType(wc[0]); wt != WithdrawalBLS && !allZero(wc[1:12]) {
		return fmt.Errorf("%w: %s credentials must have 11 zero bytes before the address", ErrWithdrawalCredentials, wt)
	}

	msg := &phase0.DepositMessage{PublicKey: phase0.BLSPubKey(pubkey), WithdrawalCredentials: wc, Amount: phase0.Gwei(d.Amount)}
	gotMsgRoot, err := msg.HashTreeRoot()
	if err != nil {
		return fmt.Errorf("deposit message root: %w", err)
	}
	if string(gotMsgRoot[:]) != string(msgRoot) {
		return fmt.Errorf("%w: deposit_message_root is %s, contents give %x", ErrRootMismatch, d.DepositMessageRoot, gotMsgRoot[:])
	}
	dd := &phase0.DepositData{PublicKey: phase0.BLSPubKey(pubkey), WithdrawalCredentials: wc, Amount: phase0.Gwei(d.Amount), Signature: phase0.BLSSignature(sigBytes)}
	gotDataRoot, err := dd.HashTreeRoot()
	if err != nil {
		return fmt.Errorf("deposit data root: %w", err)
	}
	if string(gotDataRoot[:]) != string(dataRoot) {
		return fmt.Errorf("%w: deposit_data_root is %s, contents give %x", ErrRootMismatch, d.DepositDataRoot, gotDataRoot[:])
	}

	signingRoot, err := SigningRoot(gotMsgRoot, fork)
	if err != nil {
		return err
	}
	var pk bls.PublicKey
	if err := pk.Deserialize(pubkey); err != nil || pk.IsZero() {
		return fmt.Errorf("%w: pubkey is not a valid BLS12-381 G1 point", ErrMalformed)
	}
	var sig bls.Sign
	if err := sig.Deserialize(sigBytes); err != nil {
		return fmt.Errorf("%w: signature is not a valid BLS12-381 G2 point", ErrSignature)
	}
	if !sig.VerifyByte(&pk, signingRoot[:]) {
		return ErrSignature
	}
	return nil
}

// ParseFile parses a deposit data file (a JSON array of entries).
func ParseFile(data []byte) ([]Data, error) {
	var ds []Data
	if err := json.Unmarshal(data, &ds); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(ds) == 0 {
		return nil, fmt.Errorf("%w: no deposits in file", ErrMalformed)
	}
	return ds, nil
}

func fixedHex(s string, n int, field string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("%w: %s is not %d bytes of hex", ErrMalformed, field, n)
	}
	return b, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// VerifyEntries checks every entry against expected or, when expected is
// nil, against the entry's own network_name (whose fork version must match
// when vigil knows the name). errs[i] is nil when entry i is sound.
func VerifyEntries(entries []Data, expected *Network) []error {
	errs := make([]error, len(entries))
	for i := range entries {
		n := expected
		if n == nil {
			own, err := LookupNetwork(entries[i].NetworkName, entries[i].ForkVersion)
			if err != nil {
				errs[i] = fmt.Errorf("%w: %w", ErrNetwork, err)
				continue
			}
			n = &own
		}
		errs[i] = Verify(&entries[i], n)
	}
	return errs
}
