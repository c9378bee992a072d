// Command vault is HashiCorp Vault built from its Go module, so that vigil's
// integration tests can run a real dev server without downloading a binary.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
