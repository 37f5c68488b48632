package sshkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// KeyPair is a private key and its public half.
type KeyPair struct {
	PEM     []byte // OpenSSH private key file content
	Public  ssh.PublicKey
	Comment string
}

// ReadKeyPair reads an unencrypted private key file.
func ReadKeyPair(file string) (*KeyPair, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read SSH key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("SSH key %s has a passphrase: rotate-keys writes an unencrypted ed25519 key in its place, so rotate a passphrase-protected key by hand (ssh-keygen), or remove its passphrase first", file)
	}
	if err != nil {
		return nil, fmt.Errorf("SSH key %s: %w", file, err)
	}
	return &KeyPair{PEM: data, Public: signer.PublicKey()}, nil
}

// NewKeyPair generates an ed25519 key.
func NewKeyPair(comment string) (*KeyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return &KeyPair{PEM: pem.EncodeToMemory(block), Public: sp, Comment: comment}, nil
}

// Fingerprint is the SHA256 fingerprint ssh-keygen -l prints.
func (k *KeyPair) Fingerprint() string { return ssh.FingerprintSHA256(k.Public) }

// Blob is the base64 key field of an authorized_keys line.
func (k *KeyPair) Blob() string { return base64.StdEncoding.EncodeToString(k.Public.Marshal()) }

// AuthorizedLine is the key as one authorized_keys line.
func (k *KeyPair) AuthorizedLine() string {
	line := k.Public.Type() + " " + k.Blob()
	if k.Comment != "" {
		line += " " + k.Comment
	}
	return line
}

// WriteFiles writes the private key to path (0600) and the public one to
// path.pub, each through a temporary file renamed into place.
func (k *KeyPair) WriteFiles(path string) error {
	if err := writeFile(path, k.PEM); err != nil {
		return err
	}
	return writeFile(path+".pub", []byte(k.AuthorizedLine()+"\n"))
}

func writeFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err = f.Chmod(0o600); err == nil {
		_, err = f.Write(data)
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func removeFiles(path string) {
	os.Remove(path)
	os.Remove(path + ".pub")
}

// backupStamp names backups: FILE.bak-<UTC time>, sorting by age.
const backupStamp = "20060102T150405Z"

// install keeps the old key as FILE.bak-STAMP (and .pub), renames the
// staged new key over FILE, and prunes backups beyond keep (oldest first).
func install(file, staged string, old, next *KeyPair, now time.Time, keep int) (string, []string, error) {
	backup := file + ".bak-" + now.UTC().Format(backupStamp)
	if err := writeFile(backup, old.PEM); err != nil {
		return "", nil, err
	}
	if err := writeFile(backup+".pub", []byte(old.AuthorizedLine()+"\n")); err != nil {
		return "", nil, err
	}
	if err := os.Rename(staged, file); err != nil {
		return "", nil, err
	}
	if err := os.Rename(staged+".pub", file+".pub"); err != nil {
		return backup, nil, err
	}
	return backup, pruneBackups(file, keep), nil
}

// Backups lists FILE's backups, newest first.
func Backups(file string) []string {
	matches, _ := filepath.Glob(file + ".bak-*")
	var out []string
	for _, m := range matches {
		if !strings.HasSuffix(m, ".pub") {
			out = append(out, m)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

func pruneBackups(file string, keep int) []string {
	var pruned []string
	for i, b := range Backups(file) {
		if i >= max(keep, 0) {
			removeFiles(b)
			pruned = append(pruned, b)
		}
	}
	return pruned
}
