package interchange_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/slashprotect/interchange"
)

// eipExample is the "Example JSON Instance" of EIP-3076
// (/work/shared/specs/eips/eip-3076.md), verbatim.
const eipExample = `{
  "metadata": {
    "interchange_format_version": "5",
    "genesis_validators_root": "0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673"
  },
  "data": [
    {
      "pubkey": "0xb845089a1457f811bfc000588fbb4e713669be8ce060ea6be3c6ece09afc3794106c91ca73acda5e5457122d58723bed",
      "signed_blocks": [
        {
          "slot": "81952",
          "signing_root": "0x4ff6f743a43f3b4f95350831aeaf0a122a1a392922c45d804280284a69eb850b"
        },
        {
          "slot": "81951"
        }
      ],
      "signed_attestations": [
        {
          "source_epoch": "2290",
          "target_epoch": "3007",
          "signing_root": "0x587d6a4f59a58fe24f406e0502413e77fe1babddee641fda30034ed37ecc884d"
        },
        {
          "source_epoch": "2290",
          "target_epoch": "3008"
        }
      ]
    }
  ]
}`

func decodeAll(doc string) (interchange.Metadata, []*interchange.Validator, error) {
	dec := interchange.NewDecoder(strings.NewReader(doc))
	var out []*interchange.Validator
	for {
		v, err := dec.Next()
		if errors.Is(err, io.EOF) {
			md, _ := dec.Metadata()
			return md, out, nil
		}
		if err != nil {
			return interchange.Metadata{}, nil, err
		}
		out = append(out, v)
	}
}

func encode(t testing.TB, md interchange.Metadata, vs []*interchange.Validator) string {
	var buf bytes.Buffer
	enc := interchange.NewEncoder(&buf, md.GenesisValidatorsRoot)
	for _, v := range vs {
		require.NoError(t, enc.Write(v))
	}
	require.NoError(t, enc.Close())
	return buf.String()
}

func TestDecodeEIPExample(t *testing.T) {
	md, vs, err := decodeAll(eipExample)
	require.NoError(t, err)
	require.Equal(t, "5", md.InterchangeFormatVersion)
	require.Equal(t, "0x04700007fabc8282644aed6d1c7c9e21d38a03a0c4ba193f3afe428824b3a673", md.GenesisValidatorsRoot.String())
	require.Len(t, vs, 1)
	v := vs[0]
	require.Equal(t, "0xb845089a1457f811bfc000588fbb4e713669be8ce060ea6be3c6ece09afc3794106c91ca73acda5e5457122d58723bed", v.Pubkey.String())
	require.Len(t, v.SignedBlocks, 2)
	require.Equal(t, phase0.Slot(81952), v.SignedBlocks[0].Slot)
	require.Equal(t, "0x4ff6f743a43f3b4f95350831aeaf0a122a1a392922c45d804280284a69eb850b", v.SignedBlocks[0].SigningRoot.String())
	require.Nil(t, v.SignedBlocks[1].SigningRoot)
	require.Equal(t, phase0.Epoch(2290), v.SignedAttestations[1].SourceEpoch)
	require.Equal(t, phase0.Epoch(3008), v.SignedAttestations[1].TargetEpoch)
	require.Nil(t, v.SignedAttestations[1].SigningRoot)

	// Re-encoding gives a document that decodes to the same values.
	md2, vs2, err := decodeAll(encode(t, md, vs))
	require.NoError(t, err)
	require.Equal(t, md, md2)
	require.Equal(t, vs, vs2)
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"number slot", `"slot": "81952"`, `"slot": 81952`, `data[0].signed_blocks[0].slot must be a decimal string like "123", got 81952`},
		{"hex slot", `"slot": "81952"`, `"slot": "0x10"`, "data[0].signed_blocks[0].slot must be a decimal string"},
		{"empty epoch", `"source_epoch": "2290"`, `"source_epoch": ""`, "data[0].signed_attestations[0].source_epoch"},
		{"escaped epoch", `"source_epoch": "2290"`, `"source_epoch": "\u0032"`, "without escapes"},
		{"overflow", `"target_epoch": "3008"`, `"target_epoch": "99999999999999999999"`, "out of range"},
		{"null pubkey", `"pubkey": "0xb8`, `"pubkey": null, "x": "0xb8`, "data[0].pubkey must be"},
		{"odd hex root", `"0x4ff6f743`, `"0x4ff6f74`, "signing_root must be a 0x-prefixed hex string of 32 bytes"},
		{"version 4", `"interchange_format_version": "5"`, `"interchange_format_version": "4"`, `only version "5"`},
		{"blocks not array", `"signed_attestations": [`, `"signed_attestations": 7, "x": [`, "wrong JSON type"},
		{"data twice", `"data": [`, `"data": [], "data": [`, "data appears twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(eipExample, c.from, c.to, 1)
			require.NotEqual(t, eipExample, doc)
			_, _, err := decodeAll(doc)
			require.ErrorIs(t, err, interchange.ErrInvalid)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestUnknownFieldsSkipped(t *testing.T) {
	doc := strings.Replace(eipExample, `"metadata": {`, `"comment": {"a": [1, 2]}, "metadata": {"extra": 1, `, 1)
	_, vs, err := decodeAll(doc)
	require.NoError(t, err)
	require.Len(t, vs, 1)
}

// FuzzDecode checks that no input panics the decoder, and that whatever it
// accepts survives an encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(eipExample)
	f.Add(`{"metadata":{"interchange_format_version":"5","genesis_validators_root":"0x0000000000000000000000000000000000000000000000000000000000000000"},"data":[]}`)
	f.Add(`{"data":[{"pubkey":"0x00","signed_blocks":[],"signed_attestations":[]}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		md, vs, err := decodeAll(doc)
		if err != nil {
			require.ErrorIs(t, err, interchange.ErrInvalid)
			return
		}
		md2, vs2, err := decodeAll(encode(t, md, vs))
		require.NoError(t, err)
		require.Equal(t, md, md2)
		require.Equal(t, len(vs), len(vs2))
		for i := range vs {
			require.Equal(t, vs[i], vs2[i])
		}
	})
}
