package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxSecretFileBytes bounds a secret file: a password or key is a few
// hundred bytes, so a larger file is the wrong file.
const MaxSecretFileBytes = 64 << 10

// ReadSecretFile reads a credential (a password) from a file, the way
// secrets are mounted by Kubernetes, Docker or systemd credentials. Leading
// and trailing white space is dropped (such files are usually written with
// echo). It fails when the file cannot be read, is empty or is larger than
// MaxSecretFileBytes; errors name the file, never its content.
//
// Components read the file each time they authenticate rather than once at
// start, so a rotated secret is picked up by the next connection.
func ReadSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("secret file %s: %w", path, err)
	}
	if len(b) > MaxSecretFileBytes {
		return "", fmt.Errorf("secret file %s: larger than %d bytes, not a credential", path, MaxSecretFileBytes)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", errors.New("secret file " + path + ": empty")
	}
	return v, nil
}
