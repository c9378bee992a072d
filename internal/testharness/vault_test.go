package testharness_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
)

func TestStartVault(t *testing.T) {
	v := testharness.StartVault(t)

	sec, err := v.Root().Auth().Token().LookupSelf()
	require.NoError(t, err)
	require.NotNil(t, sec)

	v.WriteKV(t, "secret", "probe", map[string]any{"k": "v"})
	got, err := v.Root().KVv2("secret").Get(context.Background(), "probe")
	require.NoError(t, err)
	require.Equal(t, "v", got.Data["k"])

	v.EnableKVv1(t, "kv1")
	roleID, secretIDFile := v.EnableAppRole(t, "probe", `path "secret/*" { capabilities = ["read"] }`, nil)
	require.NotEmpty(t, roleID)
	require.FileExists(t, secretIDFile)
	require.NotEmpty(t, v.CreateToken(t, `path "secret/*" { capabilities = ["read"] }`, 0))

	v.Seal(t)
	st, err := v.Root().Sys().SealStatus()
	require.NoError(t, err)
	require.True(t, st.Sealed)

	v.Stop()
	_, err = v.Root().Sys().SealStatus()
	require.Error(t, err, "a stopped server must refuse connections")
}
