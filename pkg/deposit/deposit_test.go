package deposit_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/deposit"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

const testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func testKey(t *testing.T, path string) *keystore.Key {
	t.Helper()
	seed, err := keystore.Seed(testMnemonic, "")
	require.NoError(t, err)
	k, err := keystore.DeriveKey(seed, path, time.Time{})
	require.NoError(t, err)
	return k
}

// TestVerifyDepositCLIExample verifies the two holesky entries printed in
// testdata/deposit-cli-docs/deposit_data_file.md (ethstaker-deposit-cli docs,
// see testdata/README.md), which staking-deposit-cli 2.7.0 produced.
func TestVerifyDepositCLIExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "deposit-cli-docs", "deposit_data_file.md"))
	require.NoError(t, err)
	s := string(data)
	start := indexAfter(t, s, "## Example\n```JSON\n")
	end := start + indexAfter(t, s[start:], "```") - 3
	ds, err := deposit.ParseFile([]byte(s[start:end]))
	require.NoError(t, err)
	require.Len(t, ds, 2)
	holesky, err := deposit.LookupNetwork("holesky", "")
	require.NoError(t, err)
	for _, d := range ds {
		t.Run(d.Pubkey[:12], func(t *testing.T) {
			require.NoError(t, deposit.Verify(&d, &holesky))
			require.NoError(t, independentVerify(t, &d))
			mainnet, err := deposit.LookupNetwork("mainnet", "")
			require.NoError(t, err)
			require.ErrorIs(t, deposit.Verify(&d, &mainnet), deposit.ErrNetwork)
		})
	}
}

func indexAfter(t *testing.T, s, sub string) int {
	t.Helper()
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i + len(sub)
		}
	}
	t.Fatalf("%q not found", sub)
	return 0
}

func TestNewAndVerify(t *testing.T) {
	addr, err := deposit.ParseExecutionAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
	require.NoError(t, err)
	signing := testKey(t, keystore.SigningKeyPath(0))
	withdrawal := testKey(t, keystore.WithdrawalKeyPath(0))
	exec, err := deposit.ExecutionWithdrawalCredentials(deposit.WithdrawalExecution, addr)
	require.NoError(t, err)
	comp, err := deposit.ExecutionWithdrawalCredentials(deposit.WithdrawalCompounding, addr)
	require.NoError(t, err)
	bls0 := deposit.BLSWithdrawalCredentials(withdrawal.Pubkey)
	require.Equal(t, byte(0), bls0[0])
	wantBLS := sha256.Sum256(withdrawal.Pubkey[:])
	require.Equal(t, wantBLS[1:], bls0[1:])
	require.Equal(t, "010000000000000000000000"+"5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", hex.EncodeToString(exec))

	custom, err := deposit.LookupNetwork("", "0x12345678")
	require.NoError(t, err)
	require.Equal(t, "custom", custom.Name)

	tests := []struct {
		name    string
		wc      []byte
		amount  phase0.Gwei
		network string
		wantErr error
	}{
		{name: "0x00 mainnet", wc: bls0, amount: deposit.DefaultAmount, network: "mainnet"},
		{name: "0x01 hoodi", wc: exec, amount: deposit.DefaultAmount, network: "hoodi"},
		{name: "0x02 sepolia 2048 ETH", wc: comp, amount: deposit.MaxCompoundingAmount, network: "sepolia"},
		{name: "0x02 holesky 100 ETH", wc: comp, amount: 100 * deposit.GweiPerETH, network: "holesky"},
		{name: "0x01 more than 32 ETH", wc: exec, amount: 33 * deposit.GweiPerETH, network: "mainnet", wantErr: deposit.ErrAmount},
		{name: "0x00 less than 32 ETH", wc: bls0, amount: 31 * deposit.GweiPerETH, network: "mainnet", wantErr: deposit.ErrAmount},
		{name: "0x02 over 2048 ETH", wc: comp, amount: deposit.MaxCompoundingAmount + 1, network: "mainnet", wantErr: deposit.ErrAmount},
		{name: "0x03 prefix", wc: append([]byte{3}, exec[1:]...), amount: deposit.DefaultAmount, network: "mainnet", wantErr: deposit.ErrWithdrawalCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			network, err := deposit.LookupNetwork(tt.network, "")
			require.NoError(t, err)
			d, err := deposit.New(signing, tt.wc, tt.amount, network)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, independentVerify(t, d))
			require.Equal(t, network.Name, d.NetworkName)
			require.Equal(t, hex.EncodeToString(network.GenesisForkVersion[:]), d.ForkVersion)
			require.Equal(t, deposit.CLIVersion, d.DepositCLIVersion)
		})
	}

	t.Run("tampering is caught", func(t *testing.T) {
		mainnet, err := deposit.LookupNetwork("mainnet", "")
		require.NoError(t, err)
		good, err := deposit.New(signing, exec, deposit.DefaultAmount, mainnet)
		require.NoError(t, err)
		other := testKey(t, keystore.SigningKeyPath(1))
		otherDeposit, err := deposit.New(other, exec, deposit.DefaultAmount, mainnet)
		require.NoError(t, err)
		mutations := []struct {
			name    string
			mutate  func(d *deposit.Data)
			wantErr error
		}{
			{"amount", func(d *deposit.Data) { d.Amount = uint64(2048 * deposit.GweiPerETH) }, deposit.ErrAmount},
			{"message root", func(d *deposit.Data) { d.DepositMessageRoot = otherDeposit.DepositMessageRoot }, deposit.ErrRootMismatch},
			{"data root", func(d *deposit.Data) { d.DepositDataRoot = otherDeposit.DepositDataRoot }, deposit.ErrRootMismatch},
			{"pubkey swapped, roots updated", func(d *deposit.Data) {
				d.Pubkey = otherDeposit.Pubkey
				d.DepositMessageRoot = otherDeposit.DepositMessageRoot
				d.DepositDataRoot = rootWithSig(t, otherDeposit, d.Signature)
			}, deposit.ErrSignature},
			{"fork version", func(d *deposit.Data) { d.ForkVersion = "10000910" }, deposit.ErrNetwork},
			{"network name", func(d *deposit.Data) { d.NetworkName = "hoodi" }, deposit.ErrNetwork},
			{"bad hex", func(d *deposit.Data) { d.Signature = "zz" }, deposit.ErrMalformed},
		}
		for _, m := range mutations {
			t.Run(m.name, func(t *testing.T) {
				d := *good
				m.mutate(&d)
				require.ErrorIs(t, deposit.Verify(&d, &mainnet), m.wantErr)
			})
		}
	})
}

// rootWithSig recomputes a deposit data root with another signature.
func rootWithSig(t *testing.T, d *deposit.Data, sig string) string {
	dd := *d
	dd.Signature = sig
	return hex.EncodeToString(dataRoot(t, &dd))
}

func TestLookupNetwork(t *testing.T) {
	tests := []struct {
		name, fork, wantName, wantFork string
		wantErr                        bool
	}{
		{name: "mainnet", wantName: "mainnet", wantFork: "00000000"},
		{name: "Hoodi", wantName: "hoodi", wantFork: "10000910"},
		{name: "sepolia", wantName: "sepolia", wantFork: "90000069"},
		{name: "holesky", fork: "0x01017000", wantName: "holesky", wantFork: "01017000"},
		{name: "holesky", fork: "0x00000000", wantErr: true},
		{name: "devnet-7", fork: "0x10000007", wantName: "devnet-7", wantFork: "10000007"},
		{name: "goerli", wantErr: true},
		{name: "custom", fork: "0x1234", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name+tt.fork, func(t *testing.T) {
			n, err := deposit.LookupNetwork(tt.name, tt.fork)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantName, n.Name)
			require.Equal(t, tt.wantFork, hex.EncodeToString(n.GenesisForkVersion[:]))
		})
	}
}

func TestParseExecutionAddress(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
	}{
		// EIP-55 examples.
		{in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"},
		{in: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"},
		{in: "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"},
		{in: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
		{in: "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED"},
		{in: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", wantErr: deposit.ErrAddressChecksum},
		{in: "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
		{in: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := deposit.ParseExecutionAddress(tt.in)
			switch {
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
			case len(tt.in) != 42:
				require.Error(t, err)
			default:
				require.NoError(t, err)
				require.Equal(t, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"[:2], a.String()[:2])
			}
		})
	}
	a, err := deposit.ParseExecutionAddress("0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359")
	require.NoError(t, err)
	require.Equal(t, "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", a.String())
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	mainnet, err := deposit.LookupNetwork("mainnet", "")
	require.NoError(t, err)
	withdrawal := testKey(t, keystore.WithdrawalKeyPath(0))
	d, err := deposit.New(testKey(t, keystore.SigningKeyPath(0)), deposit.BLSWithdrawalCredentials(withdrawal.Pubkey), deposit.DefaultAmount, mainnet)
	require.NoError(t, err)
	now := time.Unix(1700000000, 0)

	path, err := deposit.WriteFile(dir, []*deposit.Data{d}, mainnet, now)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "deposit_data-1700000000.json"), path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var generic []map[string]any
	require.NoError(t, json.Unmarshal(raw, &generic))
	require.Len(t, generic, 1)
	require.Len(t, generic[0], 9)
	require.Equal(t, float64(32000000000), generic[0]["amount"])
	require.NotContains(t, string(raw), "0x")

	_, err = deposit.WriteFile(dir, []*deposit.Data{d}, mainnet, now)
	require.ErrorIs(t, err, deposit.ErrFileExists)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, raw, after)

	bad := *d
	bad.Amount++
	_, err = deposit.WriteFile(dir, []*deposit.Data{&bad}, mainnet, now.Add(time.Second))
	require.ErrorIs(t, err, deposit.ErrAmount)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "a refused write leaves nothing behind")
}

// independentVerify re-checks a deposit with SSZ merkleisation written out by
// hand (consensus-specs phase0 DepositMessage, DepositData, ForkData,
// SigningData) and herumi directly, sharing no code with package deposit.
func independentVerify(t *testing.T, d *deposit.Data) error {
	t.Helper()
	pk := mustHex(t, d.Pubkey)
	wc := mustHex(t, d.WithdrawalCredentials)
	fork := mustHex(t, d.ForkVersion)

	msgRoot := hash(hash(pubkeyRoot(pk), wc), hash(uint64Leaf(uint64(d.Amount)), zero32()))
	require.Equal(t, d.DepositMessageRoot, hex.EncodeToString(msgRoot))
	require.Equal(t, d.DepositDataRoot, hex.EncodeToString(dataRoot(t, d)))

	forkDataRoot := hash(pad32(fork), zero32())
	domain := append([]byte{3, 0, 0, 0}, forkDataRoot[:28]...)
	signingRoot := hash(msgRoot, domain)

	var pub bls.PublicKey
	require.NoError(t, pub.Deserialize(pk))
	var sig bls.Sign
	require.NoError(t, sig.Deserialize(mustHex(t, d.Signature)))
	require.True(t, sig.VerifyByte(&pub, signingRoot), "signature")
	return nil
}

func dataRoot(t *testing.T, d *deposit.Data) []byte {
	pk := mustHex(t, d.Pubkey)
	wc := mustHex(t, d.WithdrawalCredentials)
	sig := mustHex(t, d.Signature)
	sigRoot := hash(hash(sig[:32], sig[32:64]), hash(sig[64:], zero32()))
	return hash(hash(pubkeyRoot(pk), wc), hash(uint64Leaf(uint64(d.Amount)), sigRoot))
}

func pubkeyRoot(pk []byte) []byte { return hash(pk[:32], pad32(pk[32:])) }

func uint64Leaf(v uint64) []byte {
	b := zero32()
	binary.LittleEndian.PutUint64(b, v)
	return b
}

func hash(a, b []byte) []byte {
	h := sha256.Sum256(append(append([]byte{}, a...), b...))
	return h[:]
}

func pad32(b []byte) []byte { return append(append([]byte{}, b...), make([]byte, 32-len(b))...) }

func zero32() []byte { return make([]byte, 32) }

func mustHex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestWriteVerification(t *testing.T) {
	pk := "0x" + strings.Repeat("a1", 48)
	entries := []deposit.Data{
		{Pubkey: pk, NetworkName: "hoodi", Amount: 32_000_000_000, WithdrawalCredentials: "010000000000000000000000" + strings.Repeat("bb", 20)},
		{Pubkey: "not-a-key-at-all", NetworkName: "hoodi"},
	}
	var out strings.Builder
	failed := deposit.WriteVerification(&out, entries, []error{nil, deposit.ErrAmount})
	require.Equal(t, 1, failed)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], "entry 0 0xa1a1a1a1…a1a1: OK (hoodi, 32000000000 Gwei, credentials 0x010000000000…)")
	require.Equal(t, "entry 1 not-a-key-at: FAIL: deposit amount out of range", lines[1])
}
