// composecheck loads a Compose file with compose-go, the loader Docker Compose
// itself uses: schema validation, interpolation, merge keys, profiles and the
// semantic checks `docker compose config` makes (undefined services, volumes,
// networks in depends_on, mounts...). It prints the resolved project as JSON.
// Built by scripts/setup_validators.sh; used by tests/deploy/test_compose.py.
//
// Usage: composecheck FILE [PROFILE,PROFILE...]
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck FILE [PROFILE,PROFILE...]")
		os.Exit(2)
	}
	var profiles []string
	if len(os.Args) > 2 && os.Args[2] != "" {
		profiles = strings.Split(os.Args[2], ",")
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv, cli.WithProfiles(profiles))
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(out)
}
