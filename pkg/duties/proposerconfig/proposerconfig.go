// Package proposerconfig reads the proposer configuration file operators
// know from Teku, Prysm and Lodestar: a default and per-validator fee
// recipient, gas limit and builder settings, keyed by public key. A Source
// serves the current configuration to the duties and reloads the file on
// demand (SIGHUP), keeping the previous one when the new file is bad.
package proposerconfig

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"gopkg.in/yaml.v3"

	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// ErrInvalid marks a proposer configuration file that cannot be used.
var ErrInvalid = errors.New("invalid proposer configuration")

// Config is a default and per-validator proposal settings.
type Config struct {
	Default duties.ProposerConfig
	PerKey  map[phase0.BLSPubKey]duties.ProposerConfig
}

// For returns the settings of the validator with public key pk.
func (c *Config) For(pk phase0.BLSPubKey) duties.ProposerConfig {
	if e, ok := c.PerKey[pk]; ok {
		return e
	}
	return c.Default
}

// The file's shape (JSON, or the same keys in YAML). Numbers may be JSON
// numbers or decimal strings, as the clients write them.
type fileEntry struct {
	FeeRecipient *string      `yaml:"fee_recipient"`
	GasLimit     *flexUint    `yaml:"gas_limit"`
	Builder      *fileBuilder `yaml:"builder"`
}

type fileBuilder struct {
	Enabled  *bool     `yaml:"enabled"`
	GasLimit *flexUint `yaml:"gas_limit"`
}

type file struct {
	ProposerConfig map[string]fileEntry `yaml:"proposer_config"`
	DefaultConfig  *fileEntry           `yaml:"default_config"`
}

// flexUint accepts 30000000 and "30000000".
type flexUint uint64

func (f *flexUint) UnmarshalYAML(n *yaml.Node) error {
	v, err := strconv.ParseUint(strings.TrimSpace(n.Value), 10, 64)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: %q is not an unsigned integer", n.Line, n.Value)
	}
	*f = flexUint(v)
	return nil
}

// Parse reads a proposer configuration. base holds the settings of the
// command line, which the file's default_config overrides field by field,
// and which per-validator entries override in turn.
func Parse(data []byte, base duties.ProposerConfig) (*Config, error) {
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	def, err := apply(base, f.DefaultConfig, "default_config")
	if err != nil {
		return nil, err
	}
	c := &Config{Default: def, PerKey: make(map[phase0.BLSPubKey]duties.ProposerConfig, len(f.ProposerConfig))}
	for key, e := range f.ProposerConfig {
		pk, err := pubkey.Parse(key)
		if err != nil {
			return nil, fmt.Errorf("%w: proposer_config key: %v", ErrInvalid, err)
		}
		entry := e
		cfg, err := apply(def, &entry, "proposer_config "+pubkey.Short(pk))
		if err != nil {
			return nil, err
		}
		c.PerKey[pk] = cfg
	}
	return c, nil
}

// apply overrides base with the fields e sets.
func apply(base duties.ProposerConfig, e *fileEntry, where string) (duties.ProposerConfig, error) {
	out := base
	if e == nil {
		return out, nil
	}
	if e.FeeRecipient != nil {
		addr, err := parseAddress(*e.FeeRecipient)
		if err != nil {
			return out, fmt.Errorf("%w: %s fee_recipient: %v", ErrInvalid, where, err)
		}
		out.FeeRecipient = addr
	}
	if e.GasLimit != nil {
		out.GasLimit = uint64(*e.GasLimit)
	}
	if e.Builder != nil {
		if e.Builder.Enabled != nil {
			out.Builder = *e.Builder.Enabled
		}
		if e.Builder.GasLimit != nil {
			out.GasLimit = uint64(*e.Builder.GasLimit)
		}
	}
	switch {
	case out.FeeRecipient == (bellatrix.ExecutionAddress{}):
		return out, fmt.Errorf("%w: %s has no fee recipient (or the zero address): fees sent there are burnt", ErrInvalid, where)
	case out.GasLimit == 0:
		return out, fmt.Errorf("%w: %s has gas limit 0", ErrInvalid, where)
	}
	return out, nil
}

func parseAddress(s string) (bellatrix.ExecutionAddress, error) {
	var a bellatrix.ExecutionAddress
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X"))
	if err != nil || len(b) != len(a) {
		return a, fmt.Errorf("%q is not a 20-byte hex address", s)
	}
	copy(a[:], b)
	return a, nil
}

// Source is the proposer configuration in force: the command line's
// settings, or a file read over them and reloaded on demand.
type Source struct {
	path string
	base duties.ProposerConfig
	log  *slog.Logger
	cur  atomic.Pointer[Config]
}

// NewSource returns the configuration of base alone when path is empty, or
// of the file at path over base; a bad file is an error.
func NewSource(path string, base duties.ProposerConfig, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Source{path: path, base: base, log: log}
	c, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cur.Store(c)
	return s, nil
}

func (s *Source) read() (*Config, error) {
	if s.path == "" {
		return &Config{Default: s.base}, nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return nil, fmt.Errorf("read the proposer configuration: %w", err)
	}
	c, err := Parse(data, s.base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.path, err)
	}
	return c, nil
}

// For returns the settings in force for pk.
func (s *Source) For(pk phase0.BLSPubKey) duties.ProposerConfig { return s.cur.Load().For(pk) }

// Reload reads the file again; on error the configuration in force stays
// and the error is returned.
func (s *Source) Reload() error {
	if s.path == "" {
		return nil
	}
	c, err := s.read()
	if err != nil {
		return err
	}
	s.cur.Store(c)
	s.log.Info("Proposer configuration reloaded", slog.String("file", s.path), slog.Int("validators", len(c.PerKey)))
	return nil
}

// ReloadOn reloads on every value from reload (SIGHUP in vigil) until ctx
// ends, calling changed after each successful reload; a bad file is logged
// and the configuration in force stays.
func (s *Source) ReloadOn(ctx context.Context, reload <-chan os.Signal, changed func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			if err := s.Reload(); err != nil {
				s.log.Error("Failed to reload the proposer configuration; keeping the one in force", "error", err)
			} else if changed != nil && s.path != "" {
				changed()
			}
		}
	}
}
