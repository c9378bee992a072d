package slashprotect_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// TestRules pins the rule vocabulary: stable snake_case names (metric labels
// and logs depend on them), one sentinel per rule, and errors.Is matching a
// Refusal to its rule's sentinel and no other.
func TestRules(t *testing.T) {
	want := map[slashprotect.Rule]struct {
		name string
		err  error
	}{
		slashprotect.RuleInvalidRequest:     {"invalid_request", slashprotect.ErrInvalidRequest},
		slashprotect.RuleSourceAfterTarget:  {"source_after_target", slashprotect.ErrSourceAfterTarget},
		slashprotect.RuleSourceEqualsTarget: {"source_equals_target", slashprotect.ErrSourceEqualsTarget},
		slashprotect.RuleDoubleVote:         {"double_vote", slashprotect.ErrDoubleVote},
		slashprotect.RuleBelowWatermark:     {"below_watermark", slashprotect.ErrBelowWatermark},
		slashprotect.RuleSurroundedVote:     {"surrounded_vote", slashprotect.ErrSurroundedVote},
		slashprotect.RuleSurroundVote:       {"surround_vote", slashprotect.ErrSurroundVote},
		slashprotect.RuleDoubleBlock:        {"double_block", slashprotect.ErrDoubleBlock},
	}
	require.Len(t, slashprotect.Rules(), len(want))
	for _, r := range slashprotect.Rules() {
		t.Run(r.String(), func(t *testing.T) {
			w, ok := want[r]
			require.True(t, ok)
			require.Equal(t, w.name, r.String())
			require.Regexp(t, regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`), r.String())
			require.Equal(t, w.err, r.Err())
			refusal := &slashprotect.Refusal{Rule: r, Detail: "detail"}
			require.ErrorIs(t, refusal, w.err)
			require.Equal(t, "refused: "+w.err.Error()+": detail", refusal.Error())
			for other, o := range want {
				if other != r {
					require.False(t, errors.Is(refusal, o.err), "%s matches %s", r, other)
				}
			}
		})
	}
	require.Equal(t, "none", slashprotect.RuleNone.String())
	require.NoError(t, slashprotect.RuleNone.Err())
	var v slashprotect.Verdict
	require.ErrorIs(t, v.Err(), slashprotect.ErrInvalidRequest, "a zero verdict is a refusal")
}
