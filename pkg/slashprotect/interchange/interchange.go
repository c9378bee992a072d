// Package interchange reads and writes EIP-3076 slashing-protection
// interchange files (format version 5) as streams: one validator's entry in
// memory at a time, so files with millions of records need little memory.
package interchange

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// FormatVersion is the only interchange_format_version this package accepts
// and writes (EIP-3076 "Additional Information").
const FormatVersion = "5"

// ErrInvalid marks a malformed or unsupported interchange document.
var ErrInvalid = errors.New("invalid interchange file")

// maxQuantity is the largest slot or epoch accepted: vigil stores them as
// signed 64-bit integers.
const maxQuantity = math.MaxInt64

// Metadata is the document's metadata object.
type Metadata struct {
	InterchangeFormatVersion string
	GenesisValidatorsRoot    phase0.Root
}

// Block is one signed_blocks item; SigningRoot is nil when absent.
type Block struct {
	Slot        phase0.Slot
	SigningRoot *phase0.Root
}

// Attestation is one signed_attestations item; SigningRoot is nil when absent.
type Attestation struct {
	SourceEpoch phase0.Epoch
	TargetEpoch phase0.Epoch
	SigningRoot *phase0.Root
}

// Validator is one element of the data array.
type Validator struct {
	Pubkey             phase0.BLSPubKey
	SignedBlocks       []Block
	SignedAttestations []Attestation
}

// Decoder reads an interchange document element by element.
type Decoder struct {
	dec      *json.Decoder
	metadata *Metadata
	// state: 0 before the document, 1 in the top-level object, 2 in data, 3 done.
	state   int
	sawData bool
	index   int
}

// NewDecoder reads a document from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{dec: json.NewDecoder(bufio.NewReaderSize(r, 1<<20))}
}

// Metadata returns the metadata once it has been read; it may follow data.
func (d *Decoder) Metadata() (Metadata, bool) {
	if d.metadata == nil {
		return Metadata{}, false
	}
	return *d.metadata, true
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func (d *Decoder) syntax(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalid("document ends early (truncated file?) at byte %d", d.dec.InputOffset())
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return invalid("malformed JSON at byte %d: %v", se.Offset, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalid("wrong JSON type at byte %d: %v", te.Offset, err)
	}
	return fmt.Errorf("read interchange file: %w", err)
}

func (d *Decoder) delim(want json.Delim, what string) error {
	tok, err := d.dec.Token()
	if err != nil {
		return d.syntax(err)
	}
	if got, ok := tok.(json.Delim); !ok || got != want {
		return invalid("%s must be a JSON %s, got %v", what, map[json.Delim]string{'{': "object", '[': "array"}[want], tok)
	}
	return nil
}

// Next returns the next data element. It returns io.EOF once the whole
// document has been read and found complete (metadata and data present,
// nothing after the closing brace).
func (d *Decoder) Next() (*Validator, error) {
	for {
		switch d.state {
		case 0:
			if err := d.delim('{', "the document"); err != nil {
				return nil, err
			}
			d.state = 1
		case 1:
			if !d.dec.More() {
				return nil, d.finish()
			}
			tok, err := d.dec.Token()
			if err != nil {
				return nil, d.syntax(err)
			}
			switch key := tok.(string); key {
			case "metadata":
				if err := d.readMetadata(); err != nil {
					return nil, err
				}
			case "data":
				if d.sawData {
					return nil, invalid("data appears twice")
				}
				d.sawData = true
				if err := d.delim('[', "data"); err != nil {
					return nil, err
				}
				d.state = 2
			default:
				// The EIP's schema allows other properties; skip them.
				var skip json.RawMessage
				if err := d.dec.Decode(&skip); err != nil {
					return nil, d.syntax(err)
				}
			}
		case 2:
			if !d.dec.More() {
				if _, err := d.dec.Token(); err != nil {
					return nil, d.syntax(err)
				}
				d.state = 1
				continue
			}
			var raw rawValidator
			if err := d.dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("data[%d]: %w", d.index, d.syntax(err))
			}
			v, err := raw.parse(fmt.Sprintf("data[%d]", d.index))
			d.index++
			if err != nil {
				return nil, err
			}
			return v, nil
		default:
			return nil, io.EOF
		}
	}
}

func (d *Decoder) finish() error {
	if _, err := d.dec.Token(); err != nil {
		return d.syntax(err)
	}
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("unexpected content after the document's closing brace")
	}
	if d.metadata == nil {
		return invalid("metadata is missing")
	}
	if !d.sawData {
		return invalid("data is missing")
	}
	d.state = 3
	return io.EOF
}

type rawMetadata struct {
	InterchangeFormatVersion json.RawMessage `json:"interchange_format_version"`
	GenesisValidatorsRoot    json.RawMessage `json:"genesis_validators_root"`
}

func (d *Decoder) readMetadata() error {
	if d.metadata != nil {
		return invalid("metadata appears twice")
	}
	var raw rawMetadata
	if err := d.dec.Decode(&raw); err != nil {
		return fmt.Errorf("metadata: %w", d.syntax(err))
	}
	if raw.InterchangeFormatVersion == nil {
		return invalid("metadata.interchange_format_version is missing")
	}
	var version string
	if err := json.Unmarshal(raw.InterchangeFormatVersion, &version); err != nil {
		return invalid("metadata.interchange_format_version must be a string like \"5\", got %s", clip(raw.InterchangeFormatVersion))
	}
	if version != FormatVersion {
		return invalid("metadata.interchange_format_version is %q; only version %q (EIP-3076) is supported", version, FormatVersion)
	}
	root, err := parseRoot("metadata.genesis_validators_root", raw.GenesisValidatorsRoot, false)
	if err != nil {
		return err
	}
	d.metadata = &Metadata{InterchangeFormatVersion: version, GenesisValidatorsRoot: *root}
	return nil
}

type rawValidator struct {
	Pubkey             json.RawMessage  `json:"pubkey"`
	SignedBlocks       []rawBlock       `json:"signed_blocks"`
	SignedAttestations []rawAttestation `json:"signed_attestations"`
}

type rawBlock struct {
	Slot        json.RawMessage `json:"slot"`
	SigningRoot json.RawMessage `json:"signing_root"`
}

type rawAttestation struct {
	SourceEpoch json.RawMessage `json:"source_epoch"`
	TargetEpoch json.RawMessage `json:"target_epoch"`
	SigningRoot json.RawMessage `json:"signing_root"`
}

func (raw *rawValidator) parse(path string) (*Validator, error) {
	v := &Validator{}
	pk, err := parseHexString(path+".pubkey", raw.Pubkey, len(v.Pubkey))
	if err != nil {
		return nil, err
	}
	copy(v.Pubkey[:], pk)
	// Required by the EIP's schema: an empty history is written as [].
	if raw.SignedBlocks == nil {
		return nil, invalid("%s.signed_blocks is missing (write [] for none)", path)
	}
	if raw.SignedAttestations == nil {
		return nil, invalid("%s.signed_attestations is missing (write [] for none)", path)
	}
	v.SignedBlocks = make([]Block, len(raw.SignedBlocks))
	for i, b := range raw.SignedBlocks {
		p := fmt.Sprintf("%s.signed_blocks[%d]", path, i)
		slot, err := parseQuantity(p+".slot", b.Slot)
		if err != nil {
			return nil, err
		}
		root, err := parseRoot(p+".signing_root", b.SigningRoot, true)
		if err != nil {
			return nil, err
		}
		v.SignedBlocks[i] = Block{Slot: phase0.Slot(slot), SigningRoot: root}
	}
	v.SignedAttestations = make([]Attestation, len(raw.SignedAttestations))
	for i, a := range raw.SignedAttestations {
		p := fmt.Sprintf("%s.signed_attestations[%d]", path, i)
		source, err := parseQuantity(p+".source_epoch", a.SourceEpoch)
		if err != nil {
			return nil, err
		}
		target, err := parseQuantity(p+".target_epoch", a.TargetEpoch)
		if err != nil {
			return nil, err
		}
		root, err := parseRoot(p+".signing_root", a.SigningRoot, true)
		if err != nil {
			return nil, err
		}
		v.SignedAttestations[i] = Attestation{SourceEpoch: phase0.Epoch(source), TargetEpoch: phase0.Epoch(target), SigningRoot: root}
	}
	return v, nil
}

// clip shortens raw JSON for an error message.
func clip(raw json.RawMessage) string {
	const n = 40
	if len(raw) > n {
		return string(raw[:n]) + "…"
	}
	return string(raw)
}

// stringContent returns the bytes of a JSON string without escapes; the
// fields this package reads never need them.
func stringContent(field string, raw json.RawMessage, want string) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, invalid("%s must be %s, got %s", field, want, clip(raw))
	}
	s := raw[1 : len(raw)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, invalid("%s must be %s without escapes, got %s", field, want, clip(raw))
	}
	return s, nil
}

// parseQuantity reads a slot or epoch. EIP-3076 ("Integer Representation")
// writes them as decimal strings; a JSON number is refused, since a reader in
// another language may already have rounded it.
func parseQuantity(field string, raw json.RawMessage) (uint64, error) {
	if raw == nil {
		return 0, invalid("%s is missing", field)
	}
	s, err := stringContent(field, raw, `a decimal string like "123"`)
	if err != nil {
		return 0, err
	}
	if len(s) == 0 || len(s) > 20 {
		return 0, invalid("%s must be a decimal string like \"123\", got %s", field, clip(raw))
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, invalid("%s must be a decimal string like \"123\", got %s", field, clip(raw))
		}
	}
	v, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil || v > maxQuantity {
		return 0, invalid("%s %s is out of range (at most 2^63-1)", field, clip(raw))
	}
	return v, nil
}

// parseHexString reads a 0x-prefixed hex string of exactly n bytes.
func parseHexString(field string, raw json.RawMessage, n int) ([]byte, error) {
	if raw == nil {
		return nil, invalid("%s is missing", field)
	}
	want := fmt.Sprintf("a 0x-prefixed hex string of %d bytes", n)
	s, err := stringContent(field, raw, want)
	if err != nil {
		return nil, err
	}
	if len(s) != 2+2*n || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return nil, invalid("%s must be %s, got %s", field, want, clip(raw))
	}
	out := make([]byte, n)
	if _, err := hex.Decode(out, s[2:]); err != nil {
		return nil, invalid("%s must be %s, got %s", field, want, clip(raw))
	}
	return out, nil
}

// parseRoot reads a 32-byte root; an optional one may be absent or null.
func parseRoot(field string, raw json.RawMessage, optional bool) (*phase0.Root, error) {
	if optional && (raw == nil || string(raw) == "null") {
		return nil, nil
	}
	b, err := parseHexString(field, raw, len(phase0.Root{}))
	if err != nil {
		return nil, err
	}
	var r phase0.Root
	copy(r[:], b)
	return &r, nil
}

// Encoder writes an interchange document one validator at a time.
type Encoder struct {
	w     *bufio.Writer
	buf   []byte
	first bool
	err   error
}

// NewEncoder writes the document's opening and metadata to w.
func NewEncoder(w io.Writer, genesisValidatorsRoot phase0.Root) *Encoder {
	e := &Encoder{w: bufio.NewWriterSize(w, 1<<20), first: true}
	e.buf = fmt.Appendf(e.buf, `{"metadata":{"interchange_format_version":%q,"genesis_validators_root":"%#x"},"data":[`,
		FormatVersion, genesisValidatorsRoot[:])
	return e
}

func appendHex(b []byte, v []byte) []byte {
	b = append(b, '"', '0', 'x')
	b = hex.AppendEncode(b, v)
	return append(b, '"')
}

func appendQuantity(b []byte, name string, v uint64) []byte {
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":"`...)
	b = strconv.AppendUint(b, v, 10)
	return append(b, '"')
}

// Write appends one validator's element.
func (e *Encoder) Write(v *Validator) error {
	if e.err != nil {
		return e.err
	}
	b := e.buf
	if !e.first {
		b = append(b, ',')
	}
	e.first = false
	b = append(b, "\n{\"pubkey\":"...)
	b = appendHex(b, v.Pubkey[:])
	b = append(b, `,"signed_blocks":[`...)
	for i, blk := range v.SignedBlocks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendQuantity(b, "slot", uint64(blk.Slot))
		if blk.SigningRoot != nil {
			b = append(b, `,"signing_root":`...)
			b = appendHex(b, blk.SigningRoot[:])
		}
		b = append(b, '}')
	}
	b = append(b, `],"signed_attestations":[`...)
	for i, att := range v.SignedAttestations {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendQuantity(b, "source_epoch", uint64(att.SourceEpoch))
		b = append(b, ',')
		b = appendQuantity(b, "target_epoch", uint64(att.TargetEpoch))
		if att.SigningRoot != nil {
			b = append(b, `,"signing_root":`...)
			b = appendHex(b, att.SigningRoot[:])
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	_, e.err = e.w.Write(b)
	e.buf = b[:0]
	return e.err
}

// Close writes the document's end and flushes; it does not close the writer.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	e.buf = append(e.buf, "\n]}\n"...)
	if _, err := e.w.Write(e.buf); err != nil {
		return err
	}
	return e.w.Flush()
}
