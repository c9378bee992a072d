package configs

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	repoRoot     = ".."
	dockerfile   = filepath.Join(repoRoot, "Dockerfile")
	dockerignore = filepath.Join(repoRoot, ".dockerignore")
)

// goVersion is the go directive of vigil's go.mod, e.g. "1.26".
func goVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	require.NotNil(t, m, "no go directive in go.mod")
	return string(m[1])
}

// dockerStage is one FROM section of a Dockerfile: its name, base image and
// instructions (keyword in lower case, text as written with continuation
// lines joined), the shape vigil-lint reports too.
type dockerStage struct {
	Name     string
	Base     string
	Commands []dockerInstruction
}

type dockerInstruction struct {
	Cmd  string
	Text string
}

// parseDockerfile is a minimal reading of the Dockerfile syntax (comments,
// backslash continuations, FROM ... AS name), enough for the checks below to
// run even without vigil-lint; BuildKit's real parser confirms it in
// TestDockerfileBuildKit.
func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var (
		stages  []dockerStage
		pending string
	)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if pending != "" {
			line = pending + line
			pending = ""
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		kw, rest, _ := strings.Cut(line, " ")
		kw = strings.ToLower(kw)
		if kw == "from" {
			f := strings.Fields(rest)
			st := dockerStage{Base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "as") {
				st.Name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		require.NotEmpty(t, stages, "%s: %q before FROM", path, line)
		last := &stages[len(stages)-1]
		last.Commands = append(last.Commands, dockerInstruction{Cmd: kw, Text: line})
	}
	require.Empty(t, pending, "%s ends with a continuation", path)
	return stages
}

// TestDockerfile checks what the image must be: a cgo build on the Go image of
// go.mod's version, a slim glibc runtime of the same Debian release, images
// pinned to a tag, a non-root user, the data directory as a volume, the
// monitor port exposed and a health check on /readyz. No engine is needed.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, dockerfile)
	require.Len(t, stages, 2, "a build stage and a runtime stage")
	build, run := stages[0], stages[1]

	// cmds returns the text of a stage's instructions of one kind.
	cmds := func(s int, kind string) []string {
		var out []string
		for _, c := range stages[s].Commands {
			if c.Cmd == kind {
				out = append(out, c.Text)
			}
		}
		return out
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?$`)

	t.Run("build stage", func(t *testing.T) {
		require.Equal(t, "build", build.Name)
		require.Equal(t, "golang:"+goVersion(t)+"-bookworm", build.Base, "the official Go image of go.mod's version")
		require.Contains(t, cmds(0, "env"), "ENV CGO_ENABLED=1", "herumi's BLS library and SQLite need cgo")
		var goBuild string
		for _, c := range cmds(0, "run") {
			if strings.Contains(c, "go build") {
				goBuild = c
			}
		}
		require.NotEmpty(t, goBuild)
		for _, want := range []string{"-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "./cmd/vigil"} {
			require.Contains(t, goBuild, want)
		}
	})
	t.Run("runtime stage", func(t *testing.T) {
		require.Equal(t, "debian:bookworm-slim", run.Base, "glibc of the build image's Debian release")
		require.NotContains(t, run.Base, ":latest")
		for _, s := range stages {
			require.Regexp(t, pinned, s.Base, "images are pinned to a tag")
		}
		require.Contains(t, cmds(1, "copy"), "COPY --from=build /out/vigil /usr/local/bin/vigil")
		require.Contains(t, cmds(1, "env"), "ENV VIGIL_DATA_DIR=/var/lib/vigil")
		require.Equal(t, []string{`VOLUME ["/var/lib/vigil"]`}, cmds(1, "volume"))
		require.Equal(t, []string{"EXPOSE 9465"}, cmds(1, "expose"), "the monitor listener's port")
		require.Equal(t, []string{`ENTRYPOINT ["/usr/local/bin/vigil"]`}, cmds(1, "entrypoint"))
	})
	t.Run("non-root user", func(t *testing.T) {
		users := cmds(1, "user")
		require.Len(t, users, 1)
		u := strings.TrimPrefix(users[0], "USER ")
		require.NotContains(t, []string{"root", "0", "0:0", "root:root"}, u)
		require.Regexp(t, `^[1-9][0-9]{3,}:[1-9][0-9]{3,}$`, u, "a fixed numeric uid:gid")
		var created bool
		for _, c := range cmds(1, "run") {
			created = created || strings.Contains(c, "useradd --system --uid "+strings.Split(u, ":")[0])
		}
		require.True(t, created, "the user is created with that uid")
	})
	t.Run("health check", func(t *testing.T) {
		hc := cmds(1, "healthcheck")
		require.Len(t, hc, 1)
		require.Contains(t, hc[0], "http://127.0.0.1:9465/readyz")
		require.Contains(t, hc[0], "--start-period=20m", "the doppelganger wait after a start is not unhealthy")
		var hasCurl bool
		for _, c := range cmds(1, "run") {
			hasCurl = hasCurl || strings.Contains(c, "apt-get install") && strings.Contains(c, " curl")
		}
		require.True(t, hasCurl, "the health check's curl is installed in the runtime image")
	})
}

// TestDockerfileBuildKit parses the Dockerfile with BuildKit, the parser of
// `docker build`, and runs its lint rules (those of `docker build --check`)
// through vigil-lint; BuildKit must read the same stages and instructions as
// parseDockerfile.
func TestDockerfileBuildKit(t *testing.T) {
	r := runLint(t, nil, "dockerfile", dockerfile)
	require.Empty(t, r.Errors)
	require.Empty(t, r.Warnings, "BuildKit lint warnings")
	ours := parseDockerfile(t, dockerfile)
	require.Len(t, r.Stages, len(ours))
	for i, s := range r.Stages {
		require.Equal(t, ours[i].Name, s.Name)
		require.Equal(t, ours[i].Base, s.Base)
		require.Len(t, s.Commands, len(ours[i].Commands), "stage %d", i)
		for j, c := range s.Commands {
			require.Equal(t, ours[i].Commands[j].Cmd, c.Cmd)
			require.Equal(t, strings.Fields(ours[i].Commands[j].Text), strings.Fields(c.Text), "stage %d, instruction %d", i, j)
		}
	}
}

// TestDockerfileLintCatches checks that the linter reports what it should,
// so that an empty report above means something.
func TestDockerfileLintCatches(t *testing.T) {
	b, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	tests := []struct {
		name, old, new string
		warning, error string
	}{
		{name: "casing", old: " AS build", new: " as build", warning: "FromAsCasing"},
		{name: "unknown instruction", old: "EXPOSE 9465", new: "EXPOZE 9465", error: "unknown instruction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := string(b)
			require.Contains(t, s, tt.old)
			p := filepath.Join(t.TempDir(), "Dockerfile")
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(s, tt.old, tt.new, 1)), 0o600))
			r := runLint(t, nil, "dockerfile", p)
			if tt.warning != "" {
				require.Len(t, r.Warnings, 1)
				require.Contains(t, r.Warnings[0], tt.warning)
			}
			if tt.error != "" {
				require.Len(t, r.Errors, 1)
				require.Contains(t, r.Errors[0], tt.error)
			}
		})
	}
}

// TestDockerignore checks that the build context keeps every file `go build
// ./cmd/vigil` reads (so the image builds) and drops the checkout's secrets,
// state and history.
func TestDockerignore(t *testing.T) {
	goBin := lookTool(t, "", "go", "install Go")
	cmd := exec.Command(goBin, "list", "-deps", "-json", "./cmd/vigil")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	require.NoError(t, err)
	abs, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			Dir    string
			Module *struct{ Main bool }
			Files  []string `json:"GoFiles"`
			Cgo    []string `json:"CgoFiles"`
			C      []string `json:"CFiles"`
			H      []string `json:"HFiles"`
			S      []string `json:"SFiles"`
			Embed  []string `json:"EmbedFiles"`
			Syso   []string `json:"SysoFiles"`
		}
		require.NoError(t, dec.Decode(&p))
		if p.Module == nil || !p.Module.Main {
			continue
		}
		rel, err := filepath.Rel(abs, p.Dir)
		require.NoError(t, err)
		for _, list := range [][]string{p.Files, p.Cgo, p.C, p.H, p.S, p.Embed, p.Syso} {
			for _, f := range list {
				needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	require.Greater(t, len(needed), 20)

	r := runLint(t, nil, append([]string{"dockerignore", dockerignore}, needed...)...)
	require.Empty(t, r.Errors)
	require.Empty(t, r.Excluded, "files the build needs are excluded from the Docker build context")

	secrets := []string{
		".git/config", ".vigil-demo/keys/validators/0xab/voting-keystore.json", "keys/keystore-m_12381_3600_0_0_0.json",
		"secrets/0xab", "slashing.db", "slashing.db-wal", "vault-ca.pem", "client.key", ".env", "vigil.env",
		"bin/vigil", "vigil",
	}
	r = runLint(t, nil, append([]string{"dockerignore", dockerignore}, secrets...)...)
	require.ElementsMatch(t, secrets, r.Excluded, "kept out of the build context")
}
