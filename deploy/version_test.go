package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// versionScript computes the version of every build (the Makefile's
// VERSION).
const versionScript = "version.sh"

// gitRepo is a scratch repository, isolated from the user's and the
// system's git configuration.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed to test %s: %v; apt-get install git", versionScript, err)
	}
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.write("f", "1")
	r.git("add", "f")
	r.git("commit", "-q", "-m", "first")
	return r
}

func gitEnv(dir string) []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir}, args...)...)
	cmd.Env = gitEnv(r.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *gitRepo) write(name, content string) {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *gitRepo) commit(msg string) {
	r.t.Helper()
	r.git("commit", "-q", "--allow-empty", "-m", msg)
}

func (r *gitRepo) sha() string { return r.git("rev-parse", "--short=7", "HEAD") }

// version runs version.sh on dir, failing t if it fails.
func version(t *testing.T, dir string) string {
	t.Helper()
	out, stderr, err := runVersion(dir)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", versionScript, dir, err, stderr)
	}
	return out
}

func runVersion(dir string) (stdout, stderr string, err error) {
	script, err := filepath.Abs(versionScript)
	if err != nil {
		return "", "", err
	}
	cmd := exec.Command(script, dir)
	cmd.Env = gitEnv(dir)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return strings.TrimSpace(o.String()), e.String(), err
}

// TestVersionFromGit walks a repository through the states a checkout goes
// through and checks the version of each: commits without a tag, a dirty
// tree, a release tag, commits after it, a dirty tree on the tag, a
// pre-release tag and what follows it.
func TestVersionFromGit(t *testing.T) {
	r := newGitRepo(t)
	check := func(what, want string) {
		t.Helper()
		if got := version(t, r.dir); got != want {
			t.Errorf("%s: version %q, want %q", what, got, want)
		}
	}

	check("one commit, no tag", "0.0.0-dev.1+g"+r.sha())
	r.commit("second")
	check("two commits, no tag", "0.0.0-dev.2+g"+r.sha())
	r.write("f", "changed")
	check("a tracked file changed", "0.0.0-dev.2+g"+r.sha()+".dirty")
	r.git("commit", "-q", "-am", "third")
	r.write("untracked", "x")
	check("an untracked file", "0.0.0-dev.3+g"+r.sha())

	r.git("tag", "not-a-version")
	r.git("tag", "v1.2")
	check("tags that are no vX.Y.Z", "0.0.0-dev.3+g"+r.sha())

	r.git("tag", "-a", "-m", "release", "v0.3.9")
	check("on an annotated tag", "0.3.9")
	r.write("f", "changed again")
	check("on a tag, dirty", "0.3.10-dev.0+g"+r.sha()+".dirty")
	r.git("commit", "-q", "-am", "fourth")
	r.commit("fifth")
	check("two commits after the tag", "0.3.10-dev.2+g"+r.sha())

	r.git("tag", "v1.0.0-rc.1")
	check("on a lightweight pre-release tag", "1.0.0-rc.1")
	r.commit("sixth")
	check("after a pre-release tag", "1.0.0-rc.1.dev.1+g"+r.sha())

	r.git("tag", "v01.0.0")
	if out, stderr, err := runVersion(r.dir); err == nil || !strings.Contains(stderr, "v01.0.0") {
		t.Errorf("a tag with a leading zero: version %q, error %v, stderr %q; want a failure that names the tag", out, err, stderr)
	}
}

// TestVersionWithoutGit checks the fallback of a directory that is no git
// checkout (a source tarball).
func TestVersionWithoutGit(t *testing.T) {
	if got, want := version(t, t.TempDir()), "0.0.0-dev+unknown"; got != want {
		t.Errorf("outside a checkout: version %q, want %q", got, want)
	}
}

// semverRE is the grammar of semver 2.0.0, which nfpm parses the version
// with.
var semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// TestVersionsSort checks what version.sh promises about order: a
// development build sorts after the release it follows and before the next
// one, and later development builds after earlier ones, as semver, dpkg and
// rpm compare them (nfpm writes X.Y.Z-P+M as X.Y.Z~P+M for both package
// formats, which order "~" before anything, end of string included).
func TestVersionsSort(t *testing.T) {
	ascending := []string{
		"0.0.0-dev.3+gaaaaaaa",
		"0.0.0-dev.12+gbbbbbbb",
		"0.3.9",
		"0.3.10-dev.0+gccccccc.dirty",
		"0.3.10-dev.2+gddddddd",
		"0.3.10",
		"1.0.0-rc.1",
		"1.0.0-rc.1.dev.1+geeeeeee",
		"1.0.0",
	}
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Fatalf("dpkg is needed to compare package versions: %v", err)
	}
	for i, v := range ascending {
		if !semverRE.MatchString(v) {
			t.Errorf("%q is not semver", v)
		}
		if i == 0 {
			continue
		}
		prev := ascending[i-1]
		if semver.Compare("v"+prev, "v"+v) >= 0 {
			t.Errorf("semver: %s does not sort before %s", prev, v)
		}
		deb := func(s string) string { return strings.Replace(s, "-", "~", 1) + "-1" }
		if err := exec.Command(dpkg, "--compare-versions", deb(prev), "lt", deb(v)).Run(); err != nil {
			t.Errorf("dpkg: %s does not sort before %s (%v)", deb(prev), deb(v), err)
		}
	}
}

// TestVersionOfThisCheckout checks that this checkout's version is one of
// the forms above, so that nfpm, dpkg and rpm take it.
func TestVersionOfThisCheckout(t *testing.T) {
	v := version(t, "..")
	if !semverRE.MatchString(v) {
		t.Errorf("this checkout's version %q is not semver", v)
	}
	t.Logf("version of this checkout: %s", v)
}
